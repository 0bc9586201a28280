"""`dscodec encode IN.wav OUT.dsc --checkpoint CKPT`: audio file -> .dsc bitstream."""
from __future__ import annotations

import argparse

HELP = "encode an audio file into a DS-Codec bitstream (.dsc)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="audio file (any format soundfile reads; any rate, any channels)")
    parser.add_argument("output", help="bitstream to write (.dsc)")
    parser.add_argument("--checkpoint", required=True, help="codec checkpoint (dscodec-ckpt-v1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--chunk-seconds", type=float, default=10.0, help="model chunk length (memory bound)")


def run(args: argparse.Namespace) -> int:
    from dscodec import bitstream
    from dscodec.audio import load_audio
    from dscodec.codec_api import DSCodec
    from dscodec.commands._paths import check_input_file, check_output_file
    from dscodec.errors import AudioError

    check_input_file(args.input, AudioError)
    check_output_file(args.output)  # before the model runs, not after
    codec = DSCodec.from_checkpoint(args.checkpoint, device=args.device, chunk_seconds=args.chunk_seconds)
    wav = load_audio(args.input, target_sr=codec.sample_rate)  # [1, T] mono at 16 kHz
    tokens = codec.encode(wav, codec.sample_rate)[0]
    stream = bitstream.Bitstream(tokens, codec.sample_rate, codec.hop_length, codec.codebook_size, wav.shape[-1],
                                 quantizer=codec.quantizer_kind, fingerprint=codec.fingerprint)
    size = bitstream.write(args.output, stream)
    print(
        f"{args.output}: {tokens.numel()} tokens x {stream.bits_per_token} bits, {size} bytes, "
        f"{stream.duration_s:.2f} s, payload {stream.bitrate_bps / 1000:.3f} kbps, "
        f"file {size * 8 / max(stream.duration_s, 1e-9) / 1000:.3f} kbps"
    )
    return 0
