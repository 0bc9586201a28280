"""The inverse-STFT decoder head (`model.overrides.decoder_head: istft`, an option of the CPU sizes):
its hand-written inverse STFT against torch.istft, chunked decoding, the architecture switch,
ONNX export and config validation."""
from __future__ import annotations

import pytest
import torch

from dscodec.cli import main
from dscodec.codec_api import DSCodec
from dscodec.errors import ConfigError
from dscodec.models import CodecModel, get_size
from dscodec.models.checkpoint import save_checkpoint_for_inference
from dscodec.models.streaming import decode_latents
from dscodec.nn.istft import ISTFTHead

ISTFT = {"decoder_head": "istft", "istft_dim": 24, "istft_blocks": 2}


@pytest.mark.parametrize(("hop", "frames"), [(200, 1), (200, 37), (8, 5)])
def test_head_equals_torch_istft(hop, frames):
    torch.manual_seed(0)
    head = ISTFTHead(dim=12, hop=hop).double()  # its DFT basis was rounded to float32 when built
    x = torch.randn(2, 12, frames, dtype=torch.float64)
    with torch.no_grad():
        log_mag, phase = head.proj(x.transpose(1, 2)).chunk(2, dim=-1)
    spec = (torch.exp(log_mag).clamp(max=1e2) * torch.exp(1j * phase)).transpose(1, 2)  # [B, bins, F]
    window = torch.hann_window(head.n_fft, periodic=True, dtype=torch.float64)
    expected = torch.istft(spec, head.n_fft, hop, window=window, center=True, length=frames * hop)
    with torch.no_grad():
        got = head(x)
    assert got.shape == (2, 1, frames * hop)
    assert torch.allclose(got[:, 0], expected, rtol=0, atol=1e-6 * float(expected.abs().max()))


def _istft_model(decoder: str = "mirror") -> CodecModel:
    torch.manual_seed(0)
    return CodecModel(get_size("tiny", ISTFT), "vq", decoder).double().eval()


def test_istft_decoder_has_no_high_rate_layers_and_decodes_at_the_hop():
    model = _istft_model()
    assert not any(isinstance(m, torch.nn.ConvTranspose1d) for m in model.decoder.modules())
    z = torch.randn(1, model.size.latent_dim, 23, dtype=torch.float64)
    with torch.no_grad():
        assert model.decoder(z).shape == (1, 1, 23 * model.hop_length)


@pytest.mark.parametrize("chunk", [1, 7])
def test_istft_decoder_chunked_equals_one_pass(chunk):
    model = _istft_model()
    z = torch.randn(1, model.size.latent_dim, 50, dtype=torch.float64)
    with torch.no_grad():
        y = model.decoder(z)
        y_chunked = torch.cat(list(decode_latents(model.decoder, z, chunk)), -1)
        model.decoder.post_context_frames = 1  # too little context: the equality above is not vacuous
        y_seams = torch.cat(list(decode_latents(model.decoder, z, 7)), -1)
    assert y.abs().max() > 1e-4
    assert torch.allclose(y_chunked, y, rtol=0, atol=1e-9 * float(y.abs().max()))
    assert not torch.allclose(y_seams, y, rtol=0, atol=1e-6 * float(y.abs().max()))


def test_switch_to_nonmirror_keeps_the_istft_output():
    model = _istft_model("mirror")
    wav = torch.randn(1, 1, 200 * 12, dtype=torch.float64) * 0.1
    with torch.no_grad():
        assert torch.allclose(model.to_nonmirror()(wav).recon, model(wav).recon, atol=1e-12)


def test_istft_model_exports_to_onnx(tmp_path):
    torch.manual_seed(0)
    model = CodecModel(get_size("tiny", ISTFT), "vq", "transformer")
    ckpt = save_checkpoint_for_inference(model, tmp_path / "ckpt.pt", step=0)
    assert main(["export", str(ckpt), "--format", "onnx", "-o", str(tmp_path / "onnx")]) == 0
    reference = DSCodec.from_checkpoint(ckpt)
    onnx_codec = DSCodec.from_checkpoint(tmp_path / "onnx", backend="onnx", threads=1)
    t = torch.arange(int(16000 * 0.9)) / 16000
    wav = 0.3 * torch.sin(2 * torch.pi * 180 * t)
    tokens = reference.encode(wav, 16000)
    assert torch.equal(onnx_codec.encode(wav, 16000), tokens)
    assert (onnx_codec.decode(tokens) - reference.decode(tokens)).abs().max() <= 1e-4


@pytest.mark.parametrize("bad", [{"decoder_head": "vocoder"}, {"istft_dim": 0}])
def test_bad_head_settings_fail_at_load(bad):
    with pytest.raises(ConfigError, match="decoder_head|istft_dim"):
        get_size("small", bad)


def test_gradients_are_finite():
    """The window envelope is 0 at the outer edges of the overlap-add; those samples are cropped and
    must not turn the gradient into NaN (they did when the division came before the crop)."""
    torch.manual_seed(0)
    head = ISTFTHead(dim=12, hop=200)
    x = torch.randn(2, 12, 9, requires_grad=True)
    head(x).pow(2).mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().max() > 0
    assert all(torch.isfinite(p.grad).all() for p in head.parameters())
