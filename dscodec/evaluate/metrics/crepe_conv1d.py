"""CREPE's forward pass with 1-D convolutions: the same weights and output, ~2x less CPU time.

torchcrepe's :class:`torchcrepe.Crepe` stores every convolution as a ``Conv2d`` with a ``(k, 1)``
kernel over a ``(batch, channels, samples, 1)`` tensor. PyTorch's CPU backend runs those ~3x
slower than the equivalent ``conv1d`` (measured on the two wide first layers, which hold ~95 % of
the model's multiply-adds: 1.8 + 1.7 s against 0.6 + 0.55 s for 794 frames of ``tiny``, one
thread). V/UV F1 runs CREPE on every reconstruction, so this was the largest evaluation cost
(benchmarks/RESULTS.md, "Evaluation cost"). We keep torchcrepe's module and weights and only
re-express its ``forward`` (``embed`` + ``layer``: pad, conv, ReLU, batch norm in eval mode,
max-pool by 2, classifier, sigmoid) on squeezed 1-D views of the same parameters.
tests/test_metrics_intrusive.py checks the output against ``Crepe.forward``.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

FIRST_LAYER_PADDING = (254, 254)   # torchcrepe Crepe.embed: F.pad(x, (0, 0, 254, 254)) on the sample axis
LAYER_PADDING = (31, 32)           # torchcrepe Crepe.layer's default padding (0, 0, 31, 32)


def crepe_forward(model: Any, frames: torch.Tensor) -> torch.Tensor:
    """Pitch-bin probabilities of ``frames`` (batch, 1024) -> (batch, 360), as ``model(frames)``.

    ``model`` is a :class:`torchcrepe.Crepe` in eval mode (batch norm uses its running statistics).
    """
    if model.training:
        raise ValueError("crepe_forward re-expresses the eval-mode forward pass; call model.eval() first")
    x = frames[:, None, :]
    for index in range(1, 7):
        conv = getattr(model, f"conv{index}")
        norm = getattr(model, f"conv{index}_BN")
        x = F.pad(x, FIRST_LAYER_PADDING if index == 1 else LAYER_PADDING)
        x = F.conv1d(x, conv.weight.squeeze(-1), conv.bias, stride=conv.stride[0])
        x = F.relu(x)
        x = F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                         training=False, momentum=0.0, eps=norm.eps)
        x = F.max_pool1d(x, 2, 2)
    # Crepe.forward: (batch, C, T, 1).permute(0, 2, 1, 3).reshape(-1, in_features), time-major features
    x = x.transpose(1, 2).reshape(-1, model.in_features)
    return torch.sigmoid(model.classifier(x))
