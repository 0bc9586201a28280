"""Inference form of a trained codec: weight norm folded into plain weights.

Why: `torch.nn.utils.parametrizations.weight_norm` recomputes every conv filter from its
direction and scale (`g * v / |v|`) on every forward call. Training needs that; inference
does not: the filter is fixed, so it is computed once here and stored as a plain weight.
Folding removes that recomputation and the extra copy of every weight it allocates per call
(benchmarks/bench_codec.py measures the gain; tests/test_inference.py checks the outputs
against the training-time model).

The quantizer keeps its weight norm: it is tiny, and its parameter names and values are
what the `.dsc` fingerprint (dscodec.bitstream.quantizer_fingerprint) hashes, so folding it
would change the identity every bitstream records.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from dscodec.models.codec import CodecModel


def fold_weight_norm(module: nn.Module) -> int:
    """Replace every parametrised `weight` under `module` by its current value, in place.

    Returns the number of folded weights.
    """
    folded = 0
    for sub in module.modules():
        if parametrize.is_parametrized(sub, "weight"):
            parametrize.remove_parametrizations(sub, "weight", leave_parametrized=True)
            folded += 1
    return folded


def for_inference(model: CodecModel) -> CodecModel:
    """The model in eval mode with encoder and decoder weight norm folded, gradients off, in place.

    Use `inference_copy` if the training-time module is still needed.
    """
    model.eval()
    fold_weight_norm(model.encoder)
    fold_weight_norm(model.decoder)
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def is_folded(model: CodecModel) -> bool:
    """True when no conv of the encoder or decoder still carries a weight-norm parametrisation."""
    return not any(
        parametrize.is_parametrized(m, "weight") for part in (model.encoder, model.decoder) for m in part.modules()
    )



def inference_copy(model: CodecModel) -> CodecModel:
    """A folded copy on the CPU in float32; `model` itself is left as it is.

    Why not `copy.deepcopy`: a deep copy of a parametrised module shares its dynamically
    created class with the original, and removing the copy's parametrisation deletes the
    `weight` property from that shared class, breaking the original (PyTorch 2.9). A fresh
    module loaded from the state dict has classes of its own.
    """
    fresh = CodecModel.from_codec_config(model.codec_config())
    fresh.load_state_dict({k: v.detach().to("cpu", torch.float32) for k, v in model.state_dict().items()})
    return for_inference(fresh)
