"""EnCodec baseline: loads a state dict with the official key names (a randomly initialised
`EncodecModel.encodec_model_24khz`, saved like the released .th file), and fails with a reason,
fast and without network, when the weights are absent, corrupt or of the wrong model."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from dscodec.errors import AudioError, ConfigError
from dscodec.evaluate.baselines import BaselineUnavailable, build_baseline
from dscodec.evaluate.baselines import encodec_codec
from dscodec.evaluate.baselines.encodec_codec import CHECKPOINT_NAME, EncodecBaseline

SR = 16000


@pytest.fixture(scope="module")
def official_state() -> dict[str, torch.Tensor]:
    from encodec import EncodecModel

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = EncodecModel.encodec_model_24khz(pretrained=False)
    # perturb every tensor so that "loaded" can be told apart from "freshly initialised"
    return {k: (v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v) for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, official_state: dict[str, torch.Tensor]) -> Path:
    path = tmp_path_factory.mktemp("encodec") / "my_encodec_24khz.th"  # no hash in the name: not verified
    torch.save(official_state, path)
    return path


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty torch hub cache, an unreachable host, and a download that must never be tried."""
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))

    def unreachable(url: str, timeout: float = 0) -> None:
        raise OSError("[Errno 101] Network is unreachable")

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("download attempted although the host is unreachable")

    monkeypatch.setattr(encodec_codec, "probe", unreachable)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    return hub


@pytest.mark.parametrize("bandwidth,nq", [(1.5, 2), (6.0, 8)])
def test_loads_official_keys_and_reconstructs_16k(checkpoint: Path, official_state: dict[str, torch.Tensor],
                                                  bandwidth: float, nq: int) -> None:
    torch.set_num_threads(1)
    codec = EncodecBaseline(f"encodec_{bandwidth}", {"kind": "encodec", "bandwidth": bandwidth,
                                                     "checkpoint": str(checkpoint)}, "unused-cache")
    codec.load()
    assert codec.checkpoint_path == checkpoint
    loaded = codec.model.state_dict()
    for key in ("encoder.model.0.conv.conv.weight_v", "quantizer.vq.layers.0._codebook.embed",
                "decoder.model.15.conv.conv.bias"):
        assert torch.equal(loaded[key], official_state[key]), key
    t = np.arange(SR) / SR
    wav = (0.3 * np.sin(2 * np.pi * 220 * t) * np.hanning(SR)).astype(np.float32)
    out = codec.reconstruct(wav)
    assert out.dtype == np.float32 and out.shape == (SR,) and np.isfinite(out).all()
    # the package picks the number of codebooks from the bandwidth: Table 1's Nq
    with torch.inference_mode():
        codes = codec.model.encode(torch.zeros(1, 1, 24000))[0][0]
    assert codes.shape[:2] == (1, nq)
    info = codec.info
    assert (info.label, info.bitrate_kbps, info.n_codebooks, info.tokens_per_second, info.native_sample_rate) == \
        (f"EnCodec ({bandwidth:g} kbps)", bandwidth, nq, 75.0 * nq, 24000)


def test_absent_and_offline_is_unavailable_fast(offline: Path, tmp_path: Path) -> None:
    codec = build_baseline("encodec_6kbps", {"kind": "encodec", "bandwidth": 6.0, "checkpoint": None},
                           tmp_path / "cache")
    with pytest.raises(BaselineUnavailable) as err:
        codec.load()
    message = str(err.value)
    assert CHECKPOINT_NAME in message and "unreachable" in message and "Network is unreachable" in message
    assert str(tmp_path / "cache") in message and str(offline / "checkpoints") in message


def test_configured_path_missing_is_unavailable(offline: Path, tmp_path: Path) -> None:
    codec = EncodecBaseline("encodec_6kbps", {"bandwidth": 6.0, "checkpoint": str(tmp_path / "nope.th")}, tmp_path)
    with pytest.raises(BaselineUnavailable, match=r"nope\.th .*does not exist"):
        codec.load()


def test_corrupt_cached_download_fails_checksum(offline: Path, tmp_path: Path) -> None:
    cached = offline / "checkpoints" / CHECKPOINT_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated download")
    codec = EncodecBaseline("encodec_6kbps", {"bandwidth": 6.0}, tmp_path / "cache")
    with pytest.raises(BaselineUnavailable, match=r"sha256 .* does not match the expected d7cc33bc"):
        codec.load()


def test_hashed_configured_name_is_verified(tmp_path: Path) -> None:
    path = tmp_path / "encodec_24khz-d7cc33bc.th"
    path.write_bytes(b"not the released file")
    codec = EncodecBaseline("encodec_6kbps", {"bandwidth": 6.0, "checkpoint": str(path)}, tmp_path)
    with pytest.raises(BaselineUnavailable, match="corrupt or incomplete"):
        codec.load()


def test_download_goes_to_cache_dir_with_hash_check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    checkpoint: Path) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(encodec_codec, "probe", lambda url, timeout=0: None)
    calls = []

    def fake_download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        calls.append((url, dst, hash_prefix))
        Path(dst).write_bytes(checkpoint.read_bytes())

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    codec = EncodecBaseline("encodec_1.5kbps", {"bandwidth": 1.5}, tmp_path / "cache")
    codec.load()
    target = tmp_path / "cache" / CHECKPOINT_NAME
    assert calls == [(encodec_codec.CHECKPOINT_URL, str(target), "d7cc33bc")]
    assert codec.checkpoint_path == target


@pytest.mark.parametrize("content", [b"\x00garbage, not a torch file", None])
def test_corrupt_or_foreign_checkpoint_is_a_clear_error(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "weights.th"
    if content is None:
        torch.save({"encoder.weight": torch.zeros(3)}, path)  # readable, but not EnCodec
        expected = "not an EnCodec 24 kHz state dict"
    else:
        path.write_bytes(content)
        expected = "not a readable EnCodec checkpoint"
    codec = EncodecBaseline("encodec_6kbps", {"bandwidth": 6.0, "checkpoint": str(path)}, tmp_path)
    with pytest.raises(BaselineUnavailable, match=expected) as err:
        codec.load()
    assert str(path) in str(err.value)


def test_bad_bandwidth_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"evaluation\.baselines\.enc\.bandwidth"):
        EncodecBaseline("enc", {"kind": "encodec", "bandwidth": 2.0}, "unused")


def test_missing_package_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "encodec", None)
    with pytest.raises(BaselineUnavailable, match="pip install encodec"):
        EncodecBaseline("enc", {"bandwidth": 6.0}, tmp_path).load()


def test_bad_waveform_is_an_audio_error(checkpoint: Path) -> None:
    codec = EncodecBaseline("enc", {"bandwidth": 1.5, "checkpoint": str(checkpoint)}, "unused")
    codec.load()
    with pytest.raises(AudioError):
        codec.reconstruct(np.zeros((2, 10), np.float32))
