"""Evaluation cost per job: the code before issue 11 vs now, reference cache cold vs warm.

An evaluation job is `dscodec evaluate` on one (system or baseline, test set); the default run
has ~15 per test set. This runs such jobs, each in a fresh process exactly as Snakemake does
(imports, model loads, reconstruction, scoring), against a *copy* of a finished run's results
(its config, manifests and checkpoints; nothing of the original is written), and prints per
variant: wall-clock, CPU time of the process, seconds per utterance, reconstruction seconds,
and per-metric scoring seconds per utterance (from summary.json; the former code did not
record them, "-").

Variants:
    before   the code at --before (a git ref, checked out in a temporary worktree)
    cold     this checkout, reference-feature and token caches emptied first
    warm     this checkout, reference features cached by the previous job (what every job after
             the first one on a test set sees), token cache emptied (a stage-1 job encodes itself)
    shared   as warm, with the tokens of the job's encoder cached too: what a stage-2 job sees
             once its stage-1 job has run (the same encoder, dscodec/evaluate/token_cache.py)

    python benchmarks/bench_eval.py --results /tmp/copy/results --before 738b32b \\
        --job system:ds_codec_vq:2 --job baseline:opus_6kbps --utterances 6 24
    python benchmarks/bench_eval.py ... --write benchmarks/RESULTS.md

Job time per test set (`--per-testset`): one test set of the run's config has a job per stage-1
training, per system's stage 2, per baseline and the references. From the measured jobs (one
DS-Codec system at stages 1 and 2, each classical baseline, the ground truth and one neural
baseline that writes *not run*) the benchmark sums what a run pays: the former code every job
as measured; today's code the first stage-1 job cold, the other stage-1 jobs warm (reference
features cached), the stage-2 jobs `shared` (their stage 1's tokens cached, else `warm`), the
classical baselines warm (their cut references derived from the cached whole ones), the ground
truth as measured. It prints each variant's total and today's over the former's:

    python benchmarks/bench_eval.py --results NEW/results --before-results OLD/results --before 54e5614 \\
        --variants before cold warm shared --before-utterances 6 --utterances 24 --per-testset \\
        --job system:ds_codec_vq:1 --job system:ds_codec_vq:2 --job baseline:opus_6kbps \\
        --job baseline:codec2_1200 --job baseline:codec2_3200 --job ground-truth --job baseline:encodec_6kbps

Former code often cannot load today's checkpoints (the model's fields grew). Then measure each code
on a run it trained itself: `--variants before` on a run made by the former checkout (its config is
pruned to the former schema when today's keys were added since), `--variants cold warm` on a run of
today's code; a former run's config that today's schema rejects is read with today's defaults for
everything but its data, model size, systems and evaluation sections (RESULTS.md, 2026-12-03).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
SECTION = "## Evaluation cost"
METRICS = ("pesq_wb", "pesq_nb", "stoi", "vuv_f1", "speaker_sim", "utmos", "dnsmos")


def job_args(job: str) -> tuple[list[str], str]:
    """'system:ds_codec_vq:2' / 'baseline:opus_6kbps' / 'ground-truth' -> CLI arguments and a label."""
    parts = job.split(":")
    if parts[0] == "system" and len(parts) == 3:
        return ["--system", parts[1], "--stage", parts[2]], f"{parts[1]}-stage{parts[2]}"
    if parts[0] == "baseline" and len(parts) == 2:
        return ["--baseline", parts[1]], f"baseline-{parts[1]}"
    if parts[0] == "ground-truth":
        return ["--ground-truth"], "ground-truth"
    raise SystemExit(f"--job {job!r}: expected system:NAME:STAGE, baseline:NAME or ground-truth")


SCHEMA_PATHS = ("dscodec/resources/config.schema.yaml", "workflow/schemas/config.schema.yaml")


def prune_to_schema(cfg: Any, schema: dict[str, Any]) -> Any:
    """Drop the keys a stricter (older) schema does not know, so former code accepts today's run config.

    Why: the `before` variant runs the former code on today's results; keys added since (new options,
    all with defaults that the former code simply did not have) would fail its validation."""
    if not isinstance(cfg, dict) or schema.get("type") not in (None, "object"):
        return cfg
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties", True)
    out = {}
    for key, value in cfg.items():
        if key in props:
            out[key] = prune_to_schema(value, props[key])
        elif isinstance(extra, dict):
            out[key] = prune_to_schema(value, extra)
        elif extra is not False:
            out[key] = value
    return out


def today_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """A run made by former code, as today's code must read it: if its config fails today's
    validation, today's defaults with the run's data, model size, systems and evaluation sections
    (what an evaluation job reads; the training keys that changed since do not matter here)."""
    from dscodec.config import deep_merge, default_config, load_schema, validate
    from dscodec.errors import ConfigError

    try:
        validate(cfg)
        return cfg
    except ConfigError:
        pass
    kept = {key: cfg[key] for key in ("results_dir", "data", "systems", "evaluation") if key in cfg}
    kept["model"] = {"size": cfg.get("model", {}).get("size", "small")}
    return deep_merge(default_config(), prune_to_schema(kept, load_schema()))


def write_config(results: Path, utterances: int, out: Path, code: Path = REPO) -> Path:
    """The run's resolved config with its results_dir pointing at the copy and max_utterances set,
    pruned to the schema of `code` (a former checkout may not know today's keys)."""
    cfg = yaml.safe_load((results / "config.yaml").read_text())
    cfg["results_dir"] = str(results)
    cfg["evaluation"]["max_utterances"] = utterances
    if code != REPO:
        schema = next((code / p for p in SCHEMA_PATHS if (code / p).is_file()), None)
        if schema is not None:
            cfg = prune_to_schema(cfg, yaml.safe_load(schema.read_text()))
    else:
        cfg = today_config(cfg)
    path = out / f"config-{utterances}{'-before' if code != REPO else ''}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_job(code: Path, config: Path, testset: str, args: list[str], out: Path) -> dict[str, Any]:
    """One `dscodec evaluate` process with 1 thread (as the default's evaluation.workers: 1)."""
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dscodec.cli", "evaluate", "--config", str(config),
                           "--testset", testset, "--out", str(out), "--no-mlflow", "--workers", "1", *args],
                          cwd=code, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"evaluate failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "summary": summary}


def row(variant: str, job: str, utterances: int, result: dict[str, Any]) -> dict[str, Any]:
    s = result["summary"]
    n = max(int(s.get("n_utterances") or 0), 1)
    per_metric = {name: sec / n for name, sec in (s.get("metric_seconds") or {}).items()}
    ref = (s.get("reference_features") or {}).get("metrics") or {}
    tokens = (s.get("tokens") or {}).get("batches")
    return {"variant": variant, "job": job, "n": s.get("n_utterances"), "requested": utterances,
            "wall_s": result["wall_s"], "cpu_s": result["cpu_s"], "job_elapsed_s": s.get("elapsed_s"),
            "reconstruct_s": s.get("reconstruct_s"), "per_metric_s_per_utt": per_metric,
            "reference": {k: {"cached": v["cached"], "computed": v["computed"]} for k, v in ref.items()},
            "token_batches": tokens}


def table(rows: list[dict[str, Any]]) -> str:
    metrics = [m for m in METRICS if any(m in r["per_metric_s_per_utt"] for r in rows)]
    head = ["job", "variant", "utts", "wall s", "CPU s", "wall s/utt", "reconstruct s/utt",
            *[f"{m} s/utt" for m in metrics], "reference features (cached/computed)", "token batches (cached/encoded)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        n = max(int(r["n"] or 0), 1)
        recon = f"{r['reconstruct_s'] / n:.2f}" if r["reconstruct_s"] is not None else "-"
        per = [f"{r['per_metric_s_per_utt'][m]:.2f}" if m in r["per_metric_s_per_utt"] else "-" for m in metrics]
        refs = ", ".join(f"{k} {v['cached']}/{v['computed']}" for k, v in r["reference"].items()) or "-"
        batches = r.get("token_batches")
        tokens = f"{batches['cached']}/{batches['encoded']}" if batches else "-"
        lines.append("| " + " | ".join([r["job"], r["variant"], str(r["n"]), f"{r['wall_s']:.0f}", f"{r['cpu_s']:.0f}",
                                        f"{r['wall_s'] / n:.2f}", recon, *per, refs, tokens]) + " |")
    return "\n".join(lines)


def planned_runs(jobs: list[str], variants: list[str], utterances: list[int], before_utterances: int | None,
                 has_before: bool) -> list[tuple[int, str, str]]:
    """(count, job, variant) in the order they run: count by count, job by job. The former code once,
    at `before_utterances` (else the first count, today's default); today's variants at every count
    of `utterances`; `shared` only for DS-Codec jobs (nothing else has tokens: it would repeat `warm`)."""
    before_count = before_utterances or utterances[0]
    counts = list(dict.fromkeys(([before_count] if before_utterances else []) + list(utterances)))

    def wanted(count: int, job: str, variant: str) -> bool:
        if variant == "before":
            return has_before and count == before_count
        if variant == "shared" and not job.startswith("system:"):
            return False
        return count in utterances

    return [(count, job, variant) for count in counts for job in jobs for variant in variants
            if wanted(count, job, variant)]


CLASSICAL_KINDS = ("opus", "codec2")


def testset_jobs(cfg: dict[str, Any]) -> dict[str, Any]:
    """The evaluation jobs of one test set in a run of `cfg`: stage-1 and stage-2 DS-Codec jobs,
    classical baselines by name, neural baselines, and the references."""
    systems = cfg["systems"]
    baselines = (cfg.get("evaluation") or {}).get("baselines") or {}
    return {"stage1": sum(1 for spec in systems.values() if not spec.get("stage1_from")),
            "stage2": len(systems),
            "classical": sorted(name for name, spec in baselines.items() if spec.get("kind") in CLASSICAL_KINDS),
            "neural": sum(1 for spec in baselines.values() if spec.get("kind") not in CLASSICAL_KINDS),
            "ground_truth": 1}


def per_testset(rows: list[dict[str, Any]], jobs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Job seconds (wall) per test set for each code, from one measured job of each kind.

    `before`: every job as the former code ran it (no caches). `today`: the first stage-1 job
    `cold`, the others `warm`; stage-2 jobs `shared` (else `warm`); classical baselines `warm`;
    the ground truth and the not-run neural baselines `cold`. Returns {code: {part: seconds,
    "total": seconds}}; a kind of job that was not measured raises (no silent zero)."""
    measured = {(r["job"], r["variant"]): float(r["wall_s"]) for r in rows}

    def one(prefix: str, variants: tuple[str, ...]) -> float:
        for variant in variants:
            hits = [wall for (job, v), wall in measured.items() if v == variant and job.startswith(prefix)]
            if hits:
                return hits[0]
        raise SystemExit(f"--per-testset: no {'/'.join(variants)} measurement of a {prefix!r} job")

    def stage(n: int) -> str:
        names = {job.rsplit("-stage", 1)[0] for job, _ in measured if job.endswith(f"-stage{n}")}
        if not names:
            raise SystemExit(f"--per-testset: measure a DS-Codec system at stage {n} (--job system:NAME:{n})")
        return f"{sorted(names)[0]}-stage{n}"

    neural = next((job for job, _ in measured if job.startswith("baseline-")
                   and job.removeprefix("baseline-") not in jobs["classical"]), None)
    if neural is None and jobs["neural"]:
        raise SystemExit("--per-testset: measure one neural baseline (it writes not run without weights)")
    out: dict[str, dict[str, Any]] = {}
    codes = {"before": {"s1": ("before",), "s1_rest": ("before",), "s2": ("before",), "other": ("before",)},
             "today": {"s1": ("cold",), "s1_rest": ("warm",), "s2": ("shared", "warm"), "other": ("warm",)}}
    for code, use in codes.items():
        if not any(v in {v for _, v in measured} for v in use["s1"]):
            continue
        parts = {
            "ds_codec": one(stage(1), use["s1"]) + (jobs["stage1"] - 1) * one(stage(1), use["s1_rest"])
                        + jobs["stage2"] * one(stage(2), use["s2"]),
            "classical": sum(one(f"baseline-{name}", use["other"]) for name in jobs["classical"]),
            "ground_truth": one("ground-truth", use["s1"]),
            "not_run": jobs["neural"] * one(neural, use["s1"]) if jobs["neural"] else 0.0,
        }
        out[code] = {**parts, "total": sum(parts.values())}
    return out


def per_testset_table(totals: dict[str, dict[str, Any]], jobs: dict[str, Any]) -> str:
    head = (f"| code | DS-Codec ({jobs['stage1']} stage-1 + {jobs['stage2']} stage-2 jobs) | "
            f"{' + '.join(jobs['classical']) or 'classical'} | ground truth | not run (x {jobs['neural']}) | "
            "total | x before |")
    lines = [head, "|---|---|---|---|---|---|---|"]
    base = totals.get("before", {}).get("total")
    for code, t in totals.items():
        ratio = f"{t['total'] / base:.2f}x" if base else "-"
        lines.append(f"| {code} | {t['ds_codec']:.0f} | {t['classical']:.0f} | {t['ground_truth']:.0f} | "
                     f"{t['not_run']:.0f} | **{t['total']:.0f} s** | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True,
                        help="a COPY of a finished run's results dir (config.yaml, data/, models/; corpus may be a link)")
    parser.add_argument("--testset", default="librispeech_test")
    parser.add_argument("--job", action="append", default=None, help="system:NAME:STAGE | baseline:NAME | ground-truth")
    parser.add_argument("--utterances", type=int, nargs="+", default=[6, 24])
    parser.add_argument("--before", default=None, help="git ref of the former code (variant 'before' at the first count)")
    parser.add_argument("--before-utterances", type=int, default=None,
                        help="utterances for the 'before' variant (default: the first --utterances count)")
    parser.add_argument("--before-results", type=Path, default=None,
                        help="a COPY of a run the former code trained, for the 'before' variant (default: --results)")
    parser.add_argument("--per-testset", action="store_true",
                        help="also print the job time per test set of the run's config, and today's over before")
    parser.add_argument("--variants", nargs="+", default=["before", "cold", "warm"],
                        choices=["before", "cold", "warm", "shared"])
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--write", type=Path, default=None, help="update this RESULTS.md section")
    args = parser.parse_args()
    jobs = args.job or ["system:ds_codec_vq:2", "baseline:opus_6kbps"]
    results = args.results.resolve()
    before_results = (args.before_results or args.results).resolve()
    if (REPO / "results").resolve() in (results, before_results):
        raise SystemExit("--results must be a copy: the benchmark writes eval/_reference there")

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        tmp_path = Path(tmp)
        before_code = None
        if "before" in args.variants and args.before:
            before_code = tmp_path / "before"
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(before_code), args.before],
                           check=True, capture_output=True)
        try:
            from dscodec import layout

            run = {"results_dir": str(results)}   # the caches the jobs share, where the runner keeps them
            cache = Path(layout.eval_dir(run, layout.REFERENCE_FEATURES, args.testset))
            tokens = Path(layout.eval_dir(run, layout.ENCODER_TOKENS, args.testset))
            for count, job, variant in planned_runs(jobs, args.variants, args.utterances, args.before_utterances,
                                                    before_code is not None):
                cli, label = job_args(job)
                if variant == "cold":
                    shutil.rmtree(cache, ignore_errors=True)
                if variant in ("cold", "warm"):
                    shutil.rmtree(tokens, ignore_errors=True)
                code = before_code if variant == "before" else REPO
                config = write_config(before_results if variant == "before" else results, count, tmp_path, code)
                out = tmp_path / "out" / f"{variant}-{label}-{count}"
                result = run_job(code, config, args.testset, cli, out)
                rows.append(row(variant, label, count, result))
                print(f"{label} {variant} {count}: {rows[-1]['wall_s']:.0f} s wall", file=sys.stderr, flush=True)
        finally:
            if before_code is not None:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(before_code)],
                               capture_output=True)
    text = table(rows)
    if args.per_testset:
        jobs = testset_jobs(yaml.safe_load((results / "config.yaml").read_text()))
        text += "\n\nJob time per test set (wall s):\n\n" + per_testset_table(per_testset(rows, jobs), jobs)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    if args.write:
        from bench_train import write_section

        body = (f"{SECTION}\n\nMeasured {date.today().isoformat()} on {platform.machine()} "
                f"({os.cpu_count()} CPUs, {platform.python_version()}) with `benchmarks/bench_eval.py` "
                f"(test set {args.testset}, one process per job, 1 thread, `--no-mlflow`).\n\n{text}\n")
        write_section(args.write, body)


if __name__ == "__main__":
    main()
