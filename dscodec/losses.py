"""Generator and discriminator losses (paper §2.4; weights in `train.loss_weights` from BigCodec).

- Multi-scale mel reconstruction: L1 between log-mel spectrograms at several window sizes
  (DAC's setting: windows 32 ... 2048 with 5 ... 320 mel bands), so both fine time detail
  and fine frequency detail are penalised.
- Optional [ours], off unless `train.loss_weights.stft` > 0: Parallel WaveGAN's multi-resolution
  STFT loss (Yamamoto et al., 2020): spectral convergence on linear magnitudes plus log-magnitude
  L1, at FFT sizes 512/1024/2048. Its linear-magnitude term weighs the harmonic peaks that a
  log-mel L1 averages away (a CPU-recipe lever for issue 10, benchmarks/RESULTS.md).
- LSGAN adversarial loss (Mao et al., 2017), as in HiFi-GAN/BigCodec.
- Feature matching: L1 between the discriminator feature maps of real and generated audio.
- VQ: the quantizer's raw commitment and codebook losses, weighted here and nowhere else
  (`VQLossWeights`; DAC's `lambdas` likewise live in its training config, not its quantizer).

Reductions (`train.loss_reduction`, passed here as `reduction`):
- "mean" [ours]: averages over mel scales, over discriminators and over all feature maps
  (the final logits included). The CPU default keeps it because its recipe (lr, warm-up,
  weights) was tuned with it (benchmarks/RESULTS.md "Learning curves"); its numbers are
  unchanged by the switch.
- "bigcodec" [BigCodec]: sums, as BigCodec's public code does (Aria-K-Alethia/BigCodec,
  criterions/mel_loss.py: `loss += L1` over the 7 mel scales, no division;
  lightning_module.py compute_gen_loss / compute_disc_loss: adversarial and discriminator
  terms `sum(...)` over all MPD and spectrogram sub-discriminators of the MSE on the final
  output, feature matching `fm_loss += L1(p_[i][j], p[i][j])` for j < len(p_[i]) - 1, i.e.
  every layer except the final logits, summed over layers and sub-discriminators). With the
  weights 15/1/1/1 (config/train/default.yaml `lambdas`) this is BigCodec's balance: relative
  to the mel term, feature matching ~7x and adversarial ~1.4x stronger, VQ ~7x weaker than "mean".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

DiscOutputs = Sequence[tuple[torch.Tensor, Sequence[torch.Tensor]]]
Reduction = Literal["mean", "bigcodec"]
REDUCTIONS: tuple[str, ...] = ("mean", "bigcodec")


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown loss reduction {reduction!r}; expected one of {REDUCTIONS}")


def _reduce(terms: Sequence[torch.Tensor], reduction: Reduction) -> torch.Tensor:
    """Mean ("mean") or sum ("bigcodec") of scalar loss terms."""
    _check_reduction(reduction)
    stacked = torch.stack(list(terms))
    return stacked.mean() if reduction == "mean" else stacked.sum()


# DAC's multi-scale mel loss (conf/base.yml): window lengths and their mel counts, 5 bands per 32 samples
MEL_WINDOWS = (32, 64, 128, 256, 512, 1024, 2048)
MEL_BANDS = tuple(5 * w // 32 for w in MEL_WINDOWS)   # (5, 10, 20, 40, 80, 160, 320)


def mel_scales(windows: Sequence[int] | None = None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(window lengths, mel counts) of the multi-scale mel loss: DAC's seven, or the subset `windows`
    (`train.mel_windows`), each keeping its DAC mel count."""
    chosen = tuple(MEL_WINDOWS if windows is None else windows)
    unknown = sorted(set(chosen) - set(MEL_WINDOWS))
    if unknown or not chosen:
        raise ValueError(f"mel windows must be a non-empty subset of {MEL_WINDOWS}, got {list(chosen)}")
    bands = dict(zip(MEL_WINDOWS, MEL_BANDS))
    return chosen, tuple(bands[w] for w in chosen)


class MelReconstructionLoss(nn.Module):
    def __init__(
        self,
        sample_rate: int = 16000,
        window_lengths: Sequence[int] = MEL_WINDOWS,
        n_mels: Sequence[int] = MEL_BANDS,
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

    def forward(self, recon: torch.Tensor, target: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
        """Mean ("mean") or sum ("bigcodec") over scales of L1(log10 mel(recon), log10 mel(target));
        inputs [B, 1, T]."""
        _check_reduction(reduction)
        loss = recon.new_zeros(())
        for mel in self.mels:
            x = mel(recon).clamp_min(self.clamp_eps).log10()
            y = mel(target).clamp_min(self.clamp_eps).log10()
            loss = loss + F.l1_loss(x, y)
        return loss / len(self.mels) if reduction == "mean" else loss


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence + log-STFT-magnitude L1, averaged over resolutions (Parallel WaveGAN,
    Yamamoto et al., 2020, Eq. 5-7; its FFT/hop/window sizes scaled from 24 to 16 kHz)."""

    def __init__(
        self,
        fft_sizes: Sequence[int] = (512, 1024, 2048),
        hop_lengths: Sequence[int] = (50, 120, 240),
        win_lengths: Sequence[int] = (240, 600, 1200),
        eps: float = 1e-7,
    ) -> None:
        super().__init__()
        self.resolutions = list(zip(fft_sizes, hop_lengths, win_lengths))
        self.eps = eps
        for index, (_, _, win) in enumerate(self.resolutions):
            self.register_buffer(f"window_{index}", torch.hann_window(win), persistent=False)

    def _magnitude(self, wav: torch.Tensor, index: int) -> torch.Tensor:
        n_fft, hop, win = self.resolutions[index]
        spec = torch.stft(wav.flatten(0, -2), n_fft, hop, win, getattr(self, f"window_{index}"), return_complex=True)
        return (spec.real.square() + spec.imag.square()).clamp_min(self.eps).sqrt()

    def forward(self, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss of [B, 1, T] recon against target: mean over resolutions of SC + log-mag L1."""
        loss = recon.new_zeros(())
        for index in range(len(self.resolutions)):
            x, y = self._magnitude(recon, index), self._magnitude(target, index)
            convergence = torch.linalg.norm(y - x) / torch.linalg.norm(y).clamp_min(self.eps)
            loss = loss + convergence + F.l1_loss(x.log(), y.log())
        return loss / len(self.resolutions)


def generator_adversarial_loss(fake_outs: DiscOutputs, reduction: Reduction = "mean") -> torch.Tensor:
    """LSGAN generator term: mean ("mean") or sum ("bigcodec") over discriminators of E[(1 - D(G(x)))^2]."""
    return _reduce([(1 - logits).pow(2).mean() for logits, _ in fake_outs], reduction)


def discriminator_loss(real_outs: DiscOutputs, fake_outs: DiscOutputs, reduction: Reduction = "mean") -> torch.Tensor:
    """LSGAN discriminator term: mean ("mean") or sum ("bigcodec") over discriminators of
    E[(1 - D(x))^2] + E[D(G(x))^2]."""
    terms = [(1 - r).pow(2).mean() + f.pow(2).mean() for (r, _), (f, _) in zip(real_outs, fake_outs)]
    return _reduce(terms, reduction)


def feature_matching_loss(real_outs: DiscOutputs, fake_outs: DiscOutputs, reduction: Reduction = "mean") -> torch.Tensor:
    """L1 between feature maps of real (detached) and generated audio. "mean": mean over all maps,
    the last (the logits, which our discriminators also append to their maps) included;
    "bigcodec": sum over all maps but the last, as BigCodec leaves its final output out."""
    _check_reduction(reduction)
    skip_last = reduction == "bigcodec"
    terms = [
        F.l1_loss(f, r.detach())
        for (_, real_maps), (_, fake_maps) in zip(real_outs, fake_outs)
        for r, f in zip(real_maps[:-1] if skip_last else real_maps, fake_maps)
    ]
    return _reduce(terms, reduction)


@dataclass(frozen=True)
class VQLossWeights:
    """Weights of the VQ loss's two raw terms (van den Oord et al., 2017; [BigCodec] 0.25 / 1.0).

    The one place they are applied, so a weight cannot count twice (once in the quantizer and
    again in the trainer). Set with `train.loss_weights.commitment` / `.codebook`."""

    commitment: float = 0.25
    codebook: float = 1.0

    @classmethod
    def from_loss_weights(cls, weights: Mapping[str, float]) -> "VQLossWeights":
        return cls(commitment=float(weights["commitment"]), codebook=float(weights["codebook"]))

    def __call__(self, commit_loss: torch.Tensor, codebook_loss: torch.Tensor) -> torch.Tensor:
        """Weighted VQ loss (scalar) from raw per-codebook losses (shape [] for VQ, [G] for PQ):
        each codebook's terms are weighted, then the codebooks summed, as the paper sums PQ groups."""
        return (self.commitment * commit_loss + self.codebook * codebook_loss).sum()
