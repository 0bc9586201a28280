"""`dscodec encode`: audio -> .dsc bitstreams, one file or many.

    dscodec encode IN.wav OUT.dsc --checkpoint CKPT              # one file
    dscodec encode A.wav corpus/ -o codes/ --checkpoint CKPT     # files and folders
    dscodec encode --manifest list.tsv -o codes/ --checkpoint CKPT

With `-o`, every input gets `<out>/<name>.dsc` (a folder's sub-folders are kept), a progress
bar shows files, audio seconds and the real-time factor, and a bad file is reported and
skipped; the command exits 1 at the end listing the failures (dscodec.commands._batch).
"""
from __future__ import annotations

import argparse

HELP = "encode audio files into DS-Codec bitstreams (.dsc)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="IN OUT (one file), or with -o: audio files and folders (any format soundfile reads)")
    parser.add_argument("-o", "--output-dir", default=None, help="write one .dsc per input into this folder")
    parser.add_argument("--manifest", default=None, help="TSV whose first column lists audio files (needs -o)")
    from dscodec.commands._batch import add_codec_arguments

    add_codec_arguments(parser)


def encode_file(codec, source, target) -> float:
    """Encode one file into `target` (written under a temporary name, then renamed); audio seconds."""
    import os

    from dscodec import bitstream
    from dscodec.commands._batch import partial_path
    from dscodec.commands._paths import check_input_file
    from dscodec.errors import AudioError

    check_input_file(source, AudioError)
    tokens, num_samples = codec.encode_file(source)  # read chunk by chunk: memory independent of length
    stream = bitstream.Bitstream(tokens[0], codec.sample_rate, codec.hop_length, codec.codebook_size, num_samples,
                                 quantizer=codec.quantizer_kind, fingerprint=codec.fingerprint)
    tmp = partial_path(target)
    bitstream.write(tmp, stream)
    os.replace(tmp, target)
    return stream.duration_s


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dscodec import bitstream
    from dscodec.commands import _batch
    from dscodec.errors import AudioError

    _batch.set_threads(args.threads)
    if args.output_dir is None:
        source, target = _batch.single_pair(args, AudioError)
        codec = _batch.load_codec(args)
        encode_file(codec, source, target)
        stream = bitstream.read(target)
        size = Path(target).stat().st_size
        print(
            f"{target}: {stream.tokens.numel()} tokens x {stream.bits_per_token} bits, {size} bytes, "
            f"{stream.duration_s:.2f} s, payload {stream.bitrate_bps / 1000:.3f} kbps, "
            f"file {size * 8 / max(stream.duration_s, 1e-9) / 1000:.3f} kbps"
        )
        return 0
    out_dir = _batch.prepare_out_dir(Path(args.output_dir))
    jobs = _batch.collect_jobs(args.inputs, args.manifest, out_dir, _batch.AUDIO_SUFFIXES, ".dsc")
    if not jobs:
        raise AudioError("no input files (folders are searched for " + ", ".join(_batch.AUDIO_SUFFIXES) + ")")
    codec = _batch.load_codec(args)
    return _batch.run_jobs(jobs, lambda job: encode_file(codec, job.source, job.target), quiet=args.quiet)
