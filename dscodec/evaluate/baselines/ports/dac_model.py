"""DAC inference network (Kumar et al., 2023, "High-Fidelity Audio Compression with Improved RVQGAN").

Re-implemented so that the released ``weights_16khz.pth`` loads with ``strict=True`` without the
``descript-audio-codec`` package (it pins protobuf<3.20, which breaks MLflow and onnxruntime).
Module nesting and parameter names follow the official ``dac/model/dac.py`` and
``dac/nn/{layers,quantize}.py`` (release 1.0.0), e.g. ``encoder.block.0.weight_v``,
``encoder.block.1.block.0.block.0.alpha``, ``quantizer.quantizers.0.codebook.weight``,
``decoder.model.0.weight_g``. Weight normalisation is torch's hook version
(``torch.nn.utils.weight_norm``) because that is what produced the ``weight_g``/``weight_v``
names in the release file; training code is not needed, so losses and dropout are left out.

Upstream: github.com/descriptinc/descript-audio-codec (MIT licence); a port, not DS-Codec code.
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def hook_weight_norm(module: nn.Module) -> nn.Module:
    """Weight norm whose state-dict names are ``weight_g``/``weight_v``, as in the release files."""
    with warnings.catch_warnings():  # deprecated in favour of parametrizations, which renames the keys
        warnings.simplefilter("ignore", FutureWarning)
        return nn.utils.weight_norm(module)


def wn_conv1d(*args, **kwargs) -> nn.Module:
    return hook_weight_norm(nn.Conv1d(*args, **kwargs))


def wn_conv_transpose1d(*args, **kwargs) -> nn.Module:
    return hook_weight_norm(nn.ConvTranspose1d(*args, **kwargs))


class Snake1d(nn.Module):
    """x + 1/alpha * sin^2(alpha x), alpha per channel stored as [1, C, 1] (official layout)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)


class ResidualUnit(nn.Module):
    def __init__(self, dim: int, dilation: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Snake1d(dim),
            wn_conv1d(dim, dim, kernel_size=7, dilation=dilation, padding=3 * dilation),
            Snake1d(dim),
            wn_conv1d(dim, dim, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        trim = (x.shape[-1] - y.shape[-1]) // 2  # zero with padding; kept for un-padded (streaming) use
        if trim > 0:
            x = x[..., trim:-trim]
        return x + y


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, stride: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            ResidualUnit(dim // 2, 1), ResidualUnit(dim // 2, 3), ResidualUnit(dim // 2, 9),
            Snake1d(dim // 2),
            wn_conv1d(dim // 2, dim, kernel_size=2 * stride, stride=stride, padding=math.ceil(stride / 2)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Encoder(nn.Module):
    def __init__(self, d_model: int, strides: Sequence[int], d_latent: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [wn_conv1d(1, d_model, kernel_size=7, padding=3)]
        for stride in strides:
            d_model *= 2
            layers.append(EncoderBlock(d_model, stride))
        layers += [Snake1d(d_model), wn_conv1d(d_model, d_latent, kernel_size=3, padding=1)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class DecoderBlock(nn.Module):
    def __init__(self, input_dim: int, output_dim: int, stride: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Snake1d(input_dim),
            wn_conv_transpose1d(input_dim, output_dim, kernel_size=2 * stride, stride=stride,
                                padding=math.ceil(stride / 2)),
            ResidualUnit(output_dim, 1), ResidualUnit(output_dim, 3), ResidualUnit(output_dim, 9),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Decoder(nn.Module):
    def __init__(self, input_channel: int, channels: int, rates: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = [wn_conv1d(input_channel, channels, kernel_size=7, padding=3)]
        output_dim = channels
        for i, stride in enumerate(rates):
            layers.append(DecoderBlock(channels // 2**i, channels // 2 ** (i + 1), stride))
            output_dim = channels // 2 ** (i + 1)
        layers += [Snake1d(output_dim), wn_conv1d(output_dim, 1, kernel_size=7, padding=3), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class VectorQuantize(nn.Module):
    """Factorised, L2-normalised VQ: project to ``codebook_dim``, cosine lookup, project back."""

    def __init__(self, input_dim: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.in_proj = wn_conv1d(input_dim, codebook_dim, kernel_size=1)
        self.out_proj = wn_conv1d(codebook_dim, input_dim, kernel_size=1)
        self.codebook = nn.Embedding(codebook_size, codebook_dim)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z [B, D, T] -> (quantised z [B, D, T], codes [B, T])."""
        z_e = self.in_proj(z)
        enc = F.normalize(z_e.transpose(1, 2), dim=-1)              # [B, T, d]
        book = F.normalize(self.codebook.weight, dim=-1)            # [N, d]
        codes = (enc @ book.t()).argmax(-1)                         # max cosine == min L2 of unit vectors
        z_q = self.codebook(codes).transpose(1, 2)                  # un-normalised code vectors, as officially
        return self.out_proj(z_q), codes


class ResidualVectorQuantize(nn.Module):
    def __init__(self, input_dim: int, n_codebooks: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.quantizers = nn.ModuleList(
            [VectorQuantize(input_dim, codebook_size, codebook_dim) for _ in range(n_codebooks)])

    def forward(self, z: torch.Tensor, n_quantizers: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantise with the first ``n_quantizers`` stages -> (sum of stage outputs, codes [B, n, T])."""
        z_q = torch.zeros_like(z)
        residual = z
        codes = []
        for quantizer in self.quantizers[:n_quantizers]:
            z_q_i, codes_i = quantizer(residual)
            z_q = z_q + z_q_i
            residual = residual - z_q_i
            codes.append(codes_i)
        return z_q, torch.stack(codes, dim=1)


class DAC(nn.Module):
    """Encoder -> residual VQ -> decoder; constructor arguments as in the release file's ``metadata.kwargs``."""

    def __init__(self, encoder_dim: int = 64, encoder_rates: Sequence[int] = (2, 4, 8, 8),
                 latent_dim: int | None = None, decoder_dim: int = 1536, decoder_rates: Sequence[int] = (8, 8, 4, 2),
                 n_codebooks: int = 9, codebook_size: int = 1024, codebook_dim: int = 8,
                 sample_rate: int = 44100) -> None:
        super().__init__()
        if latent_dim is None:  # as officially: channels double once per encoder block
            latent_dim = encoder_dim * 2 ** len(encoder_rates)
        self.latent_dim = latent_dim
        self.sample_rate = sample_rate
        self.hop_length = math.prod(encoder_rates)
        self.n_codebooks = n_codebooks
        self.codebook_size = codebook_size
        self.encoder = Encoder(encoder_dim, encoder_rates, latent_dim)
        self.quantizer = ResidualVectorQuantize(latent_dim, n_codebooks, codebook_size, codebook_dim)
        self.decoder = Decoder(latent_dim, decoder_dim, decoder_rates)

    def forward(self, wav: torch.Tensor, n_quantizers: int) -> tuple[torch.Tensor, torch.Tensor]:
        """wav [B, 1, T] at ``sample_rate`` -> (reconstruction [B, 1, T], codes [B, n, frames]).

        Right-pads to a multiple of the hop as ``DAC.preprocess`` does, then trims to T.
        """
        length = wav.shape[-1]
        wav = F.pad(wav, (0, -length % self.hop_length))
        z_q, codes = self.quantizer(self.encoder(wav), n_quantizers)
        return self.decoder(z_q)[..., :length], codes


# Constructor arguments of the released 16 kHz model (conf/final/16khz.yml of the official repo).
DAC_16KHZ_KWARGS: dict = dict(encoder_dim=64, encoder_rates=[2, 4, 5, 8], latent_dim=None, decoder_dim=1536,
                              decoder_rates=[8, 5, 4, 2], n_codebooks=12, codebook_size=1024, codebook_dim=8,
                              sample_rate=16000)
