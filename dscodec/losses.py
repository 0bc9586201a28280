"""Generator and discriminator losses (paper §2.4; weights in `train.loss_weights` from BigCodec).

- Multi-scale mel reconstruction: L1 between log-mel spectrograms at several window sizes
  (DAC's setting: windows 32 ... 2048 with 5 ... 320 mel bands), so both fine time detail
  and fine frequency detail are penalised.
- LSGAN adversarial loss (Mao et al., 2017), as in HiFi-GAN/BigCodec.
- Feature matching: L1 between the discriminator feature maps of real and generated audio.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

DiscOutputs = Sequence[tuple[torch.Tensor, Sequence[torch.Tensor]]]


class MelReconstructionLoss(nn.Module):
    def __init__(
        self,
        sample_rate: int = 16000,
        window_lengths: Sequence[int] = (32, 64, 128, 256, 512, 1024, 2048),
        n_mels: Sequence[int] = (5, 10, 20, 40, 80, 160, 320),
        clamp_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.clamp_eps = clamp_eps
        self.mels = nn.ModuleList(
            torchaudio.transforms.MelSpectrogram(
                sample_rate=sample_rate, n_fft=w, win_length=w, hop_length=w // 4,
                n_mels=m, power=1.0, center=True, f_min=0.0, f_max=sample_rate / 2,
            )
            for w, m in zip(window_lengths, n_mels)
        )

    def forward(self, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean over scales of L1(log10 mel(recon), log10 mel(target)); inputs [B, 1, T]."""
        loss = recon.new_zeros(())
        for mel in self.mels:
            x = mel(recon).clamp_min(self.clamp_eps).log10()
            y = mel(target).clamp_min(self.clamp_eps).log10()
            loss = loss + F.l1_loss(x, y)
        return loss / len(self.mels)


def generator_adversarial_loss(fake_outs: DiscOutputs) -> torch.Tensor:
    """LSGAN generator term: mean over discriminators of E[(1 - D(G(x)))^2]."""
    return torch.stack([(1 - logits).pow(2).mean() for logits, _ in fake_outs]).mean()


def discriminator_loss(real_outs: DiscOutputs, fake_outs: DiscOutputs) -> torch.Tensor:
    """LSGAN discriminator term: mean over discriminators of E[(1 - D(x))^2] + E[D(G(x))^2]."""
    terms = [(1 - r).pow(2).mean() + f.pow(2).mean() for (r, _), (f, _) in zip(real_outs, fake_outs)]
    return torch.stack(terms).mean()


def feature_matching_loss(real_outs: DiscOutputs, fake_outs: DiscOutputs) -> torch.Tensor:
    """Mean L1 between feature maps of real (detached) and generated audio, over all layers."""
    terms = [
        F.l1_loss(f, r.detach())
        for (_, real_maps), (_, fake_maps) in zip(real_outs, fake_outs)
        for r, f in zip(real_maps, fake_maps)
    ]
    return torch.stack(terms).mean()
