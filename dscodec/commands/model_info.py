"""`dscodec model-info --size S`: parameter counts, token rate and bitrate of a model size."""
from __future__ import annotations

import argparse

HELP = "print parameter counts, token rate and bitrate of a DS-Codec model size"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", default=None, help="tiny | small | paper (default: all)")
    parser.add_argument("--config", default=None,
                        help="resolved config: use its model.size, model.overrides and train.discriminator_overrides")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def describe(size_name: str, overrides: dict | None = None, discriminator_overrides: dict | None = None) -> dict:
    from dscodec.models import CodecModel, get_size
    from dscodec.models.discriminator_sizes import get_discriminator_size
    from dscodec.models.discriminators import Discriminators
    from dscodec.bitstream import bits_for

    size = get_size(size_name, overrides)
    rows = {}
    for quantizer in ("vq", "pq"):
        model = CodecModel(size, quantizer=quantizer, decoder="transformer")
        counts = model.num_parameters()
        bits = bits_for(model.codebook_size)
        rows[quantizer] = {
            "codebook_size": model.codebook_size,
            "bits_per_token": bits,
            "kbps": bits * size.frame_rate / 1000,
            "encoder": counts["encoder"],
            "quantizer": counts["quantizer"],
            "decoder_mirror": counts["decoder"] - counts["transformer"],
            "transformer": counts["transformer"],
            "total_mirror": counts["total"] - counts["transformer"],
            "total_nonmirror": counts["total"],
        }
    disc_size = get_discriminator_size(size_name, discriminator_overrides)
    disc = sum(p.numel() for p in Discriminators(disc_size).parameters())
    return {"size": size.name, "hop_length": size.hop_length, "tokens_per_s": size.frame_rate,
            "discriminators": disc, "quantizers": rows}


def run(args: argparse.Namespace) -> int:
    import json

    from dscodec.models.sizes import PRESETS

    overrides = discriminator_overrides = None
    if args.config:
        from dscodec.config import load_resolved

        cfg = load_resolved(args.config)
        names = [args.size or cfg["model"]["size"]]
        overrides = cfg["model"].get("overrides") or None
        discriminator_overrides = cfg["train"].get("discriminator_overrides") or None
    else:
        names = [args.size] if args.size else list(PRESETS)
    infos = [describe(name, overrides, discriminator_overrides) for name in names]
    if args.json:
        print(json.dumps(infos, indent=2))
        return 0
    for info in infos:
        print(f"== {info['size']}: hop {info['hop_length']}, {info['tokens_per_s']:g} tokens/s, "
              f"discriminators {info['discriminators']:,} params")
        for q, r in info["quantizers"].items():
            print(
                f"  {q}: K={r['codebook_size']} ({r['bits_per_token']} bits, {r['kbps']:.2f} kbps) | "
                f"encoder {r['encoder']:,} + quantizer {r['quantizer']:,} + decoder {r['decoder_mirror']:,} "
                f"= {r['total_mirror']:,} (mirror); + transformer {r['transformer']:,} "
                f"= {r['total_nonmirror']:,} (non-mirror)"
            )
    return 0
