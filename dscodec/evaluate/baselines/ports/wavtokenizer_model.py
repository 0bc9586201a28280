"""WavTokenizer inference network (Ji et al., 2024/ICLR 2025, "WavTokenizer: an Efficient Acoustic
Discrete Codec Tokenizer for Audio Language Modeling", arXiv:2408.16532), the 75 tokens/s,
single-codebook baseline of Table 1.

Re-implemented so that an official Lightning checkpoint (``WavTokenizer_small_320_24k_4096.ckpt``,
config ``wavtokenizer_smalldata_frame75_3s_nq1_code4096_dim512_kmeans200_attn.yaml``) loads with
``strict=True`` without cloning github.com/jishengpeng/WavTokenizer. The paper's Section 3
architecture maps onto the official modules as follows, and so do our module names:

* ``feature_extractor.encodec``: an EnCodec model built by ``decoder/feature_extractors.py``
  (``EncodecFeatures``). Its ``encoder`` is the SEANet encoder of ``encoder/modules/seanet.py``
  (32 filters, ratios 8-5-4-2 used in reverse, ELU, 2-layer LSTM, reflect padding, old-style
  ``torch.nn.utils.weight_norm`` -> ``weight_g``/``weight_v``); its ``quantizer`` is the EnCodec
  VQ of ``encoder/quantization/{vq,core_vq}.py`` with one 4096 x 512 euclidean codebook
  (buffers ``inited``, ``cluster_size``, ``embed``, ``embed_avg``). The EnCodec ``decoder`` is
  built too and its weights are in every release file, but WavTokenizer never runs it: it is
  kept here only so the official key set loads strictly.
* ``backbone``: ``decoder/models.py`` ``VocosBackbone``: embedding conv, ``pos_net`` (two ResNet
  blocks, self-attention, two ResNet blocks, GroupNorm: the paper's "attention" decoder), an
  AdaLayerNorm (4 embeddings; inference uses ``bandwidth_id = 0`` as the official ``infer.py``),
  12 ConvNeXt blocks with AdaLayerNorm, final LayerNorm.
* ``head``: ``decoder/heads.py`` ``ISTFTHead`` + ``decoder/spectral_ops.py`` ``ISTFT`` with
  "same" padding: n_fft 1280, hop 320 -> 24000 / 320 = 75 frames/s.

Training-only parts (discriminators, losses, k-means init, EMA codebook updates) are left out.

Upstream: github.com/jishengpeng/WavTokenizer (MIT licence); a port, not DS-Codec code.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dscodec.evaluate.baselines.ports.dac_model import hook_weight_norm

BANDWIDTH_ID = 0  # AdaLayerNorm condition used at inference by the official infer.py / README


# ------------------------------------------------------------------ EnCodec SEANet encoder / decoder
def _pad1d_reflect(x: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """Reflect padding that also works when the input is shorter than the pad (EnCodec's pad1d)."""
    length = x.shape[-1]
    extra = max(left, right) - length + 1 if length <= max(left, right) else 0
    if extra:
        x = F.pad(x, (0, extra))
    padded = F.pad(x, (left, right), mode="reflect")
    return padded[..., : padded.shape[-1] - extra]


class _NormConv1d(nn.Module):
    """Holds the weight-normed conv as ``.conv`` (official ``NormConv1d``; its norm is an Identity)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()
        self.conv = hook_weight_norm(nn.Conv1d(*args, **kwargs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SConv1d(nn.Module):
    """Non-causal conv with EnCodec's "same" padding: reflect-pad so ceil(T / stride) frames come out."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv = _NormConv1d(in_ch, out_ch, kernel_size, stride, dilation=dilation)
        self.stride = stride
        self.effective_kernel = (kernel_size - 1) * dilation + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = self.effective_kernel - self.stride
        n_frames = (x.shape[-1] - self.effective_kernel + total) / self.stride + 1
        extra = (math.ceil(n_frames) - 1) * self.stride + (self.effective_kernel - total) - x.shape[-1]
        right = total // 2
        return self.conv(_pad1d_reflect(x, total - right, right + extra))


class _NormConvTranspose1d(nn.Module):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__()
        self.convtr = hook_weight_norm(nn.ConvTranspose1d(*args, **kwargs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convtr(x)


class SConvTranspose1d(nn.Module):
    """Transposed conv trimming ``kernel - stride`` samples (more on the left for odd totals)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.convtr = _NormConvTranspose1d(in_ch, out_ch, kernel_size, stride)
        self.trim = kernel_size - stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convtr(x)
        right = self.trim // 2
        return y[..., self.trim - right: y.shape[-1] - right]


class SEANetResnetBlock(nn.Module):
    """ELU-conv(k3, dim -> dim/2)-ELU-conv(k1) plus a 1x1-conv shortcut (``true_skip=False``)."""

    def __init__(self, dim: int, dilation: int = 1, compress: int = 2) -> None:
        super().__init__()
        hidden = dim // compress
        self.block = nn.Sequential(nn.ELU(), SConv1d(dim, hidden, 3, dilation=dilation),
                                   nn.ELU(), SConv1d(hidden, dim, 1))
        self.shortcut = SConv1d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.block(x)


class SLSTM(nn.Module):
    """Time-major LSTM over [B, C, T] with a residual connection (EnCodec ``SLSTM``, skip=True)."""

    def __init__(self, dim: int, num_layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, num_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(x.permute(2, 0, 1))
        return y.permute(1, 2, 0) + x


class SEANetEncoder(nn.Module):
    """Waveform [B, 1, T] -> latent [B, dimension, ceil(T / prod(ratios))]."""

    def __init__(self, n_filters: int, ratios: Sequence[int], dimension: int, lstm_layers: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [SConv1d(1, n_filters, 7)]
        mult = 1
        for ratio in reversed(ratios):  # ratios are given in decoder order
            layers += [SEANetResnetBlock(mult * n_filters), nn.ELU(),
                       SConv1d(mult * n_filters, 2 * mult * n_filters, 2 * ratio, stride=ratio)]
            mult *= 2
        layers += [SLSTM(mult * n_filters, lstm_layers), nn.ELU(), SConv1d(mult * n_filters, dimension, 7)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class SEANetDecoder(nn.Module):
    """EnCodec's waveform decoder. WavTokenizer never calls it; it holds released weights only."""

    def __init__(self, n_filters: int, ratios: Sequence[int], dimension: int, lstm_layers: int) -> None:
        super().__init__()
        mult = 2 ** len(ratios)
        layers: list[nn.Module] = [SConv1d(dimension, mult * n_filters, 7), SLSTM(mult * n_filters, lstm_layers)]
        for ratio in ratios:
            layers += [nn.ELU(), SConvTranspose1d(mult * n_filters, mult * n_filters // 2, 2 * ratio, ratio),
                       SEANetResnetBlock(mult * n_filters // 2)]
            mult //= 2
        layers += [nn.ELU(), SConv1d(n_filters, 1, 7)]
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)


# -------------------------------------------------------------------------- EnCodec-style quantizer
class EuclideanCodebook(nn.Module):
    """Nearest codeword by L2 distance. The buffers mirror the official ones (EMA state included)."""

    def __init__(self, dim: int, codebook_size: int) -> None:
        super().__init__()
        self.register_buffer("inited", torch.zeros(1))        # 1 once k-means initialised it (training)
        self.register_buffer("cluster_size", torch.zeros(codebook_size))
        self.register_buffer("embed", torch.zeros(codebook_size, dim))
        self.register_buffer("embed_avg", torch.zeros(codebook_size, dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x [..., D] -> codes [...]."""
        flat = x.reshape(-1, x.shape[-1])
        embed = self.embed.t()
        neg_dist = -(flat.pow(2).sum(1, keepdim=True) - 2 * flat @ embed + embed.pow(2).sum(0, keepdim=True))
        return neg_dist.argmax(dim=-1).view(*x.shape[:-1])

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, self.embed)


class VectorQuantization(nn.Module):
    """One VQ stage on [B, D, T]; codebook_dim == dim, so the official projections are Identities (no keys)."""

    def __init__(self, dim: int, codebook_size: int) -> None:
        super().__init__()
        self._codebook = EuclideanCodebook(dim, codebook_size)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self._codebook.encode(x.transpose(1, 2))                   # [B, T]

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self._codebook.decode(codes).transpose(1, 2)               # [B, D, T]


class _VQLayers(nn.Module):
    """Official ``LanguageVectorQuantization``: just the ``layers`` list."""

    def __init__(self, num_quantizers: int, dim: int, codebook_size: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([VectorQuantization(dim, codebook_size) for _ in range(num_quantizers)])


class ResidualVectorQuantizer(nn.Module):
    """Official ``ResidualVectorQuantizer.infer``: n_q is fixed to 1, i.e. the first codebook alone."""

    def __init__(self, dim: int, codebook_size: int, num_quantizers: int = 1) -> None:
        super().__init__()
        self.vq = _VQLayers(num_quantizers, dim, codebook_size)
        self.bins = codebook_size

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, D, T] -> (quantized [B, D, T], codes [1, B, T])."""
        layer = self.vq.layers[0]
        codes = layer.encode(x)
        return layer.decode(codes), codes[None]


class EncodecModel(nn.Module):
    """Container whose attribute names give the official ``encodec.{encoder,quantizer,decoder}`` keys."""

    def __init__(self, encoder: SEANetEncoder, quantizer: ResidualVectorQuantizer, decoder: SEANetDecoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.quantizer = quantizer
        self.decoder = decoder


class EncodecFeatures(nn.Module):
    def __init__(self, encodec: EncodecModel) -> None:
        super().__init__()
        self.encodec = encodec

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """audio [B, T] at 24 kHz -> (features [B, D, F], codes [1, B, F]); official ``infer``."""
        return self.encodec.quantizer(self.encodec.encoder(audio[:, None]))


# ------------------------------------------------------------------------------ Vocos-style backbone
class AdaLayerNorm(nn.Module):
    """LayerNorm without affine terms, then scale/shift looked up by a condition id."""

    def __init__(self, num_embeddings: int, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.scale = nn.Embedding(num_embeddings, dim)
        self.shift = nn.Embedding(num_embeddings, dim)
        nn.init.ones_(self.scale.weight)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x, (x.shape[-1],), eps=self.eps)
        return x * self.scale(cond) + self.shift(cond)


def _make_norm(dim: int, adanorm_num_embeddings: int | None) -> nn.Module:
    """AdaLayerNorm when the config gives ``adanorm_num_embeddings`` (WavTokenizer does), else LayerNorm."""
    if adanorm_num_embeddings:
        return AdaLayerNorm(adanorm_num_embeddings, dim)
    return nn.LayerNorm(dim, eps=1e-6)


def _apply_norm(norm: nn.Module, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    return norm(x, cond) if isinstance(norm, AdaLayerNorm) else norm(x)


class ConvNeXtBlock(nn.Module):
    """Depth-wise conv k7, (Ada)LayerNorm, Linear-GELU-Linear, layer scale ``gamma``, residual."""

    def __init__(self, dim: int, intermediate_dim: int, layer_scale: float, adanorm_num_embeddings: int | None) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = _make_norm(dim, adanorm_num_embeddings)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        y = _apply_norm(self.norm, self.dwconv(x).transpose(1, 2), cond)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(y)))
        return x + y.transpose(1, 2)


def _group_norm(dim: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, dim, eps=1e-6)  # official ``Normalize``


class ResnetBlock(nn.Module):
    """GroupNorm-SiLU-conv3 twice with a residual (``temb_channels=0``: no time embedding; dropout off)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm1 = _group_norm(dim)
        self.conv1 = nn.Conv1d(dim, dim, kernel_size=3, padding=1)
        self.norm2 = _group_norm(dim)
        self.conv2 = nn.Conv1d(dim, dim, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


class AttnBlock(nn.Module):
    """Single-head self-attention over time with 1x1-conv projections and a residual."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = _group_norm(dim)
        self.q = nn.Conv1d(dim, dim, 1)
        self.k = nn.Conv1d(dim, dim, 1)
        self.v = nn.Conv1d(dim, dim, 1)
        self.proj_out = nn.Conv1d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)                          # [B, C, T]
        weights = torch.softmax(q.transpose(1, 2) @ k * q.shape[1] ** -0.5, dim=-1)  # [B, Tq, Tk]
        return x + self.proj_out(v @ weights.transpose(1, 2))


class VocosBackbone(nn.Module):
    """Features [B, D, F] -> hidden [B, F, dim]."""

    def __init__(self, input_channels: int, dim: int, intermediate_dim: int, num_layers: int,
                 adanorm_num_embeddings: int | None) -> None:
        super().__init__()
        self.embed = nn.Conv1d(input_channels, dim, kernel_size=7, padding=3)
        self.norm = _make_norm(dim, adanorm_num_embeddings)
        self.convnext = nn.ModuleList([ConvNeXtBlock(dim, intermediate_dim, 1 / num_layers, adanorm_num_embeddings)
                                       for _ in range(num_layers)])
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)
        self.pos_net = nn.Sequential(ResnetBlock(dim), ResnetBlock(dim), AttnBlock(dim),
                                     ResnetBlock(dim), ResnetBlock(dim), _group_norm(dim))

    def forward(self, x: torch.Tensor, bandwidth_id: torch.Tensor) -> torch.Tensor:
        x = self.pos_net(self.embed(x))
        x = _apply_norm(self.norm, x.transpose(1, 2), bandwidth_id).transpose(1, 2)
        for block in self.convnext:
            x = block(x, bandwidth_id)
        return self.final_layer_norm(x.transpose(1, 2))


# --------------------------------------------------------------------------------------- ISTFT head
class ISTFT(nn.Module):
    """Inverse STFT with "same" padding: F frames -> F * hop samples (windowed overlap-add, normalised)."""

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.register_buffer("window", torch.hann_window(n_fft))  # persistent: in the release state dict

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [B, n_fft, F] -> [B, (F - 1) * hop + n_fft]."""
        length = (frames.shape[-1] - 1) * self.hop_length + self.n_fft
        return F.fold(frames, output_size=(1, length), kernel_size=(1, self.n_fft),
                      stride=(1, self.hop_length))[:, 0, 0]

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        pad = (self.n_fft - self.hop_length) // 2
        frames = torch.fft.irfft(spec, self.n_fft, dim=1) * self.window[None, :, None]
        y = self._overlap_add(frames)
        envelope = self._overlap_add(self.window.square()[None, :, None].expand(1, -1, spec.shape[-1]))
        return (y / envelope)[:, pad: y.shape[-1] - pad]


class ISTFTHead(nn.Module):
    """Linear to log-magnitude and phase of n_fft / 2 + 1 bins, then ISTFT."""

    def __init__(self, dim: int, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.out = nn.Linear(dim, n_fft + 2)
        self.istft = ISTFT(n_fft, hop_length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_mag, phase = self.out(x).transpose(1, 2).chunk(2, dim=1)
        mag = log_mag.exp().clip(max=1e2)  # the official safeguard
        return self.istft(torch.polar(mag, phase))


# ------------------------------------------------------------------------------------------- model
class WavTokenizer(nn.Module):
    """24 kHz waveform -> one code per hop -> 24 kHz waveform (official ``encode_infer`` + ``decode``)."""

    def __init__(self, n_filters: int = 32, ratios: Sequence[int] = (8, 5, 4, 2), dimension: int = 512,
                 lstm_layers: int = 2, codebook_size: int = 4096, num_quantizers: int = 1,
                 decoder_ratios: Sequence[int] = (8, 5, 4, 2), backbone_dim: int = 768,
                 intermediate_dim: int = 2304, num_layers: int = 12, adanorm_num_embeddings: int | None = 4,
                 n_fft: int = 1280, hop_length: int = 320) -> None:
        super().__init__()
        if math.prod(ratios) != hop_length:
            raise ValueError(f"encoder ratios {tuple(ratios)} give a hop of {math.prod(ratios)}, "
                             f"but the ISTFT head's hop_length is {hop_length}")
        encodec = EncodecModel(SEANetEncoder(n_filters, ratios, dimension, lstm_layers),
                               ResidualVectorQuantizer(dimension, codebook_size, num_quantizers),
                               SEANetDecoder(n_filters, decoder_ratios, dimension, lstm_layers))
        self.feature_extractor = EncodecFeatures(encodec)
        self.backbone = VocosBackbone(dimension, backbone_dim, intermediate_dim, num_layers, adanorm_num_embeddings)
        self.head = ISTFTHead(backbone_dim, n_fft, hop_length)
        self.hop_length = hop_length

    def encode(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """audio [B, T] -> (features [B, D, ceil(T / hop)], codes [1, B, ceil(T / hop)])."""
        return self.feature_extractor(audio)

    def decode(self, features: torch.Tensor, bandwidth_id: int = BANDWIDTH_ID) -> torch.Tensor:
        """features [B, D, F] -> audio [B, F * hop]."""
        cond = torch.tensor([bandwidth_id], device=features.device)
        return self.head(self.backbone(features, cond))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """audio [B, T] -> (reconstruction [B, T], codes [1, B, F])."""
        features, codes = self.encode(audio)
        return self.decode(features)[:, : audio.shape[-1]], codes


# Constructor arguments of the 75 tokens/s release (frame75 config: dowmsamples [8, 5, 4, 2], vq_bins 4096,
# dimension 512 from EncodecFeatures, backbone 768/2304/12 layers, adanorm 4, ISTFT n_fft 1280 / hop 320).
WAVTOKENIZER_75_KWARGS: dict = dict(n_filters=32, ratios=(8, 5, 4, 2), dimension=512, lstm_layers=2,
                                    codebook_size=4096, num_quantizers=1, decoder_ratios=(8, 5, 4, 2),
                                    backbone_dim=768, intermediate_dim=2304, num_layers=12,
                                    adanorm_num_embeddings=4, n_fft=1280, hop_length=320)
