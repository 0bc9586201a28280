"""One evaluation job: a system (or baseline, or the references) on one test set (paper Sec. 3.2).

    draw the utterances (at most evaluation.max_utterances, seeded and stratified over speakers:
    testsets.py, subset.py) -> reconstruct each -> save it as FLAC -> align with the reference
    (align.py) -> score with every configured metric (scoring.py; reference-side features such
    as the reference's pitch track come from the per-test-set cache, reference_cache.py) ->
    scores.parquet (one row per utterance) + summary.json (mean, 95% CI (stats.py), n, failures
    per column, provenance.py) -> one MLflow run linked to the training run (tracking.py).

Honesty rules: a metric that cannot be loaded is *unavailable: <reason>* in the summary and
its columns stay empty (NaN) in scores.parquet; a metric (or a reconstruction) that fails on
an utterance is counted as a failure with its message, never replaced by a default value;
a baseline whose weights are absent gets a summary with status "not_run" and the reason.

Speed: reconstruction runs in this process (one model in memory) while `evaluation.workers`
processes score utterances in parallel (scoring.Scorer); with workers > 1 a script that calls
`evaluate` needs the usual `if __name__ == "__main__":` guard; the `dscodec` command has it.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from dscodec import layout
from dscodec.errors import ConfigError, DSCodecError
from dscodec.evaluate.align import MAX_SHIFT, Aligner, make_aligner
from dscodec.evaluate.baselines.base import SAMPLE_RATE, BaselineUnavailable, Reconstructor
from dscodec.evaluate.metrics.base import Metric
from dscodec.evaluate.partial import PartialScores, file_digest
from dscodec.evaluate.provenance import provenance
from dscodec.progress import Progress
from dscodec.evaluate.reference_cache import ReferenceCache
from dscodec.fileio import atomic_write, atomic_write_text
from dscodec.evaluate.scoring import LoadedMetric, PairResult, Scorer, load_metrics, score_pair
from dscodec.evaluate.stats import mean_ci95
from dscodec.evaluate.testsets import load_testset, manifest_path, subset_seed
from dscodec.tracking import find_train_run

# Names callers import from here (tests, benchmarks); they live in the modules above.
__all__ = ["evaluate", "EvaluationError", "KINDS", "BASE_COLUMNS", "reference_cache_dir",
           "manifest_path", "load_testset", "subset_seed", "mean_ci95", "Aligner", "make_aligner",
           "MAX_SHIFT", "LoadedMetric", "PairResult", "Scorer", "load_metrics", "score_pair", "find_train_run"]

KINDS = ("dscodec", "baseline", "ground_truth")

BASE_COLUMNS = ["id", "speaker", "duration_s", "delay_samples", "delay_method"]
MAX_FAILURE_MESSAGES = 5
RECONSTRUCT_CHUNK = 8       # utterances handed to a reconstructor that batches (equal lengths only)
NOT_APPLICABLE_TO_REFERENCES = ("not applicable to the references: an intrusive metric would compare "
                                "each reference with itself")


def reference_cache_dir(cfg: Mapping[str, Any], testset: str) -> Path:
    """Where the reference features of a test set are kept: R/eval/_reference/<testset>."""
    return Path(layout.eval_dir(cfg, layout.REFERENCE_FEATURES, testset))


class EvaluationError(DSCodecError):
    """An evaluation job cannot produce a result (e.g. every utterance failed to reconstruct)."""


# ------------------------------------------------------------------------------- the job
@dataclass
class _Tally:
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # metric -> (row, "id: message")
    reconstruction_failures: list[tuple[int, str]] = field(default_factory=list)  # (row, "id: message")
    seconds: dict[str, float] = field(default_factory=dict)             # metric -> scoring s, all utterances
    reference: dict[str, dict[str, float]] = field(default_factory=dict)  # metric -> cached/computed/seconds

    def add_timing(self, result: PairResult) -> None:
        for name, sec in result.seconds.items():
            self.seconds[name] = self.seconds.get(name, 0.0) + sec
        for name, sec in result.reference_seconds.items():
            entry = self.reference.setdefault(name, {"cached": 0, "computed": 0, "seconds": 0.0})
            entry["cached" if result.reference_cached.get(name) else "computed"] += 1
            entry["seconds"] += sec

    def chunk_record(self, indices: Sequence[int], accounting: dict[str, Any] | None) -> dict[str, Any]:
        """What partial.py keeps of a finished chunk: its rows (scores included) and failures."""
        wanted = set(indices)
        return {"rows": {str(i): self.rows[i] for i in indices},
                "failures": {name: [[i, m] for i, m in items if i in wanted] for name, items in self.failures.items()},
                "reconstruction_failures": [[i, m] for i, m in self.reconstruction_failures if i in wanted],
                "accounting": accounting}

    def restore(self, record: Mapping[str, Any]) -> int:
        """Add a kept chunk's rows and failures; returns its number of utterances."""
        self.rows.update({int(i): dict(row) for i, row in record["rows"].items()})
        for name, items in record["failures"].items():
            self.failures.setdefault(name, []).extend((int(i), str(m)) for i, m in items)
        self.reconstruction_failures.extend((int(i), str(m)) for i, m in record["reconstruction_failures"])
        return len(record["rows"])


def _write_outputs(out_dir: Path, scores: pd.DataFrame, summary: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "scores.parquet", lambda handle: scores.to_parquet(handle, index=False))
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")


def _empty_scores(columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    frame["id"] = frame["id"].astype(str)
    frame["speaker"] = frame["speaker"].astype(str)
    frame["delay_samples"] = frame["delay_samples"].astype("Int64")
    frame["delay_method"] = frame["delay_method"].astype(object)
    return frame


def _info_dict(reconstructor: Reconstructor, kind: str) -> dict[str, Any]:
    """Table 1's descriptive columns. Where the reconstructor measured what it spent (DS-Codec:
    .dsc files; classical codecs: their packets) `bitrate_kbps` is that measurement over the test
    set, else the nominal rate; `bitrate_source` says which."""
    info = reconstructor.info
    out: dict[str, Any] = {"bitrate_kbps": info.bitrate_kbps, "tokens_per_second": info.tokens_per_second,
                           "n_codebooks": info.n_codebooks, "native_sample_rate": info.native_sample_rate,
                           "settings": info.settings}
    measured = getattr(reconstructor, "measured_bitrate_kbps", None)
    if kind == "ground_truth":
        out["bitrate_source"] = "none (references)"
    elif measured is not None:
        out["bitrate_kbps"] = float(measured)
        out["bitrate_source"] = ("measured: .dsc token payload bits / audio seconds over the test set"
                                 if kind == "dscodec" else "measured: codec payload bits / audio seconds over the test set")
        out["nominal_bitrate_kbps"] = getattr(reconstructor, "nominal_bitrate_kbps", info.bitrate_kbps)
        out["file_bitrate_kbps"] = getattr(reconstructor, "measured_file_bitrate_kbps", None)
    else:
        out["bitrate_source"] = "nominal"
    return out


def _metric_entries(statuses: list[dict[str, Any]], skipped: dict[str, str], scores: pd.DataFrame,
                    tally: _Tally, higher: dict[str, bool]) -> dict[str, dict[str, Any]]:
    """summary["metrics"]: per score column either the statistics or {"unavailable": reason}."""
    entries: dict[str, dict[str, Any]] = {}
    for status in statuses:
        name = status["name"]
        reason = skipped.get(name) or status["unavailable"]
        for col in status["columns"]:
            if reason is not None:
                entries[col] = {"metric": name, "unavailable": reason}
                continue
            values = pd.to_numeric(scores[col], errors="coerce").to_numpy(dtype=float) if col in scores else []
            values = np.asarray(values)[np.isfinite(values)] if len(values) else np.asarray([])
            mean, ci95 = mean_ci95(values)
            messages = [m for _, m in sorted(tally.failures.get(name, []))]  # manifest order
            entries[col] = {"metric": name, "model": status["model"], "mean": mean, "ci95": ci95,
                            "n": int(values.size), "failures": len(messages),
                            "failure_messages": messages[:MAX_FAILURE_MESSAGES],
                            "higher_is_better": higher.get(name, True)}
    return entries


def job_chunk(reconstructor: Reconstructor) -> int:
    """Utterances reconstructed together, and the unit a killed job resumes from."""
    return RECONSTRUCT_CHUNK if hasattr(reconstructor, "reconstruct_many") else 1


def _reconstruct_chunk(reconstructor: Reconstructor, wavs: list[np.ndarray]) -> list[np.ndarray | BaseException]:
    """Batched when the reconstructor can (DS-Codec), else one by one; errors stay per utterance."""
    many = getattr(reconstructor, "reconstruct_many", None)
    if many is not None and len(wavs) > 1:
        try:
            return list(many(wavs))
        except Exception:  # noqa: BLE001 - retry one by one, so one bad utterance fails alone
            pass
    out: list[np.ndarray | BaseException] = []
    for wav in wavs:
        try:
            out.append(np.asarray(reconstructor.reconstruct(wav), dtype=np.float32).reshape(-1))
        except Exception as err:  # noqa: BLE001 - counted as a reconstruction failure
            out.append(err)
    return out


def evaluate(
    cfg: Mapping[str, Any],
    reconstructor: Reconstructor,
    testset: str,
    out_dir: str | Path,
    *,
    system: str,
    stage: int | None = None,
    kind: str,
    metrics: Sequence[Metric] | None = None,
    workers: int | None = None,
    manifest: str | Path | None = None,
    log_mlflow: bool = True,
    log: Callable[[str], None] | None = None,
    reference_cache: str | Path | bool = True,
    resume: bool = True,
) -> dict[str, Any]:
    """Run one evaluation job; returns the summary written to out_dir/summary.json.

    `system` names the entity (a system, a baseline, or "ground-truth"); `kind` is one of
    "dscodec", "baseline", "ground_truth". `metrics` defaults to `evaluation.metrics` built
    from the registry; `workers` to `evaluation.workers`; `manifest` to the test set's manifest.
    `reference_cache`: True = reference features shared through R/eval/_reference/<testset>
    (reference_cache_dir), a path = that folder, False = every metric computes them itself.
    `resume`: keep finished utterances in out_dir/partial/ as the job goes and reuse those of a
    killed attempt with the same inputs and scoring settings (partial.py).
    """
    if kind not in KINDS:
        raise ConfigError(f"evaluate: kind must be one of {KINDS}, got {kind!r}")
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    eval_cfg = cfg["evaluation"]
    out_dir = Path(out_dir)
    manifest = Path(manifest) if manifest is not None else manifest_path(cfg, testset)
    if metrics is None:
        from dscodec.evaluate.metrics import build_metrics

        metrics = build_metrics(list(eval_cfg["metrics"]), eval_cfg)
    workers = int(workers or eval_cfg["workers"])
    cache = (ReferenceCache(reference_cache_dir(cfg, testset)) if reference_cache is True
             else ReferenceCache(Path(reference_cache)) if reference_cache else None)
    rows, drawn = load_testset(manifest, eval_cfg.get("max_utterances"), subset_seed(cfg))
    metric_columns = [col for m in metrics for col in m.columns]
    columns = BASE_COLUMNS + metric_columns
    base: dict[str, Any] = {"system": system, "stage": stage, "kind": kind, "testset": testset,
                            "manifest": str(manifest.resolve()), "subset": drawn}
    tags = {"job": "eval", "system": system, "stage": "none" if stage is None else str(stage),
            "testset": testset, "kind": kind}

    with contextlib.ExitStack() as stack:
        run = None
        if log_mlflow:
            from dscodec import tracking

            name = f"eval-{system}" + (f"-stage{stage}" if stage else "") + f"-{testset}"
            params = {"evaluation": dict(eval_cfg), "testset": testset, "manifest": base["manifest"]}
            previous = tracking.read_run_record(out_dir)   # left by a killed attempt of this job
            run = stack.enter_context(tracking.start_run(cfg, name, tags, params=params))
            tracking.write_run_record(out_dir, run.info.run_id)
            if previous is not None and previous != run.info.run_id and tracking.close_dangling_run(
                    previous, replaced_by=run.info.run_id):
                log(f"evaluate {system} on {testset}: MLflow run {previous} of a killed attempt marked KILLED")
            train_run = tracking.find_train_run(cfg, system, stage) if kind == "dscodec" and stage else None
            if train_run:
                tracking.set_tags({"train_run_id": train_run})
                base["train_run_id"] = train_run
        t_load = time.perf_counter()
        try:
            reconstructor.load()
        except BaselineUnavailable as err:
            summary = {**base, "status": "not_run", "reason": str(err), "label": _safe_label(reconstructor, system),
                       "info": _safe_info(reconstructor, kind), "n_utterances": 0, "metrics": {},
                       "provenance": provenance(cfg, reconstructor, kind, stage)}
            if run is not None:
                summary["mlflow_run_id"] = run.info.run_id
            _write_outputs(out_dir, _empty_scores(columns), summary)
            log(f"evaluate {system} on {testset}: not run: {err}")
            if run is not None:
                tracking.log_eval_summary(out_dir, summary, not_run=True)
            return summary

        base["reconstructor_load_s"] = time.perf_counter() - t_load
        partial = (PartialScores(out_dir / "partial", _resume_key(cfg, reconstructor, kind, system, stage, testset,
                                                                  manifest, rows, metrics))
                   if resume else None)
        summary = _run_job(cfg, reconstructor, rows, out_dir, kind, list(metrics), workers, columns, base,
                           stage, log, cache, partial)
        if run is not None:
            summary["mlflow_run_id"] = run.info.run_id
        _write_outputs(out_dir, _scores_frame(summary.pop("_rows"), columns), summary)
        if partial is not None:
            partial.remove()
        if run is not None:
            tracking.log_eval_summary(out_dir, summary, not_run=False)
    return summary


def _resume_key(cfg: Mapping[str, Any], reconstructor: Reconstructor, kind: str, system: str, stage: int | None,
                testset: str, manifest: Path, rows: pd.DataFrame, metrics: Sequence[Metric]) -> dict[str, Any]:
    """What must be unchanged for a killed attempt's scores to be reused: the scoring settings
    (jobkeys.eval_key), the metrics, the utterances, the manifest's and checkpoint's bytes, the
    device a DS-Codec reconstructs on, the code's commit and the chunking."""
    from dscodec.jobkeys import eval_key
    from dscodec.tracking import git_commit

    checkpoint = getattr(reconstructor, "checkpoint", None)
    return {"evaluation": eval_key(cfg, system if kind == "baseline" else None),
            "metrics": [[m.name, list(m.columns)] for m in metrics], "kind": kind, "system": system,
            "stage": stage, "testset": testset, "manifest": file_digest(manifest), "ids": [str(i) for i in rows["id"]],
            "checkpoint": file_digest(checkpoint) if kind == "dscodec" and checkpoint else None,
            "device": cfg.get("device") if kind == "dscodec" else None, "git_commit": git_commit(),
            "chunk": job_chunk(reconstructor)}


def _safe_label(reconstructor: Reconstructor, fallback: str) -> str:
    try:
        return reconstructor.info.label
    except Exception:  # noqa: BLE001 - an unloaded baseline may not know its label
        return getattr(reconstructor, "label", None) or fallback


def _safe_info(reconstructor: Reconstructor, kind: str) -> dict[str, Any]:
    try:
        return _info_dict(reconstructor, kind)
    except Exception:  # noqa: BLE001 - nothing to describe without weights
        return {}


def _scores_frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    if not rows:
        return _empty_scores(columns)
    frame = pd.DataFrame.from_records(rows)
    for col in columns:
        if col not in frame:
            frame[col] = np.nan
    frame = frame[columns]
    frame["delay_samples"] = frame["delay_samples"].astype("Int64")
    return frame


def _run_job(cfg: Mapping[str, Any], reconstructor: Reconstructor, rows: pd.DataFrame, out_dir: Path, kind: str,
             metrics: list[Metric], workers: int, columns: list[str], base: dict[str, Any], stage: int | None,
             log: Callable[[str], None], cache: ReferenceCache | None,
             partial: PartialScores | None = None) -> dict[str, Any]:
    from dscodec.audio import load_audio, save_audio

    # The references are the "reconstruction" of the ground-truth row: intrusive metrics would only
    # compare a signal with itself, so (as in the paper's tables) they are not computed for it.
    skipped = {m.name: NOT_APPLICABLE_TO_REFERENCES for m in metrics if kind == "ground_truth" and m.intrusive}
    to_score = [m for m in metrics if m.name not in skipped]
    aligner = make_aligner(kind, reconstructor)
    scorer = Scorer(to_score, workers, log, cache)
    audio_dir = out_dir / "audio"
    save = kind != "ground_truth"   # the references already lie on disk
    tally = _Tally()
    chunk = job_chunk(reconstructor)
    kept = partial.resume() if partial is not None else []  # chunks 0..len(kept)-1 of a killed attempt
    resumed = sum(tally.restore(record) for record in kept)
    if kept and kept[-1]["accounting"] is not None:
        reconstructor.restore_accounting(kept[-1]["accounting"])  # bits spent on the reused chunks
    if audio_dir.exists() and not kept:
        shutil.rmtree(audio_dir)    # no stale files from an earlier run of this job
    if save:
        audio_dir.mkdir(parents=True, exist_ok=True)
    if kept:
        log(f"evaluate {base['system']} on {base['testset']}: resuming, {resumed} utterances already scored")
    pending: dict[cf.Future, tuple[int, np.ndarray, np.ndarray, str, str, np.ndarray]] = {}
    outstanding: dict[int, int] = {}                      # chunk -> utterances not finished yet
    accounting: dict[int, dict[str, Any] | None] = {}     # chunk -> reconstructor totals after it
    n_total = len(rows)
    start = time.perf_counter()
    reconstruct_s = 0.0
    done = resumed
    label = _safe_label(reconstructor, base["system"])

    def finished(index: int) -> None:
        """One utterance scored or failed; a chunk whose utterances all are is kept on disk."""
        nonlocal done
        done += 1
        number = index // chunk
        outstanding[number] -= 1
        if outstanding[number] == 0 and partial is not None:
            first = number * chunk
            partial.save(number, tally.chunk_record(range(first, min(first + chunk, n_total)),
                                                    accounting.pop(number)))

    def collect(future: cf.Future) -> None:
        index, ref, deg, utterance, text, whole = pending.pop(future)
        result = scorer.result(future, index, ref, deg, utterance, text, whole)
        tally.rows[index].update(result.scores)
        tally.add_timing(result)
        for name, message in result.failures.items():
            tally.failures.setdefault(name, []).append((index, f"{tally.rows[index]['id']}: {message}"))
        finished(index)

    ticker = Progress(f"evaluate {base['system']} on {base['testset']} ({scorer.mode})", n_total, "utterances",
                      done=resumed, emit=log)

    def progress(force: bool = False) -> None:
        ticker.done = done
        if force:
            ticker.close()
        elif ticker.due():
            ticker.update(0)

    scorer.start()
    try:
        records = rows.to_dict("records")
        for first in range(len(kept) * chunk, n_total, chunk):
            batch = records[first: first + chunk]
            outstanding[first // chunk] = len(batch)
            refs: list[np.ndarray | BaseException] = []
            for row in batch:
                try:
                    refs.append(load_audio(row["path"], SAMPLE_RATE)[0].numpy())
                except Exception as err:  # noqa: BLE001 - a reference that cannot be read fails alone
                    refs.append(err)
            good = [i for i, r in enumerate(refs) if not isinstance(r, BaseException)]
            t0 = time.perf_counter()
            recon = _reconstruct_chunk(reconstructor, [refs[i] for i in good]) if good else []  # type: ignore[misc]
            reconstruct_s += time.perf_counter() - t0
            accounting[first // chunk] = reconstructor.accounting()
            degs: dict[int, np.ndarray | BaseException] = dict(zip(good, recon))
            for offset, row in enumerate(batch):
                index = first + offset
                ref = refs[offset]
                record: dict[str, Any] = {"id": str(row["id"]), "speaker": str(row["speaker"]),
                                          "duration_s": None, "delay_samples": None, "delay_method": None}
                tally.rows[index] = record
                if not isinstance(ref, BaseException):
                    record["duration_s"] = ref.size / SAMPLE_RATE
                problem = ref if isinstance(ref, BaseException) else degs.get(offset)
                if isinstance(problem, BaseException):
                    where = "reading the reference" if isinstance(ref, BaseException) else "reconstruction"
                    _fail_all(tally, to_score, index, f"{where} failed: {type(problem).__name__}: {problem}")
                    finished(index)
                    continue
                assert isinstance(ref, np.ndarray)
                deg = np.asarray(degs[offset], dtype=np.float32).reshape(-1)
                if deg.size == 0 or not np.isfinite(deg).all():
                    _fail_all(tally, to_score, index, "reconstruction failed: empty or non-finite output")
                    finished(index)
                    continue
                if save:
                    save_audio(audio_dir / f"{record['id']}.flac", deg, SAMPLE_RATE)
                try:
                    ref_a, deg_a, delay, method = aligner(ref, deg)
                except Exception as err:  # noqa: BLE001 - counted, never scored at a lag known to be wrong
                    _fail_all(tally, to_score, index, f"alignment failed: {type(err).__name__}: {err}")
                    finished(index)
                    continue
                record["delay_samples"], record["delay_method"] = delay, method
                text = row.get("text")
                text = text if isinstance(text, str) else ""  # a missing transcript: WER counts a failure
                # `ref` (before alignment) lets a delayed codec's cropped reference reuse the whole one's features
                future = scorer.submit(index, ref_a, deg_a, record["id"], text, ref)
                pending[future] = (index, ref_a, deg_a, record["id"], text, ref)
                while len(pending) >= 2 * scorer.workers + 2:
                    ready, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
                    for f in ready:
                        collect(f)
                for f in [f for f in pending if f.done()]:
                    collect(f)  # promptly, so finished chunks reach partial/ before a kill
                progress()
        for future in list(pending):
            collect(future)
        statuses = scorer.finish()
    finally:
        scorer.close()
    elapsed = time.perf_counter() - start
    progress(force=True)
    recon_failures = [message for _, message in sorted(tally.reconstruction_failures)]  # manifest order
    if n_total and len(recon_failures) == n_total:
        # not a result but a broken set-up (tool crashing, wrong model): stop the job, loudly
        raise EvaluationError(f"{base['system']} on {base['testset']}: every utterance failed; first: "
                              + "; ".join(recon_failures[:3]))

    ordered = [tally.rows[i] for i in sorted(tally.rows)]
    frame = _scores_frame(ordered, columns)
    higher = {m.name: bool(m.higher_is_better) for m in metrics}
    statuses = statuses + [{"name": m.name, "columns": list(m.columns), "model": None, "unavailable": None}
                           for m in metrics if m.name in skipped]
    order = {m.name: i for i, m in enumerate(metrics)}
    statuses.sort(key=lambda s: order[s["name"]])
    summary: dict[str, Any] = {
        **base,
        "status": "ok",
        "label": label,
        "n_utterances": n_total,
        "info": _info_dict(reconstructor, kind),
        "metrics": _metric_entries(statuses, skipped, frame, tally, higher),
        "alignment": aligner.describe(ordered),
        "reconstruction_failures": len(recon_failures),
        "reconstruction_failure_messages": recon_failures[:MAX_FAILURE_MESSAGES],
        # a resumed job reuses the utterances a killed attempt scored (partial.py); the timings
        # below (speed, elapsed, reconstruction and metric seconds) cover this attempt's only
        "resumed_utterances": resumed,
        "utterances_per_s": (n_total - resumed) / elapsed if elapsed > 0 else None,
        "elapsed_s": elapsed,
        "reconstruct_s": reconstruct_s,
        "metric_load_s": scorer.load_s if scorer.mode == "in-process" else None,  # workers load in parallel
        "metric_seconds": tally.seconds,
        "reference_features": {
            "cache": str(cache.root) if cache is not None else None,
            "metrics": tally.reference},
        # DS-Codec: this attempt's encode calls answered by the token cache / run (a stage-2 job reuses
        # its stage 1's tokens, token_cache.py)
        "tokens": reconstructor.token_cache_stats() if hasattr(reconstructor, "token_cache_stats") else None,
        "workers": scorer.workers,
        "scoring": scorer.mode,
        "audio_dir": str(audio_dir) if save else None,
        "provenance": provenance(cfg, reconstructor, kind, stage),
        "_rows": ordered,
    }
    return summary


def _fail_all(tally: _Tally, metrics: Sequence[Metric], index: int, message: str) -> None:
    text = f"{tally.rows[index]['id']}: {message}"
    tally.reconstruction_failures.append((index, text))
    for metric in metrics:
        tally.failures.setdefault(metric.name, []).append((index, text))
