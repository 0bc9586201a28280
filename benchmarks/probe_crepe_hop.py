"""V/UV F1 at CREPE hops of 10 ms (the Vocos protocol) and 20 ms on a finished run's reconstructions.

Why: `evaluation.crepe_hop_ms` halves the metric's CREPE frames, its largest cost on a CPU
(benchmarks/RESULTS.md, "Evaluation cost"). Before the CPU default uses a coarser hop, this shows
what it does to the numbers a reader compares: per system and test set, the mean V/UV F1 and its
95 % CI at both hops, the mean per-utterance difference, and whether the systems keep their order.

It re-scores the audio a run already wrote (R/eval/<system>/<testset>/audio/*.flac), aligned at
the lag the run recorded (scores.parquet `delay_samples`), against the same references. The
10 ms column is compared with the run's own `vuv_f1` (`same_as_run`, `max_abs_diff_vs_run`: the
saved FLAC is 16-bit where the run scored the float output, so a few utterances may differ).

    python benchmarks/probe_crepe_hop.py --results /path/to/finished/results --hops 10 20
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dscodec.audio import load_audio  # noqa: E402
from dscodec.evaluate.align import shift  # noqa: E402
from dscodec.evaluate.metrics.pitch import VoicingF1  # noqa: E402
from dscodec.evaluate.stats import mean_ci95  # noqa: E402

SAMPLE_RATE = 16000


def systems(results: Path, testset: str) -> list[Path]:
    """Job folders of `testset` that wrote audio and scored V/UV F1."""
    out = []
    for job in sorted((results / "eval").iterdir()):
        folder = job / testset
        if (folder / "audio").is_dir() and (folder / "scores.parquet").is_file():
            out.append(folder)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--testsets", nargs="+", default=["librispeech_test", "ljspeech_eval"])
    parser.add_argument("--hops", nargs="+", type=int, default=[10, 20])
    parser.add_argument("--crepe", default="tiny")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    metrics = {hop: VoicingF1({"crepe_model": args.crepe, "crepe_hop_ms": hop}) for hop in args.hops}
    for metric in metrics.values():
        metric.load()
    manifests = {"librispeech_test": args.results / "data" / "librispeech" / "test.tsv",
                 "ljspeech_eval": args.results / "data" / "ljspeech" / "eval.tsv"}
    rows = []
    for testset in args.testsets:
        paths = pd.read_csv(manifests[testset], sep="\t").set_index("id")["path"].to_dict()
        refs: dict[str, np.ndarray] = {}
        ref_features: dict[tuple[int, str, int], dict] = {}
        for folder in systems(args.results, testset):
            scores = pd.read_parquet(folder / "scores.parquet")
            per_hop: dict[int, list[float]] = {hop: [] for hop in args.hops}
            seconds = {hop: 0.0 for hop in args.hops}
            run_values: list[tuple[float, float]] = []    # (re-scored at 10 ms, the run's own)
            for rec in scores.itertuples():
                if pd.isna(rec.vuv_f1) or pd.isna(rec.delay_samples):
                    continue
                if rec.id not in refs:
                    refs[rec.id] = load_audio(paths[rec.id], SAMPLE_RATE)[0].numpy()
                deg = load_audio(folder / "audio" / f"{rec.id}.flac", SAMPLE_RATE)[0].numpy()
                ref_a, deg_a = shift(refs[rec.id], deg, int(rec.delay_samples))
                for hop, metric in metrics.items():
                    key = (hop, rec.id, ref_a.size)
                    t0 = time.process_time()
                    if key not in ref_features:
                        ref_features[key] = metric.reference_features(ref_a)
                    value = metric.score(ref_a, deg_a, ref_features=ref_features[key])["vuv_f1"]
                    seconds[hop] += time.process_time() - t0
                    per_hop[hop].append(value)
                if 10 in metrics:
                    run_values.append((per_hop[10][-1], float(rec.vuv_f1)))
            if not per_hop[args.hops[0]]:
                continue
            row = {"testset": testset, "system": folder.parent.name, "n": len(per_hop[args.hops[0]])}
            for hop in args.hops:
                mean, ci = mean_ci95(np.asarray(per_hop[hop]))
                row[f"f1_{hop}"], row[f"ci_{hop}"] = mean, ci
                row[f"cpu_s_per_utt_{hop}"] = seconds[hop] / row["n"]
            if run_values:  # the saved FLAC is 16-bit, the run scored floats: equal up to that rounding
                again, own = (np.asarray(v) for v in zip(*run_values))
                row["same_as_run"] = int(np.sum(np.abs(again - own) < 1e-9))
                row["max_abs_diff_vs_run"] = float(np.max(np.abs(again - own)))
            if len(args.hops) > 1:
                a, b = (np.asarray(per_hop[h]) for h in args.hops[:2])
                row["mean_diff"], row["max_abs_diff"] = float(np.mean(b - a)), float(np.max(np.abs(b - a)))
            rows.append(row)
            print(json.dumps(row), flush=True)
    frame = pd.DataFrame(rows)
    for testset, group in frame.groupby("testset"):
        orders = [list(group.sort_values(f"f1_{hop}", ascending=False)["system"]) for hop in args.hops]
        print(f"{testset}: order at {args.hops[0]} ms == order at {args.hops[-1]} ms: {orders[0] == orders[-1]}")
    print(frame.to_markdown(index=False, floatfmt=".3f"))
    if args.json:
        args.json.write_text(frame.to_json(orient="records", indent=1))


if __name__ == "__main__":
    main()
