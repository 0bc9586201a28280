"""`dscodec decode`: .dsc bitstreams -> 16 kHz audio files, one file or many.

    dscodec decode IN.dsc OUT.wav --checkpoint CKPT              # one file
    dscodec decode codes/ -o audio/ --checkpoint CKPT            # files and folders (or --manifest)

The audio is written piece by piece as the decoder streams it, so memory stays bounded
for long files. With `-o`, batch behaviour is encode's (dscodec.commands._batch).
"""
from __future__ import annotations

import argparse

HELP = "decode DS-Codec bitstreams (.dsc) into 16 kHz audio files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="IN OUT (one file), or with -o: .dsc files and folders")
    parser.add_argument("-o", "--output-dir", default=None, help="write one audio file per input into this folder")
    parser.add_argument("--manifest", default=None, help="TSV whose first column lists .dsc files (needs -o)")
    parser.add_argument("--format", choices=["wav", "flac"], default="wav", help="audio format with -o")
    from dscodec.commands._batch import add_codec_arguments

    add_codec_arguments(parser)


def decode_file(codec, source, target) -> float:
    """Decode one .dsc into `target` (written under a temporary name, then renamed); audio seconds."""
    import os
    from pathlib import Path

    import soundfile as sf

    from dscodec import bitstream
    from dscodec.commands._batch import partial_path
    from dscodec.commands._paths import check_input_file
    from dscodec.errors import AudioError, BitstreamError

    check_input_file(source, BitstreamError)
    stream = bitstream.read(source)
    expected = (codec.sample_rate, codec.hop_length, codec.codebook_size)
    found = (stream.sample_rate, stream.hop_length, stream.codebook_size)
    if found != expected:
        raise BitstreamError(
            f"{source}: made by a different codec (rate, hop, codebook) = {found}; the checkpoint has {expected}"
        )
    bitstream.check_identity(stream, codec.quantizer_kind, codec.fingerprint, source=str(source))
    if stream.tokens.numel() == 0:
        raise BitstreamError(f"{source}: holds no tokens")
    target = Path(target)
    tmp = partial_path(target)
    audio_format = "FLAC" if target.suffix.lower() == ".flac" else "WAV"
    remaining = stream.num_samples
    try:
        with sf.SoundFile(tmp, "w", samplerate=codec.sample_rate, channels=1, format=audio_format) as out:
            for piece in codec.decode_stream(stream.tokens[None]):
                piece = piece[0, 0, :remaining].cpu().numpy()
                out.write(piece)
                remaining -= piece.shape[0]
    except (sf.LibsndfileError, TypeError, ValueError) as err:
        tmp.unlink(missing_ok=True)
        raise AudioError(f"{target}: cannot write audio ({err})") from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    return stream.num_samples / codec.sample_rate


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dscodec.commands import _batch
    from dscodec.errors import BitstreamError

    _batch.set_threads(args.threads)
    if args.output_dir is None:
        source, target = _batch.single_pair(args, BitstreamError)
        codec = _batch.load_codec(args)
        seconds = decode_file(codec, source, target)
        print(f"{target}: {round(seconds * codec.sample_rate)} samples at {codec.sample_rate} Hz")
        return 0
    out_dir = _batch.prepare_out_dir(Path(args.output_dir))
    jobs = _batch.collect_jobs(args.inputs, args.manifest, out_dir, _batch.BITSTREAM_SUFFIXES, "." + args.format)
    if not jobs:
        raise BitstreamError("no input files (folders are searched for .dsc)")
    codec = _batch.load_codec(args)
    return _batch.run_jobs(jobs, lambda job: decode_file(codec, job.source, job.target), quiet=args.quiet)
