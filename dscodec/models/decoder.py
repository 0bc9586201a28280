"""DS-Codec decoders (paper §2.1-2.2; dimensions from BigCodec `CodecDec`).

Mirrored decoder (stage 1), the mirror image of the encoder:

    conv k7 (latent 1024 -> 1536)
    2-layer unidirectional LSTM with a residual connection
    5 x [Snake -> transposed conv k=2s (C -> C/2) -> 3 residual units], s = 5,5,2,2,2
    Snake -> conv k7 (-> 1) -> tanh

Non-mirrored decoder (stage 2, and the APCodec+ ablation from scratch): the same decoder
with a LLaMA-style Transformer block between the quantizer and the first conv
(`self.transformer`, None when mirrored). The transformer is zero-initialised to the
identity (dscodec.nn.transformer), so `CodecModel.to_nonmirror` keeps the stage-1
output. Split into `pre` / `lstm` / `post` for chunked decoding like the encoder. Each Snake
is anti-aliased as in BigCodec when `size.anti_aliased_activations` is set.

`size.decoder_head == "istft"` [ours, CPU sizes] replaces `post` (the up-sampling blocks) by a
frame-rate trunk and an inverse-STFT head (Vocos):

    conv k7 (C -> D) -> LayerNorm -> N x ConvNeXt block -> LayerNorm -> linear -> |X|, phase -> iSTFT
"""
from __future__ import annotations

import math

import torch
from torch import nn

from dscodec.models.sizes import ModelSize
from dscodec.nn import ResidualUnit, ResLSTM, Transformer, WNConv1d, WNConvTranspose1d
from dscodec.nn.antialias import AntiAliasedSnakeBeta, snake
from dscodec.nn.convnext import ChannelLayerNorm, ConvNeXtBlock
from dscodec.nn.istft import ISTFTHead


def upsampler(in_ch: int, out_ch: int, stride: int, kind: str) -> nn.Module:
    """Up-sample by `stride`: BigCodec's transposed conv, or repeat-then-conv ("resize").

    Why "resize": a transposed conv whose kernel is not a multiple of the stride's overlap
    pattern adds fixed-frequency tones (multiples of the frame rate) until training
    removes them; nearest-neighbour repetition followed by an ordinary conv has no such
    pattern (Odena et al., 2016, "Deconvolution and checkerboard artifacts").
    """
    if kind == "resize":
        return nn.Sequential(
            nn.Upsample(scale_factor=stride, mode="nearest"),
            WNConv1d(in_ch, out_ch, 2 * (stride // 2) + 1, padding=stride // 2),
        )
    return WNConvTranspose1d(
        in_ch, out_ch, 2 * stride, stride=stride,
        padding=stride // 2 + stride % 2, output_padding=stride % 2,
    )


class DecoderBlock(nn.Module):
    """Up-sample by `stride`, then residual units at the new rate."""

    def __init__(
        self, in_ch: int, out_ch: int, stride: int, dilations: tuple[int, ...],
        anti_aliased: bool = False, upsample: str = "transposed",
    ) -> None:
        super().__init__()
        self.block = nn.Sequential(
            snake(in_ch, anti_aliased),
            upsampler(in_ch, out_ch, stride, upsample),
            *(ResidualUnit(out_ch, d, anti_aliased) for d in dilations),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Decoder(nn.Module):
    def __init__(self, size: ModelSize, transformer: bool = False) -> None:
        super().__init__()
        widths = size.decoder_channels_list  # the encoder's mirrored (1536, 768, ..., 48) unless decoder_channels
        self.hop_length = size.hop_length
        self.transformer = (
            Transformer(
                size.latent_dim, size.transformer_layers, size.transformer_heads,
                size.transformer_ffn_dim, size.transformer_window,
            )
            if transformer
            else None
        )
        self.stem = WNConv1d(size.latent_dim, widths[0], 7, padding=3)
        self.lstm = ResLSTM(widths[0], size.lstm_layers)
        pre = 3 + (self.transformer.context_frames if self.transformer is not None else 0)
        self.pre_context_frames = pre if self.transformer is None or self.transformer.context_frames >= 0 else -1
        if size.decoder_head == "istft":
            self.post, self.post_context_frames = _istft_post(size, widths[0])
        else:
            self.post, self.post_context_frames = _waveform_post(size, widths)

    def pre(self, z: torch.Tensor) -> torch.Tensor:
        if self.transformer is not None:
            z = self.transformer(z)
        return self.stem(z)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Quantised latent [B, latent_dim, F] -> waveform [B, 1, F * hop]."""
        return self.post(self.lstm(self.pre(z)))


def _waveform_post(size: ModelSize, widths: list[int]) -> tuple[nn.Module, int]:
    """The paper's up-sampling blocks to 16 kHz, and their receptive field in frames (conservative)."""
    aa = size.anti_aliased_activations
    post = nn.Sequential(
        *(
            DecoderBlock(widths[i], widths[i + 1], s, size.dilations, aa, size.upsample)
            for i, s in enumerate(reversed(size.strides))
        ),
        snake(widths[-1], aa),
        WNConv1d(widths[-1], 1, 7, padding=3),
        nn.Tanh(),
    )
    act = AntiAliasedSnakeBeta.HALF_RECEPTIVE_FIELD if aa else 0
    half_rf, scale = 0.0, 1.0
    for s in reversed(size.strides):
        half_rf += (act + 2) * scale  # the block's Snake, then its transposed conv
        scale /= s
        half_rf += sum(ResidualUnit.half_receptive_field(d, aa) for d in size.dilations) * scale
    half_rf += (act + 3) * scale
    return post, math.ceil(half_rf) + 1


def _istft_post(size: ModelSize, in_ch: int) -> tuple[nn.Module, int]:
    """Frame-rate ConvNeXt trunk + inverse-STFT head (Vocos), and its receptive field in frames."""
    dim, blocks = size.istft_dim, size.istft_blocks
    head = ISTFTHead(dim, size.hop_length)
    post = nn.Sequential(
        nn.Conv1d(in_ch, dim, 7, padding=3),
        ChannelLayerNorm(dim, eps=1e-6),
        *(ConvNeXtBlock(dim, layer_scale=1.0 / max(blocks, 1)) for _ in range(blocks)),
        ChannelLayerNorm(dim, eps=1e-6),
        head,
    )
    return post, 3 + blocks * ConvNeXtBlock.HALF_RECEPTIVE_FIELD + head.half_receptive_field_frames + 1
