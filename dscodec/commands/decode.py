"""`dscodec decode IN.dsc OUT.wav --checkpoint CKPT`: .dsc bitstream -> 16 kHz audio file.

The audio is written piece by piece as the decoder streams it, so memory stays bounded
for long files.
"""
from __future__ import annotations

import argparse

HELP = "decode a DS-Codec bitstream (.dsc) into a 16 kHz audio file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="bitstream (.dsc)")
    parser.add_argument("output", help="audio file to write (.wav or .flac)")
    parser.add_argument("--checkpoint", required=True, help="codec checkpoint (dscodec-ckpt-v1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--chunk-seconds", type=float, default=10.0, help="model chunk length (memory bound)")


def run(args: argparse.Namespace) -> int:
    import soundfile as sf

    from dscodec import bitstream
    from dscodec.codec_api import DSCodec
    from dscodec.commands._paths import check_input_file, check_output_file
    from dscodec.errors import AudioError, BitstreamError

    check_input_file(args.input, BitstreamError)
    check_output_file(args.output)  # before the model runs, not after
    stream = bitstream.read(args.input)
    codec = DSCodec.from_checkpoint(args.checkpoint, device=args.device, chunk_seconds=args.chunk_seconds)
    expected = (codec.sample_rate, codec.hop_length, codec.codebook_size)
    found = (stream.sample_rate, stream.hop_length, stream.codebook_size)
    if found != expected:
        raise BitstreamError(
            f"{args.input}: made by a different codec (rate, hop, codebook) = {found}; "
            f"the checkpoint has {expected}"
        )
    bitstream.check_identity(stream, codec.quantizer_kind, codec.fingerprint, source=args.input)
    if stream.tokens.numel() == 0:
        raise BitstreamError(f"{args.input}: holds no tokens")
    remaining = stream.num_samples
    try:
        with sf.SoundFile(args.output, "w", samplerate=codec.sample_rate, channels=1) as out:
            for piece in codec.decode_stream(stream.tokens[None]):
                piece = piece[0, 0, :remaining].cpu().numpy()
                out.write(piece)
                remaining -= piece.shape[0]
    except (sf.LibsndfileError, TypeError, ValueError) as err:
        raise AudioError(f"{args.output}: cannot write audio ({err})") from err
    print(f"{args.output}: {stream.num_samples} samples at {codec.sample_rate} Hz")
    return 0
