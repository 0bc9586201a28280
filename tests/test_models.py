"""Codec model: sizes, token rate, gradients, the mirror -> non-mirror switch, discriminators, losses."""
from __future__ import annotations

import pytest
import torch

from dscodec.errors import ConfigError
from dscodec.losses import (
    MelReconstructionLoss,
    VQLossWeights,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from dscodec.models import PRESETS, CodecModel, get_size
from dscodec.models.discriminator_sizes import DISCRIMINATOR_PRESETS, get_discriminator_size
from dscodec.models.discriminators import Discriminators
from dscodec.models.sizes import ModelSize
from dscodec.nn import SnakeBeta
from dscodec.nn.antialias import AntiAliasedSnakeBeta

STATS = {"commit_loss", "codebook_loss", "quant_mse", "perplexity", "usage"}


@pytest.fixture(scope="module")
def tiny():
    return get_size("tiny")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_size_has_hop_200_and_80_tokens_per_second(name):
    size = get_size(name)
    assert size.hop_length == 200 and size.frame_rate == 80.0
    assert size.strides == (2, 2, 2, 5, 5)


@pytest.mark.parametrize("name", ["tiny", "small"])
@pytest.mark.parametrize("quantizer", ["vq", "pq"])
def test_shapes_and_stats(name, quantizer):
    torch.manual_seed(0)
    model = CodecModel(get_size(name), quantizer, "mirror")
    wav = torch.randn(2, 1, 200 * 12) * 0.1
    out = model(wav)
    assert out.recon.shape == wav.shape
    assert out.codes.shape == (2, 12) and out.codes.dtype == torch.long
    assert 0 <= int(out.codes.min()) and int(out.codes.max()) < model.codebook_size
    assert STATS <= set(out.stats) and all(v.dim() == 0 for v in out.stats.values())
    # raw losses, one per codebook: the VQ's one, the PQ's 4 groups
    assert out.commit_loss.shape == out.codebook_loss.shape == (() if quantizer == "vq" else (4,))
    assert torch.equal(model.encode(wav), out.codes)
    assert model.decode(out.codes).shape == wav.shape


def test_paper_size_matches_bigcodec_dimensions():
    size = get_size("paper")
    assert size.encoder_channels == [48, 96, 192, 384, 768, 1536]
    model = CodecModel(size, "vq", "mirror")
    assert model.codebook_size == 8192 and model.quantizer.codebook_dim == 8
    assert CodecModel(size, "pq", "mirror").codebook_size == 16**4
    counts = model.num_parameters()
    assert 150e6 < counts["total"] < 170e6  # BigCodec reports ~159 M parameters
    # BigCodec's 72 activations are all anti-aliased, so are ours at this size (not at small/tiny)
    activations = [m for m in model.modules() if isinstance(m, SnakeBeta)]
    assert len(activations) == 72 and all(isinstance(m, AntiAliasedSnakeBeta) for m in activations)
    assert not get_size("small").anti_aliased_activations and not get_size("tiny").anti_aliased_activations
    with torch.no_grad():
        codes = model.encode(torch.zeros(1, 1, 400))
    assert codes.shape == (1, 2)


def test_decoder_channels_widen_the_decoder_only():
    """`decoder_channels` (CPU sizes, [ours]): unset, the decoder mirrors the encoder (the paper); set, only
    the decoder's high-rate blocks widen, and the model still maps a waveform to one of the same length."""
    small = get_size("small")
    assert small.decoder_channels_list == small.encoder_channels[::-1] == [128, 128, 64, 32, 16, 8]
    wide = get_size("tiny", {"decoder_channels": 8})
    assert wide.encoder_channels == get_size("tiny").encoder_channels
    assert wide.decoder_channels_list == [16, 16, 16, 16, 16, 8]          # max_channels 16 caps the doubling
    model = CodecModel(wide, "vq", "mirror")
    assert model.decoder.post[-2].weight.shape[1] == 8                       # the 16 kHz output conv reads 8 channels
    wav = torch.randn(1, 1, 800)
    with torch.no_grad():
        assert model.decode(model.encode(wav)).shape == wav.shape


def test_paper_size_discriminator_widths_are_bigcodecs():
    """BigCodec's MPD (config/model/default.yaml: channels 16, x4, max 512; module/mpd.py),
    not HiFi-GAN's 32 ... 1024; MS-STFT keeps EnCodec's 32 filters."""
    size = get_discriminator_size("paper")
    assert size.mpd_channels == (16, 64, 256, 512, 512) and size.stft_channels == 32
    mpd = Discriminators(size).mpd[0]
    assert [conv.out_channels for conv in mpd.convs] == [16, 64, 256, 512, 512]


def test_discriminator_widths_have_a_preset_per_model_size_and_validated_overrides():
    """The discriminators are training-only: their widths are not ModelSize fields, one preset per
    `model.size` with the values the sizes had before (issue 13), fields changed by name."""
    assert sorted(DISCRIMINATOR_PRESETS) == sorted(PRESETS)
    assert get_discriminator_size("small").mpd_channels == (8, 16, 32, 64, 64)
    assert get_discriminator_size("small").stft_channels == 8
    assert get_discriminator_size("tiny").mpd_channels == (4, 8, 8, 8, 8)
    assert get_discriminator_size("tiny").stft_channels == 4
    assert all(d.mpd_periods == (2, 3, 5, 7, 11) and d.stft_ffts == (2048, 1024, 512, 256, 128)
               for d in DISCRIMINATOR_PRESETS.values())
    assert get_discriminator_size("tiny", {"mpd_periods": [2, 3]}).mpd_periods == (2, 3)
    with pytest.raises(ConfigError, match="train.discriminator_overrides.bogus"):
        get_discriminator_size("tiny", {"bogus": 1})


def test_gradient_flows_through_straight_through_into_encoder(tiny):
    torch.manual_seed(0)
    model = CodecModel(tiny, "pq", "mirror")
    out = model(torch.randn(2, 1, 200 * 8) * 0.1)
    out.recon.pow(2).mean().backward()  # reconstruction only: must cross the quantizer
    stem = model.encoder.pre[0].parametrizations.weight.original1
    assert stem.grad is not None and stem.grad.abs().sum() > 0


def test_to_nonmirror_copies_weights_bit_identically_and_keeps_output(tiny):
    torch.manual_seed(0)
    mirror = CodecModel(tiny, "vq", "mirror")
    with torch.no_grad():  # make the stage-1 weights non-default
        for p in mirror.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    nonmirror = mirror.to_nonmirror()
    assert nonmirror.decoder.transformer is not None and mirror.decoder.transformer is None
    old, new = mirror.state_dict(), nonmirror.state_dict()
    for key, value in old.items():
        assert torch.equal(new[key], value), key
    assert {k for k in new if k not in old} == {k for k in new if k.startswith("decoder.transformer.")}
    wav = torch.randn(1, 1, 200 * 10) * 0.1
    mirror.eval(), nonmirror.eval()
    with torch.no_grad():
        assert torch.allclose(nonmirror(wav).recon, mirror(wav).recon, atol=1e-7)
    assert nonmirror.num_parameters()["transformer"] > 0
    with pytest.raises(ConfigError):
        nonmirror.to_nonmirror()


def test_transformer_decoder_from_scratch_apcodec_plus(tiny):
    torch.manual_seed(0)
    model = CodecModel(tiny, "pq", "transformer")
    out = model(torch.randn(2, 1, 200 * 12) * 0.1)
    (out.recon.pow(2).mean() + VQLossWeights()(out.commit_loss, out.codebook_loss)).backward()
    assert model.decoder.transformer.blocks[0].attn.out.weight.grad.abs().sum() > 0


def test_codec_config_round_trip(tiny):
    model = CodecModel(get_size("tiny", {"codebook_size": 32}), "pq", "transformer")
    import json

    config = json.loads(json.dumps(model.codec_config()))
    clone = CodecModel.from_codec_config(config)
    clone.load_state_dict(model.state_dict())
    assert clone.size == model.size and clone.quantizer_kind == "pq" and clone.decoder_kind == "transformer"


def test_size_overrides_validated():
    assert get_size("small", {"codebook_size": 8192}).codebook_size == 8192
    with pytest.raises(ConfigError, match="bogus"):
        get_size("small", {"bogus": 1})
    with pytest.raises(ConfigError, match="huge"):
        get_size("huge")


def test_discriminator_outputs():
    torch.manual_seed(0)
    disc = Discriminators(get_discriminator_size("tiny"))
    wav = torch.randn(2, 1, 4000) * 0.1
    outs = disc(wav)
    assert len(outs) == 5 + 5  # MPD periods 2,3,5,7,11 + MS-STFT 2048..128
    for (logits, fmaps), period in zip(outs[:5], (2, 3, 5, 7, 11)):
        assert logits.shape[0] == 2 and logits.shape[-1] == period and len(fmaps) == 6
    for (logits, fmaps), n_fft in zip(outs[5:], (2048, 1024, 512, 256, 128)):
        frames = (4000 - n_fft) // (n_fft // 4) + 1
        assert logits.shape[:3] == (2, 1, frames) and len(fmaps) == 6


def test_losses_behave():
    torch.manual_seed(0)
    disc = Discriminators(get_discriminator_size("tiny"))
    real = torch.randn(2, 1, 4000) * 0.1
    fake = (real + 0.05 * torch.randn_like(real)).requires_grad_()
    mel = MelReconstructionLoss(16000)
    assert mel(real, real).item() == 0.0 and mel(fake, real).item() > 0
    real_outs, fake_outs = disc(real), disc(fake)
    g = generator_adversarial_loss(fake_outs) + feature_matching_loss(real_outs, fake_outs)
    g.backward()
    assert fake.grad.abs().sum() > 0
    d = discriminator_loss(disc(real), disc(fake.detach()))
    assert d.dim() == 0 and d.item() > 0
    assert feature_matching_loss(real_outs, real_outs).item() == 0.0


def test_model_info_prints_parameter_counts(capsys):
    from dscodec.cli import main

    assert main(["model-info", "--size", "tiny", "--json"]) == 0
    import json

    info = json.loads(capsys.readouterr().out)[0]
    vq = info["quantizers"]["vq"]
    expected = CodecModel(get_size("tiny"), "vq", "transformer").num_parameters()
    assert vq["total_nonmirror"] == expected["total"] and vq["transformer"] == expected["transformer"]
    assert info["tokens_per_s"] == 80 and vq["bits_per_token"] == 6
    assert main(["model-info", "--size", "tiny"]) == 0
    assert "tiny" in capsys.readouterr().out


def test_checkpoints_from_before_anti_aliasing_load_with_plain_activations():
    """A codec_config without the field predates it, when every size had plain activations."""
    config = get_size("paper").to_dict()
    del config["anti_aliased_activations"]
    assert ModelSize.from_dict(config).anti_aliased_activations is False
    assert ModelSize.from_dict(get_size("paper").to_dict()).anti_aliased_activations is True
