"""Discriminators (paper §2.4; widths in dscodec/models/discriminator_sizes.py: MPD from
BigCodec, MS-STFT from EnCodec): HiFi-GAN multi-period (MPD) and EnCodec-style multi-scale STFT (MS-STFT).

- MPD (Kong et al., 2020): the waveform is folded into [T/p, p] for p in 2, 3, 5, 7, 11
  and judged by 2-D convs along the folded time axis, which exposes periodic structure.
- MS-STFT (Défossez et al., 2022): the complex STFT (real and imaginary parts as two
  channels) at FFT sizes 2048 ... 128 (hop n_fft/4) is judged by 2-D convs with
  dilations 1, 2, 4 along time and stride 2 along frequency.

Every sub-discriminator returns (logits, [feature maps]); `Discriminators.forward`
returns the list over all of them, the input of dscodec.losses.

The discriminators exist only in training, so their widths are not part of the generator's
ModelSize (nor of a checkpoint's codec_config): dscodec/models/discriminator_sizes.py.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from dscodec.models.discriminator_sizes import DiscriminatorSize
from dscodec.nn import WNConv2d

DiscOutput = tuple[torch.Tensor, list[torch.Tensor]]


class PeriodDiscriminator(nn.Module):
    def __init__(self, period: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.period = period
        chans = (1, *channels)
        self.convs = nn.ModuleList(
            WNConv2d(chans[i], chans[i + 1], (5, 1), (3 if i < len(channels) - 1 else 1, 1), padding=(2, 0))
            for i in range(len(channels))
        )
        self.post = WNConv2d(channels[-1], 1, (3, 1), padding=(1, 0))

    def forward(self, wav: torch.Tensor) -> DiscOutput:
        b, c, t = wav.shape
        if t % self.period:
            wav = F.pad(wav, (0, self.period - t % self.period), mode="reflect")
        x = wav.view(b, c, -1, self.period)
        fmaps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            fmaps.append(x)
        x = self.post(x)
        fmaps.append(x)
        return x, fmaps


class STFTDiscriminator(nn.Module):
    def __init__(self, n_fft: int, filters: int, dilations: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        self.spec = torchaudio.transforms.Spectrogram(
            n_fft=n_fft, hop_length=n_fft // 4, win_length=n_fft, normalized=True, center=False, power=None
        )
        k = (3, 9)
        convs = [WNConv2d(2, filters, k, padding=(1, 4))]
        for d in dilations:
            convs.append(WNConv2d(filters, filters, k, stride=(1, 2), dilation=(d, 1), padding=(d, 4)))
        convs.append(WNConv2d(filters, filters, (3, 3), padding=(1, 1)))
        self.convs = nn.ModuleList(convs)
        self.post = WNConv2d(filters, 1, (3, 3), padding=(1, 1))

    def forward(self, wav: torch.Tensor) -> DiscOutput:
        z = self.spec(wav.squeeze(1))  # complex [B, F, frames]
        x = torch.stack([z.real, z.imag], dim=1).transpose(2, 3)  # [B, 2, frames, F]
        fmaps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
            fmaps.append(x)
        x = self.post(x)
        fmaps.append(x)
        return x, fmaps


class Discriminators(nn.Module):
    """MPD (periods 2, 3, 5, 7, 11) + MS-STFT (FFT 2048 ... 128). Input needs T >= max FFT size."""

    def __init__(self, size: DiscriminatorSize) -> None:
        super().__init__()
        self.size = size
        self.mpd = nn.ModuleList(PeriodDiscriminator(p, size.mpd_channels) for p in size.mpd_periods)
        self.msstft = nn.ModuleList(STFTDiscriminator(n, size.stft_channels) for n in size.stft_ffts)

    def forward(self, wav: torch.Tensor) -> list[DiscOutput]:
        return [d(wav) for d in self.mpd] + [d(wav) for d in self.msstft]
