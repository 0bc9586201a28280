"""Weight-normalised convolutions (as in HiFi-GAN, DAC, BigCodec).

Weight normalisation decouples the scale of each filter from its direction, which keeps
GAN-trained generators stable; we use the maintained
`torch.nn.utils.parametrizations.weight_norm` rather than the deprecated hook version.
Initialisation follows BigCodec/DAC: truncated normal (std 0.02), zero bias.
"""
from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def _init(module: nn.Module) -> nn.Module:
    nn.init.trunc_normal_(module.weight, std=0.02)
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
