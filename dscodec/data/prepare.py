"""Prepare a corpus: find it (sample / local / download), check every file, write manifests + report.

Outputs in `out` (shared path conventions):
    librispeech: train.tsv (union of `data.librispeech.train_subsets`), dev.tsv, test.tsv, report.json
    ljspeech:    all.tsv, eval.tsv (`eval_utterances` drawn with `eval_seed`, paper Table 2), report.json
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from dscodec.data import download, librispeech, ljspeech
from dscodec.data.manifest import write_manifest
from dscodec.data.split_report import BadItem, Candidate, SplitResult, build_split, check_bad_fraction, write_report
from dscodec.errors import DataError

CORPORA = ("librispeech", "ljspeech")
DOWNLOAD_STAMP = "download.json"


def librispeech_splits(cfg: Mapping[str, Any]) -> dict[str, list[str]]:
    ls = cfg["data"]["librispeech"]
    return {
        "train": list(ls.get("train_subsets") or ["train-clean-100"]),
        "dev": [ls.get("dev_subset") or "dev-clean"],
        "test": [ls.get("test_subset") or "test-clean"],
    }


def corpus_root(cfg: Mapping[str, Any], corpus: str) -> Path:
    """Where the corpus lies (or is downloaded to) for `data.<corpus>.source`."""
    section = cfg["data"][corpus]
    source = section["source"]
    if source == "sample":
        return Path(cfg["results_dir"]) / "corpus" / "sample"
    if section.get("root"):
        return Path(section["root"]).expanduser()
    if source == "download":
        return Path(cfg["results_dir"]) / "downloads" / corpus
    raise DataError(
        f"`data.{corpus}.source` is `local` but `data.{corpus}.root` is not set: point it at the folder that holds "
        f"{'LibriSpeech/<subset>/' if corpus == 'librispeech' else 'LJSpeech-1.1/'}, "
        f"or set `data.{corpus}.source: download` to fetch the corpus (or `sample` for the built-in one)"
    )


def _missing_error(cfg: Mapping[str, Any], corpus: str, root: Path, missing: list[str]) -> DataError:
    source = cfg["data"][corpus]["source"]
    what = ", ".join(missing)
    if source == "sample":
        return DataError(
            f"the built-in sample corpus is incomplete under {root} (missing {what}); "
            "run `dscodec synth-corpus` (Snakemake rule synth_sample_corpus) first"
        )
    return DataError(
        f"{corpus}: {what} not found under `data.{corpus}.root` = {root}. Point `data.{corpus}.root` at the "
        f"extracted corpus, or set `data.{corpus}.source: download` to download it"
        + (" (download was chosen: run `dscodec prepare --download-only` first)" if source == "download" else "")
    )


def fetch(cfg: Mapping[str, Any], corpus: str, out: Path, log: Callable[[str], None] = print) -> Path:
    """Download + verify + extract the archives the config needs; write `out/download.json`."""
    root = corpus_root(cfg, corpus)
    if corpus == "librispeech":
        subsets = [s for names in librispeech_splits(cfg).values() for s in names]
        archives = [download.LIBRISPEECH[s] for s in subsets]
    else:
        archives = [download.LJSPEECH]
    done = download.fetch(archives, root, log=log)
    out.mkdir(parents=True, exist_ok=True)
    stamp = out / DOWNLOAD_STAMP
    stamp.write_text(json.dumps({"corpus": corpus, "root": str(root), "archives": done}, indent=2) + "\n")
    return stamp


def prepare(cfg: Mapping[str, Any], corpus: str, out: str | Path, workers: int = 1,
            log: Callable[[str], None] = print, report_copy: str | Path | None = None) -> dict[str, Any]:
    """Write the manifests and report.json for `corpus`; raise DataError on missing data or too many bad files.

    `report_copy`: a second copy of report.json outside the job's outputs. Why: Snakemake deletes
    the outputs of a failed job, report.json included, exactly when its list of bad files is
    wanted; the rule declares the copy as a log, which Snakemake keeps, and the error names it.
    """
    if corpus not in CORPORA:
        raise DataError(f"unknown corpus {corpus!r}; expected one of {CORPORA}")
    out = Path(out)
    t0 = time.time()
    section = cfg["data"][corpus]
    root = corpus_root(cfg, corpus)
    if section["source"] == "download" and not (out / DOWNLOAD_STAMP).is_file():
        fetch(cfg, corpus, out, log=log)
    if corpus == "librispeech":
        results, extra = _librispeech(cfg, root, workers)
    else:
        results, extra = _ljspeech(cfg, root, workers)
    header = {"corpus": corpus, "source": section["source"], "root": str(root.resolve()),
              "sample_rate": cfg["data"]["sample_rate"], "max_bad_fraction": cfg["data"]["max_bad_fraction"]}
    extra["elapsed_seconds"] = round(time.time() - t0, 1)
    report_path = write_report(out / "report.json", header, results, extra)
    if report_copy is not None:
        report_path = write_report(Path(report_copy), header, results, extra)
    check_bad_fraction(results, float(cfg["data"]["max_bad_fraction"]), report_path)
    for res in results:
        write_manifest(res.manifest, out / f"{res.name}.tsv")
        log(f"prepare {corpus}: {res.name}: {res.summary['utterances']} utterances, "
            f"{res.summary['hours']:.3f} h, {res.summary['bad']} bad -> {out / (res.name + '.tsv')}")
    return json.loads(report_path.read_text())


def _librispeech(cfg: Mapping[str, Any], root: Path, workers: int) -> tuple[list[SplitResult], dict[str, Any]]:
    splits = librispeech_splits(cfg)
    dirs = {s: librispeech.subset_dir(root, s) for names in splits.values() for s in names}
    missing = [f"LibriSpeech/{s}" for s, d in dirs.items() if d is None]
    if missing:
        raise _missing_error(cfg, "librispeech", root, missing)
    results = []
    for split, subsets in splits.items():
        candidates: list[Candidate] = []
        bad: list[BadItem] = []
        for subset in subsets:
            c, b = librispeech.read_subset(dirs[subset])
            candidates += c
            bad += b
        res = build_split(split, candidates, bad, workers=workers)
        res.summary["subsets"] = subsets
        results.append(res)
    _check_disjoint_speakers(results)
    return results, {}


def _check_disjoint_speakers(results: list[SplitResult]) -> None:
    """LibriSpeech's splits have disjoint speakers; an overlap means a mis-configured root."""
    seen: dict[str, str] = {}
    for res in results:
        for spk in set(res.manifest["speaker"]):
            if spk in seen and seen[spk] != res.name:
                res.summary.setdefault("warnings", []).append(f"speaker {spk} also appears in split {seen[spk]}")
            seen.setdefault(spk, res.name)


def _ljspeech(cfg: Mapping[str, Any], root: Path, workers: int) -> tuple[list[SplitResult], dict[str, Any]]:
    directory = ljspeech.corpus_dir(root)
    if directory is None:
        raise _missing_error(cfg, "ljspeech", root, ["LJSpeech-1.1/metadata.csv"])
    candidates, bad = ljspeech.read_corpus(directory)
    res_all = build_split("all", candidates, bad, workers=workers)
    section = cfg["data"]["ljspeech"]
    wanted, seed = int(section["eval_utterances"]), int(section["eval_seed"])
    eval_df = ljspeech.draw_eval(res_all.manifest, wanted, seed)
    seconds = float((eval_df["frames"] / eval_df["sample_rate"]).sum()) if len(eval_df) else 0.0
    eval_summary = {"manifest": "eval.tsv", "utterances": len(eval_df), "requested": wanted, "seed": seed,
                    "seconds": round(seconds, 3), "hours": round(seconds / 3600, 4), "speakers": 1 if len(eval_df) else 0,
                    "drawn_from": "all.tsv", "files_found": len(eval_df), "bad": 0, "bad_fraction": 0.0, "fixes": {}}
    notes = []
    if len(eval_df) < wanted:
        notes.append(f"eval.tsv: {wanted} utterances requested (data.ljspeech.eval_utterances) but only "
                     f"{len(eval_df)} usable ones exist; eval.tsv holds all {len(eval_df)} (capped)")
        eval_summary["capped"] = True
    res_eval = SplitResult("eval", eval_df, eval_summary, [], [])
    return [res_all, res_eval], {"notes": notes}
