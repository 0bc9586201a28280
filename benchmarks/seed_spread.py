"""How far do the DS-Codec rows move when only the training seed changes? Spread across seeds vs. the tables' CIs.

Why: a table cell's 95 % CI is over the utterances scored with *one* trained model; it says nothing
of how much another training of the same recipe would differ. At the default's ~400 steps that can
be more than the gaps between systems (README, "Results of the default run"). This reads the
evaluations of several finished runs that differ only in the top-level `seed` (same corpus, config
and code) and prints, per test set, system and metric: each seed's mean, the spread across seeds
(max - min) beside the mean within-run CI half-width, and for the paper's two ablation questions
(VQ vs PQ; stage 2 vs stage 1) each seed's difference and whether its sign holds for every seed.

    snakemake --cores 2 R/eval/ds_codec_vq-stage2/librispeech_test/summary.json ... \\
        --configfile overlay-seed1.yaml          # seed: 1, results_dir: R
    python benchmarks/seed_spread.py --run seed0=results --run seed1=R1 --run seed2=R2
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

METRICS = ["pesq_wb", "stoi", "vuv_f1", "speaker_sim", "dnsmos_ovrl"]
ENTITIES = ["ds_codec_vq-stage1", "ds_codec_vq-stage2", "ds_codec_pq-stage1", "ds_codec_pq-stage2"]
TESTSETS = ["librispeech_test", "ljspeech_eval"]
# (question, entity A, entity B): the difference A - B per seed
CONTRASTS = [("VQ - PQ, stage 2", "ds_codec_vq-stage2", "ds_codec_pq-stage2"),
             ("VQ - PQ, stage 1", "ds_codec_vq-stage1", "ds_codec_pq-stage1"),
             ("VQ: stage 2 - stage 1", "ds_codec_vq-stage2", "ds_codec_vq-stage1"),
             ("PQ: stage 2 - stage 1", "ds_codec_pq-stage2", "ds_codec_pq-stage1")]


def cell(results: Path, entity: str, testset: str, metric: str) -> dict[str, Any] | None:
    path = results / "eval" / entity / testset / "summary.json"
    if not path.is_file():
        return None
    entry = (json.loads(path.read_text()).get("metrics") or {}).get(metric) or {}
    return entry if entry.get("mean") is not None else None


def contrast(runs: list[tuple[str, Path]], a: str, b: str, testset: str, metric: str
             ) -> tuple[list[float | None], bool]:
    """(A - B per run, None where either is missing; True when every run has it and all share one sign)."""
    diffs: list[float | None] = []
    for _, path in runs:
        ca, cb = cell(path, a, testset, metric), cell(path, b, testset, metric)
        diffs.append(ca["mean"] - cb["mean"] if ca and cb else None)
    known = [d for d in diffs if d is not None]
    same = bool(known) and len(known) == len(diffs) and (all(d > 0 for d in known) or all(d < 0 for d in known))
    return diffs, same


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", action="append", required=True, metavar="NAME=RESULTS_DIR",
                        help="a finished run's results dir, named (e.g. seed1=/path/results)")
    parser.add_argument("--metrics", nargs="+", default=METRICS)
    parser.add_argument("--testsets", nargs="+", default=TESTSETS)
    args = parser.parse_args()
    runs = [(name, Path(path)) for name, path in (item.split("=", 1) for item in args.run)]
    names = [name for name, _ in runs]

    print("## Per system: each seed's mean, spread across seeds, mean within-run CI\n")
    print(f"| test set | system | metric | {' | '.join(names)} | spread (max - min) | mean CI half-width |")
    print("|---|---|---|" + "---|" * len(names) + "---|---|")
    for testset in args.testsets:
        for entity in ENTITIES:
            for metric in args.metrics:
                cells = [cell(path, entity, testset, metric) for _, path in runs]
                means = [c["mean"] for c in cells if c]
                cis = [c["ci95"] for c in cells if c and c.get("ci95") is not None]
                if not means:
                    continue
                spread = max(means) - min(means) if len(means) > 1 else None
                ci = sum(cis) / len(cis) if cis else None
                print(f"| {testset} | {entity} | {metric} | "
                      + " | ".join(fmt(c["mean"] if c else None) for c in cells)
                      + f" | {fmt(spread)} | {fmt(ci)} |")

    print("\n## Ablation contrasts: difference per seed, and whether its sign holds for every seed\n")
    print(f"| test set | contrast | metric | {' | '.join(names)} | same sign in every seed |")
    print("|---|---|---|" + "---|" * len(names) + "---|")
    for testset in args.testsets:
        for label, a, b in CONTRASTS:
            for metric in args.metrics:
                diffs, same = contrast(runs, a, b, testset, metric)
                if all(d is None for d in diffs):
                    continue
                print(f"| {testset} | {label} | {metric} | " + " | ".join(
                    "-" if d is None else f"{d:+.3f}" for d in diffs) + f" | {'yes' if same else 'no'} |")


if __name__ == "__main__":
    main()
