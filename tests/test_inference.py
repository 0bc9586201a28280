"""Inference paths against the training-time model: folded weight norm, ONNX export and backend.

Stated tolerances (float32, tiny model, 2 s of noise): tokens equal; audio max abs error
<= 1e-5 (full scale 1.0) for the folded PyTorch model and <= 1e-4 for onnxruntime.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dscodec.cli import main
from dscodec.codec_api import DSCodec
from dscodec.models import CodecModel, get_size
from dscodec.models.checkpoint import load_codec, save_checkpoint_for_inference
from dscodec.models.inference import fold_weight_norm, inference_copy, is_folded

FOLD_ATOL = 1e-5
ONNX_ATOL = 1e-4


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """Tiny VQ model with a non-identity transformer (random weights on its zero-initialised outputs)."""
    torch.manual_seed(0)
    model = CodecModel(get_size("tiny"), "vq", "transformer")
    with torch.no_grad():
        for p in model.decoder.transformer.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return save_checkpoint_for_inference(model, tmp_path_factory.mktemp("ckpt") / "ckpt.pt", step=0)


@pytest.fixture(scope="module")
def onnx_dir(ckpt, tmp_path_factory):
    """`dscodec export` run once for the module (tracing is the slow part)."""
    out = tmp_path_factory.mktemp("export") / "onnx"
    assert main(["export", str(ckpt), "--format", "onnx", "-o", str(out)]) == 0
    return out


def _audio(seconds: float = 2.0, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(16000 * seconds)) / 16000
    return (0.3 * torch.sin(2 * torch.pi * 180 * t) + 0.05 * torch.randn(t.shape, generator=g)).float()


def test_folding_keeps_outputs_within_tolerance(ckpt):
    trained = DSCodec(load_codec(ckpt), fold_weight_norm=False)
    folded = DSCodec.from_checkpoint(ckpt)
    assert is_folded(folded.model) and not is_folded(trained.model)
    wav = _audio()
    tokens = trained.encode(wav, 16000)
    assert torch.equal(folded.encode(wav, 16000), tokens)
    err = (folded.decode(tokens) - trained.decode(tokens)).abs().max().item()
    assert 0 <= err <= FOLD_ATOL
    # identity and reported size are the training-time model's
    assert folded.fingerprint == trained.fingerprint
    assert folded.num_parameters == trained.num_parameters


def test_fold_stores_the_weight_norm_value_as_a_plain_parameter(ckpt):
    model = load_codec(ckpt)
    conv = model.decoder.stem
    expected = conv.weight.detach().clone()  # g * v / |v|, recomputed on every access until folded
    assert fold_weight_norm(model.decoder) > 10 and fold_weight_norm(model.decoder) == 0
    assert not hasattr(conv, "parametrizations") and isinstance(conv.weight, torch.nn.Parameter)
    assert torch.equal(conv.weight, expected)


def test_inference_copy_leaves_the_original_trainable(ckpt):
    model = load_codec(ckpt)
    copy = inference_copy(model)
    assert is_folded(copy) and not is_folded(model)
    x = torch.randn(1, 1, 200 * 4)
    with torch.no_grad():
        assert torch.allclose(model.encoder(x), copy.encoder(x), atol=1e-5)  # original still runs


def test_onnx_export_matches_pytorch(ckpt, onnx_dir):
    out = onnx_dir
    meta = json.loads((out / "codec.json").read_text())
    reference = DSCodec.from_checkpoint(ckpt)
    assert (meta["sample_rate"], meta["hop_length"], meta["codebook_size"]) == (16000, 200, 64)
    assert meta["fingerprint"] == reference.fingerprint.hex() and meta["quantizer"] == "vq"

    import onnxruntime as ort

    enc = ort.InferenceSession(str(out / "encoder.onnx"), providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(out / "decoder.onnx"), providers=["CPUExecutionProvider"])
    # lengths other than the traced one (dynamic axes), a batch of two, and a clip shorter than the window
    for frames, batch in ((37, 2), (250, 1), (3, 1)):
        wav = torch.stack([_audio(frames * 200 / 16000, seed=i) for i in range(batch)])[:, None]
        tokens = reference.encode(wav, 16000)
        onnx_tokens = enc.run(None, {"audio": wav.numpy()})[0]
        assert onnx_tokens.shape == (batch, frames) and np.array_equal(onnx_tokens, tokens.numpy())
        audio = dec.run(None, {"codes": tokens.numpy()})[0]
        expected = reference.decode(tokens).numpy()
        assert audio.shape == expected.shape == (batch, 1, frames * 200)
        assert np.abs(audio - expected).max() <= ONNX_ATOL

    onnx_codec = DSCodec.from_checkpoint(out, backend="onnx", threads=1)
    assert onnx_codec.backend == "onnx" and onnx_codec.fingerprint == reference.fingerprint
    wav = _audio(1.3)
    tokens = reference.encode(wav, 16000)
    assert torch.equal(onnx_codec.encode(wav, 16000), tokens)
    assert (onnx_codec.decode(tokens, length=wav.numel()) - reference.decode(tokens, length=wav.numel())).abs().max() <= ONNX_ATOL


def test_onnx_backend_refuses_a_folder_without_export(tmp_path):
    from dscodec.errors import DSCodecError

    with pytest.raises(DSCodecError, match="dscodec export"):
        DSCodec.from_checkpoint(tmp_path, backend="onnx")


def test_cli_onnx_backend_writes_the_same_bitstream(ckpt, onnx_dir, tmp_path, capsys):
    import soundfile as sf

    from dscodec import bitstream

    out = onnx_dir
    src = tmp_path / "in.wav"
    sf.write(src, _audio(0.7).numpy(), 16000)
    assert main(["encode", str(src), str(tmp_path / "t.dsc"), "--checkpoint", str(ckpt)]) == 0
    assert main(["encode", str(src), str(tmp_path / "o.dsc"), "--checkpoint", str(out), "--backend", "onnx"]) == 0
    torch_stream, onnx_stream = bitstream.read(tmp_path / "t.dsc"), bitstream.read(tmp_path / "o.dsc")
    assert torch.equal(torch_stream.tokens, onnx_stream.tokens) and torch_stream.fingerprint == onnx_stream.fingerprint
    # the ONNX backend's bitstream decodes with the PyTorch checkpoint (same model identity)
    assert main(["decode", str(tmp_path / "o.dsc"), str(tmp_path / "o.wav"), "--checkpoint", str(ckpt)]) == 0
    assert main(["export", str(tmp_path / "missing.pt")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_onnx_export_with_anti_aliased_activations(tmp_path):
    """BigCodec's anti-aliased SnakeBeta (on at `paper` size) exports too: its depthwise filters
    have a static shape (a dynamic channel count made the exporter refuse the conv)."""
    torch.manual_seed(0)
    model = CodecModel(get_size("tiny", {"anti_aliased_activations": True}), "vq", "mirror")
    ckpt_path = save_checkpoint_for_inference(model, tmp_path / "ckpt.pt", step=0)
    out = tmp_path / "onnx"
    assert main(["export", str(ckpt_path), "--format", "onnx", "-o", str(out)]) == 0
    reference = DSCodec.from_checkpoint(ckpt_path)
    onnx_codec = DSCodec.from_checkpoint(out, backend="onnx", threads=1)
    wav = _audio(0.9)
    tokens = reference.encode(wav, 16000)
    assert torch.equal(onnx_codec.encode(wav, 16000), tokens)
    assert (onnx_codec.decode(tokens) - reference.decode(tokens)).abs().max() <= ONNX_ATOL
