"""Does dynamic int8 quantisation of the ONNX graphs bring `paper` size near issue 14's RTF 0.20?

Exports a randomly initialised `paper` model with `dscodec export`'s code (`export_onnx`), quantises
both graphs with onnxruntime's `quantize_dynamic` (int8 weights, activations quantised per call),
and times fp32 against int8 side by side in one process on the same 10 s signal, 2 threads, best of
2 (wall RTF = seconds per second of audio). Also prints how far int8 moves the outputs: token
agreement of the two encoders and the decoders' error on the same tokens (random weights, so only
a rough guide to what trained weights would do).

    python benchmarks/probe_onnx_int8.py --ops all            # every op onnxruntime can quantise
    python benchmarks/probe_onnx_int8.py --ops LSTM MatMul Gemm
    python benchmarks/probe_onnx_int8.py --static --ops Conv ConvTranspose MatMul   # QDQ, calibrated

`--static` quantises with `quantize_static` instead (QDQ format, per-channel int8 weights, uint8
activations with ranges calibrated on a few seconds of the same kind of signal), which lets
onnxruntime fuse Conv into QLinearConv rather than the ConvInteger of dynamic quantisation.

A probe, not a shipped path: nothing in `DSCodec` uses int8 graphs.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np


def session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def best_rtf(encoder, decoder, audio: np.ndarray, seconds: float, repeats: int) -> tuple[float, float, np.ndarray]:
    """Best-of-`repeats` wall RTF of encode and of decode, and the codes."""
    enc_in, dec_in = encoder.get_inputs()[0].name, decoder.get_inputs()[0].name
    best_enc = best_dec = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        codes = encoder.run(None, {enc_in: audio})[0]
        t1 = time.perf_counter()
        decoder.run(None, {dec_in: codes})
        t2 = time.perf_counter()
        best_enc, best_dec = min(best_enc, t1 - t0), min(best_dec, t2 - t1)
    return best_enc / seconds, best_dec / seconds, codes


def quantize_calibrated(folder: Path, fp32: list, ops: list[str] | None, calibration_audio: np.ndarray) -> None:
    """int8-ENCODER/DECODER files in `folder` by `quantize_static` (QDQ), calibrated on one clip and
    its codes; `fp32` = the [encoder, decoder] sessions of the fp32 graphs there."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from dscodec.onnx_export import DECODER_FILE, ENCODER_FILE

    class OneInput(CalibrationDataReader):
        def __init__(self, name: str, value: np.ndarray) -> None:
            self.items = iter([{name: value}])

        def get_next(self):
            return next(self.items, None)

    encoder, decoder = fp32
    codes = encoder.run(None, {encoder.get_inputs()[0].name: calibration_audio})[0]
    for name, graph, value in ((ENCODER_FILE, encoder, calibration_audio), (DECODER_FILE, decoder, codes)):
        quantize_static(str(folder / name), str(folder / f"int8-{name}"), OneInput(graph.get_inputs()[0].name, value),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, op_types_to_quantize=ops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="paper")
    parser.add_argument("--ops", nargs="+", default=["all"], help="op types to quantise, or 'all'")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--static", action="store_true", help="calibrated QDQ quantisation (quantize_static)")
    args = parser.parse_args()

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from dscodec.models import CodecModel, get_size
    from dscodec.onnx_export import DECODER_FILE, ENCODER_FILE, export_onnx

    logging.getLogger().setLevel(logging.ERROR)   # quantize_dynamic warns once per Slice it skips
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n = int(16000 * args.seconds)
    t = np.arange(n) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 140 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
             + 0.02 * rng.standard_normal(n)).astype(np.float32)[None, None]
    ops = None if args.ops == ["all"] else args.ops
    with tempfile.TemporaryDirectory(prefix="onnx-int8-") as tmp:
        folder = Path(tmp)
        export_onnx(CodecModel(get_size(args.size), quantizer="vq", decoder="transformer"), folder)
        fp32 = [session(folder / name, args.threads) for name in (ENCODER_FILE, DECODER_FILE)]
        if args.static:
            quantize_calibrated(folder, fp32, ops, audio[..., : 16000 * 2])
        else:
            for name in (ENCODER_FILE, DECODER_FILE):
                quantize_dynamic(str(folder / name), str(folder / f"int8-{name}"), weight_type=QuantType.QInt8,
                                 op_types_to_quantize=ops)
        int8 = [session(folder / f"int8-{name}", args.threads) for name in (ENCODER_FILE, DECODER_FILE)]
        enc32, dec32, codes32 = best_rtf(*fp32, audio, args.seconds, args.repeats)
        enc8, dec8, codes8 = best_rtf(*int8, audio, args.seconds, args.repeats)
        dec_in = fp32[1].get_inputs()[0].name
        ref, approx = fp32[1].run(None, {dec_in: codes32})[0], int8[1].run(None, {dec_in: codes32})[0]
    rel = float(np.sqrt(np.mean((ref - approx) ** 2)) / (np.sqrt(np.mean(ref ** 2)) + 1e-12))
    print(f"size {args.size}, {'static' if args.static else 'dynamic'}, ops {' '.join(args.ops)}, {args.seconds:g} s, {args.threads} threads, best of {args.repeats}")
    print("| graphs | encode RTF | decode RTF |\n|---|---|---|")
    print(f"| fp32 | {enc32:.3f} | {dec32:.3f} |\n| int8 | {enc8:.3f} | {dec8:.3f} |")
    print(f"| int8 / fp32 | {enc8 / enc32:.2f} | {dec8 / dec32:.2f} |")
    print(f"token agreement (int8 vs fp32 encoder): {np.mean(codes8 == codes32):.3f}; "
          f"decoder relative RMS error on the same tokens: {rel:.4f}")


if __name__ == "__main__":
    main()
