"""BigCodec's released checkpoint as DS-Codec-VQ's stage 1 (paper §2.3; issue 12 item 10).

The paper's DS-Codec-VQ starts stage 2 from BigCodec's released weights. At `paper` size our
mirrored VQ model is BigCodec's architecture, so the conversion is a renaming:

- weight-normed layers: ``weight_g`` / ``weight_v`` (the old hook) ->
  ``parametrizations.weight.original0`` / ``original1``;
- SnakeBeta: ``act.alpha`` / ``act.beta`` [C] (log scale, as ours) -> ``log_alpha`` /
  ``log_beta`` [1, C, 1];
- the VQ projections: weight-normed ``Linear`` [out, in] -> our 1x1 conv [out, in, 1];
- ``quantizer.layers.0._codebook.weight`` -> ``quantizer.codebook.weight``.

Strict by design: every tensor of the file must be used, every one of ours filled, every
shape must match and each anti-aliasing filter of the file must equal ours (they are fixed,
not learnt; a different filter would mean a different function). The first mismatch is
reported by name, and nothing is written. Our quantizer's running code usage, which BigCodec
has no counterpart for, is set uniform (what a fresh model holds).

The input layout is the one the official ``inference.py`` reads and
dscodec.evaluate.baselines.bigcodec loads: ``{"CodecEnc": encoder state, "generator":
decoder + quantizer state}``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from dscodec.errors import DSCodecError
from dscodec.fileio import read_checkpoint, sha256_file
from dscodec.models.checkpoint import save_checkpoint_for_inference
from dscodec.models.codec import CodecModel
from dscodec.models.sizes import ModelSize
from dscodec.nn.activations import SnakeBeta
from dscodec.nn.antialias import AntiAliasedSnakeBeta

ENCODER_KEY, DECODER_KEY = "CodecEnc", "generator"
# BigCodec's keys of the two fixed filters of each anti-aliased activation, under its prefix
UP_FILTER, DOWN_FILTER = "upsample.filter", "downsample.lowpass.filter"
FILTER_ATOL = 1e-6  # float32 rounding of the same design; another design (taps ~0.01-0.3) differs far more


class BigCodecImportError(DSCodecError):
    """A BigCodec checkpoint does not map onto the configured DS-Codec-VQ model."""


def _module_map(n_blocks: int) -> list[tuple[str, str, str]]:
    """(our module-path regex, BigCodec state, BigCodec path template) for every part."""
    return [
        # encoder: block.0 stem, block.1..n down-sampling blocks, then LSTM, Snake, conv
        (r"encoder\.pre\.(\d+)(.*)", ENCODER_KEY, "block.{0}{1}"),
        (r"encoder\.lstm(.*)", ENCODER_KEY, f"block.{n_blocks + 1}{{0}}"),
        (r"encoder\.post\.0(.*)", ENCODER_KEY, f"block.{n_blocks + 2}{{0}}"),
        (r"encoder\.post\.1(.*)", ENCODER_KEY, f"block.{n_blocks + 3}{{0}}"),
        # decoder: model.0 conv, model.1 LSTM, model.2.. up-sampling blocks, Snake, conv, tanh
        (r"decoder\.stem(.*)", DECODER_KEY, "model.0{0}"),
        (r"decoder\.lstm(.*)", DECODER_KEY, "model.1{0}"),
        (r"decoder\.post\.(\d+)(.*)", DECODER_KEY, "model.{0}{1}"),  # index shifted by 2, below
        (r"quantizer\.(in_proj|out_proj)(.*)", DECODER_KEY, "quantizer.layers.0.{0}{1}"),
        (r"quantizer\.codebook(.*)", DECODER_KEY, "quantizer.layers.0._codebook{0}"),
    ]


def _their_module(ours: str, n_blocks: int) -> tuple[str, str]:
    """BigCodec's (state, module path) for one of our module paths."""
    for pattern, state, template in _module_map(n_blocks):
        match = re.fullmatch(pattern, ours)
        if match:
            groups = list(match.groups())
            if pattern.startswith(r"decoder\.post"):
                groups[0] = str(int(groups[0]) + 2)
            return state, template.format(*groups)
    raise BigCodecImportError(f"no BigCodec counterpart for our module {ours!r} (is the model a mirrored VQ?)")


WEIGHT_NORM = {"parametrizations.weight.original0": "weight_g", "parametrizations.weight.original1": "weight_v"}


def _same(t: torch.Tensor) -> torch.Tensor:
    return t


def _leaf_map(path: str, module: nn.Module) -> dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
    """Our tensor names in `module` -> (BigCodec's name, how to bring its tensor to our layout); {} if none."""
    if isinstance(module, SnakeBeta):
        def channels_to_ours(t: torch.Tensor) -> torch.Tensor:  # [C] -> [1, C, 1]
            return t.view(1, -1, 1) if t.dim() == 1 else t
        return {"log_alpha": ("act.alpha", channels_to_ours), "log_beta": ("act.beta", channels_to_ours)}
    if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
        # BigCodec's VQ projections are weight-normed Linear layers ([out, in]); ours are 1x1 convs ([out, in, 1])
        projection = path in ("quantizer.in_proj", "quantizer.out_proj")

        def weight_to_ours(t: torch.Tensor) -> torch.Tensor:
            return t.unsqueeze(-1) if projection and t.dim() == 2 else t
        leaves = {ours: (theirs, weight_to_ours) for ours, theirs in WEIGHT_NORM.items()}
        if module.bias is not None:
            leaves["bias"] = ("bias", _same)
        return leaves
    if isinstance(module, (nn.LSTM, nn.Embedding)):
        return {name: (name, _same) for name, _ in module.named_parameters(recurse=False)}
    return {}


@dataclass(frozen=True)
class Link:
    """One of our tensors and the BigCodec tensor it is filled from."""

    ours: str                                          # our state-dict key
    state: str                                         # ENCODER_KEY or DECODER_KEY
    theirs: str                                        # key in that state
    to_ours: Callable[[torch.Tensor], torch.Tensor]    # BigCodec's layout -> ours


def tensor_links(model: CodecModel) -> tuple[list[Link], list[tuple[AntiAliasedSnakeBeta, str, str]]]:
    """Every learnt tensor of `model` linked to BigCodec's, and each anti-aliased activation
    with (state, prefix) of the BigCodec module whose fixed filters must equal its own."""
    n_blocks = len(model.size.strides)
    links: list[Link] = []
    filters: list[tuple[AntiAliasedSnakeBeta, str, str]] = []
    for path, module in model.named_modules():
        leaves = _leaf_map(path, module)
        if not leaves:
            continue
        state, prefix = _their_module(path, n_blocks)
        links += [Link(f"{path}.{ours}", state, f"{prefix}.{theirs}", fn) for ours, (theirs, fn) in leaves.items()]
        if isinstance(module, AntiAliasedSnakeBeta):
            filters.append((module, state, prefix))
    return links, filters


def _check_filters(ours: AntiAliasedSnakeBeta, theirs: Mapping[str, torch.Tensor], state: str, prefix: str,
                   used: set[tuple[str, str]]) -> None:
    for key, mine in ((UP_FILTER, ours.up_taps), (DOWN_FILTER, ours.down_taps)):
        name = f"{prefix}.{key}"
        if name not in theirs:
            raise BigCodecImportError(f"{state}[{name!r}] missing: BigCodec's anti-aliasing filter for our "
                                      f"anti-aliased activation")
        tensor = theirs[name]
        if tensor.numel() != mine.numel() or not torch.allclose(tensor.reshape(-1).double(), mine.double(),
                                                                 rtol=0, atol=FILTER_ATOL):
            raise BigCodecImportError(f"{state}[{name!r}]: filter {tensor.reshape(-1).tolist()} differs from ours "
                                      f"{mine.tolist()} (dscodec/nn/antialias.py)")
        used.add((state, name))


def convert_state(blob: Any, size: ModelSize) -> CodecModel:
    """A mirrored DS-Codec-VQ model at `size` holding BigCodec's weights; BigCodecImportError on any mismatch."""
    if not isinstance(blob, Mapping) or ENCODER_KEY not in blob or DECODER_KEY not in blob:
        found = sorted(map(str, blob))[:8] if isinstance(blob, Mapping) else type(blob).__name__
        raise BigCodecImportError(f"not a BigCodec checkpoint: expected keys {ENCODER_KEY!r} and {DECODER_KEY!r}, "
                                  f"found {found}")
    states = {ENCODER_KEY: blob[ENCODER_KEY], DECODER_KEY: blob[DECODER_KEY]}
    for state, values in states.items():
        if not isinstance(values, Mapping) or not all(isinstance(v, torch.Tensor) for v in values.values()):
            raise BigCodecImportError(f"{state!r} is not a state dict of tensors")
    if not size.anti_aliased_activations:
        raise BigCodecImportError(
            f"model size {size.name!r} has plain activations, but BigCodec's are anti-aliased, so its weights would "
            "compute another function; set `model.overrides.anti_aliased_activations: true` (the `paper` default)")
    model = CodecModel(size, quantizer="vq", decoder="mirror")
    links, filters = tensor_links(model)
    used: set[tuple[str, str]] = set()
    new_state: dict[str, torch.Tensor] = {}
    ours_state = model.state_dict()
    for link in links:
        if link.theirs not in states[link.state]:
            raise BigCodecImportError(f"{link.state}[{link.theirs!r}] missing (needed for our {link.ours})")
        tensor, target = states[link.state][link.theirs], ours_state[link.ours]
        converted = link.to_ours(tensor)
        if converted.shape != target.shape:
            raise BigCodecImportError(f"{link.state}[{link.theirs!r}] has shape {tuple(tensor.shape)}; our {link.ours} "
                                      f"needs {tuple(target.shape)} (model size {size.name!r} does not match the file)")
        new_state[link.ours] = converted.to(target.dtype)
        used.add((link.state, link.theirs))
    for module, state, prefix in filters:
        _check_filters(module, states[state], state, prefix, used)
    for state, values in states.items():
        unused = sorted(k for k in values if (state, k) not in used)
        if unused:
            raise BigCodecImportError(f"{state}[{unused[0]!r}] ({len(unused)} keys in all) has no counterpart in our "
                                      f"model at size {size.name!r}")
    expected = set(ours_state) - {"quantizer.usage"}
    missing = sorted(expected - set(new_state))
    if missing:
        raise BigCodecImportError(f"our {missing[0]} ({len(missing)} in all) got no BigCodec tensor")
    new_state["quantizer.usage"] = torch.full_like(model.quantizer.usage, 1.0 / size.codebook_size)
    model.load_state_dict(new_state, strict=True)
    return model


def import_bigcodec(source: str | Path, size: ModelSize, out: str | Path) -> Path:
    """Convert the BigCodec checkpoint `source` into a stage-1 checkpoint at `out` (written only on success).

    The file is read with ``weights_only=True`` (tensors and plain containers, as the release
    holds), so converting an untrusted file runs no pickled code. Its path and sha256 are
    recorded in the output (``init_from``) so a stage-2 run can be traced to the exact file.
    """
    source = Path(source)
    if not source.is_file():
        raise BigCodecImportError(f"BigCodec checkpoint not found: {source}")
    try:
        blob = read_checkpoint(source, "cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - truncated, foreign or object-holding files all end here
        raise BigCodecImportError(f"{source}: not a readable BigCodec checkpoint ({type(err).__name__}: "
                                  f"{str(err).splitlines()[0] if str(err) else ''})") from err
    try:
        model = convert_state(blob, size)
    except BigCodecImportError as err:
        raise BigCodecImportError(f"{source}: {err}") from None
    provenance = {"bigcodec": str(source.resolve()), "sha256": sha256_file(source)}
    return save_checkpoint_for_inference(model, out, step=0, stage=1, init_from=provenance)
