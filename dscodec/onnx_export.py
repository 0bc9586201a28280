"""ONNX export of a codec checkpoint, and a runner for the exported graphs.

`export_onnx` writes into one folder:

    encoder.onnx   audio [B, 1, T] float32 (16 kHz, T a multiple of the hop) -> codes [B, T / hop] int64
    decoder.onnx   codes [B, F] int64 -> audio [B, 1, F * hop] float32
    codec.json     format, sample rate, hop, codebook size, quantizer kind and fingerprint, opset

Both graphs have dynamic batch and length axes. They are single-pass graphs (the whole
signal at once): the chunked, bounded-memory path of dscodec.models.streaming is a
PyTorch loop with an LSTM state, which the graphs do not contain, so memory with the
ONNX backend grows with the file length (use the PyTorch backend for long files).

Why the legacy (TorchScript-tracing) exporter: it needs only the `onnx` package, while
the dynamo exporter would add `onnxscript`; the graphs are traced from the folded
inference model (dscodec.models.inference), so there is no weight norm in them.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dscodec import bitstream
from dscodec.errors import DSCodecError
from dscodec.models.codec import CodecModel
from dscodec.models.inference import inference_copy

ONNX_FORMAT = "dscodec-onnx-v1"
OPSET = 17
ENCODER_FILE, DECODER_FILE, META_FILE = "encoder.onnx", "decoder.onnx", "codec.json"


class _PlainRMSNorm(nn.Module):
    """`nn.RMSNorm` written out in basic ops: the exporter at opset 17 has no `rms_norm`."""

    def __init__(self, norm: nn.RMSNorm) -> None:
        super().__init__()
        self.weight, self.eps = norm.weight, float(norm.eps if norm.eps is not None else torch.finfo(torch.float32).eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def _plain_rms_norms(module: nn.Module) -> None:
    """Swap every `nn.RMSNorm` under `module` for `_PlainRMSNorm`, in place."""
    for name, child in module.named_children():
        if isinstance(child, nn.RMSNorm):
            setattr(module, name, _PlainRMSNorm(child))
        else:
            _plain_rms_norms(child)


class _EncodeGraph(nn.Module):
    def __init__(self, model: CodecModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.model.quantizer.encode(self.model.encoder(audio))


class _DecodeGraph(nn.Module):
    def __init__(self, model: CodecModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decoder(self.model.quantizer.decode(codes))


def export_onnx(model: CodecModel, folder: str | Path) -> dict[str, Any]:
    """Write encoder.onnx, decoder.onnx and codec.json into `folder` (created); return the JSON."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fingerprint = bitstream.quantizer_fingerprint(model.quantizer)  # before anything is changed
    model = inference_copy(model)
    _plain_rms_norms(model)
    # Trace with more frames than the attention window, so the band mask is part of the graph
    # (for shorter inputs it is all-true, i.e. the same as no mask).
    window = model.size.transformer_window
    frames = max(16, 2 * window + 8)
    audio = torch.zeros(1, 1, frames * model.hop_length)
    audio[..., ::7] = 0.1  # not all zeros: keeps no branch constant-folded on a silent input
    codes = torch.zeros(1, frames, dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation notices about the legacy exporter
        torch.onnx.export(
            _EncodeGraph(model), (audio,), str(folder / ENCODER_FILE), input_names=["audio"],
            output_names=["codes"], dynamic_axes={"audio": {0: "batch", 2: "samples"}, "codes": {0: "batch", 1: "frames"}},
            opset_version=OPSET, dynamo=False,
        )
        torch.onnx.export(
            _DecodeGraph(model), (codes,), str(folder / DECODER_FILE), input_names=["codes"],
            output_names=["audio"], dynamic_axes={"codes": {0: "batch", 1: "frames"}, "audio": {0: "batch", 2: "samples"}},
            opset_version=OPSET, dynamo=False,
        )
    meta = {
        "format": ONNX_FORMAT,
        "sample_rate": model.sample_rate,
        "hop_length": model.hop_length,
        "codebook_size": model.codebook_size,
        "quantizer": str(model.quantizer_kind),
        "fingerprint": fingerprint.hex(),
        "opset": OPSET,
        "encoder": ENCODER_FILE,
        "decoder": DECODER_FILE,
        "codec_config": model.codec_config(),
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


class OnnxCodecGraphs:
    """The exported graphs in onnxruntime sessions, with the attributes `DSCodec` reads."""

    def __init__(self, folder: str | Path, threads: int | None = None) -> None:
        folder = Path(folder)
        meta_path = folder / META_FILE if folder.is_dir() else folder
        if not meta_path.is_file():
            raise DSCodecError(f"{folder}: no {META_FILE} (export one with `dscodec export CHECKPOINT --format onnx`)")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != ONNX_FORMAT:
            raise DSCodecError(f"{meta_path}: not a {ONNX_FORMAT} description")
        self.meta = meta
        self.sample_rate: int = int(meta["sample_rate"])
        self.hop_length: int = int(meta["hop_length"])
        self.codebook_size: int = int(meta["codebook_size"])
        self.quantizer_kind: str = str(meta["quantizer"])
        self.fingerprint: bytes = bytes.fromhex(meta["fingerprint"])
        self._folder = meta_path.parent
        self._threads = threads or len(os.sched_getaffinity(0))
        self._sessions: dict[str, Any] = {}

    def _session(self, part: str) -> Any:
        """The encoder or decoder session, created on first use: an encode-only user never
        holds the decoder's weights in memory (and the reverse)."""
        if part not in self._sessions:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
            path = self._folder / self.meta[part]
            if not path.is_file():
                raise DSCodecError(f"{path}: missing (re-run `dscodec export`)")
            self._sessions[part] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return self._sessions[part]

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Float [B, 1, T] (T a multiple of the hop) -> codes Long [B, T / hop]."""
        x = np.ascontiguousarray(audio.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(self._session("encoder").run(["codes"], {"audio": x})[0]).long()

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes Long [B, F] -> float [B, 1, F * hop]."""
        x = np.ascontiguousarray(codes.detach().cpu().numpy(), dtype=np.int64)
        return torch.from_numpy(self._session("decoder").run(["audio"], {"codes": x})[0])
