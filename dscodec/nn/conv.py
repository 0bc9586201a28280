"""Weight-normalised convolutions (as in HiFi-GAN, DAC, BigCodec).

Weight normalisation decouples the scale of each filter from its direction, which keeps
GAN-trained generators stable; we use the maintained
`torch.nn.utils.parametrizations.weight_norm` rather than the deprecated hook version.
Initialisation: PyTorch's default (Kaiming-uniform) filters, zero bias. This is what
DAC and BigCodec effectively train from: their `init_weights` writes a truncated normal
(std 0.02) into `module.weight` *after* the old hook-style `weight_norm` was applied, and
that hook recomputes `weight` from `weight_g`/`weight_v` on every forward, so only the
zero bias takes effect. Applying the std-0.02 init *before* weight norm (an earlier
version of this file) makes every filter's norm ~0.1, shrinks the signal ~10x per encoder
block, and the latent at initialisation is nearly constant over time; a factorised VQ fed
that latent picks one code for every frame and never recovers (perplexity 1).
"""
from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def _init(module: nn.Module) -> nn.Module:
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return weight_norm(module)


def WNConv1d(*args, **kwargs) -> nn.Conv1d:  # noqa: N802 (reads like a class)
    """`nn.Conv1d` with weight normalisation."""
    return _init(nn.Conv1d(*args, **kwargs))


def WNConvTranspose1d(*args, **kwargs) -> nn.ConvTranspose1d:  # noqa: N802
    """`nn.ConvTranspose1d` with weight normalisation (decoder up-sampling)."""
    return _init(nn.ConvTranspose1d(*args, **kwargs))


def WNConv2d(*args, **kwargs) -> nn.Conv2d:  # noqa: N802
    """`nn.Conv2d` with weight normalisation (discriminators)."""
    return _init(nn.Conv2d(*args, **kwargs))
