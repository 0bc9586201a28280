"""Build one report target (a table, a figure, the listening page) from evaluations and MLflow.

Every builder returns the files it wrote; `dscodec report` logs them as artifacts of a
report run in MLflow. Inputs are the evaluation folders (summary.json + scores.parquet,
see dscodec/evaluate/runner.py) and the training runs' metric histories in MLflow.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from dscodec import layout
from dscodec.config import config_hash, reports_path
from dscodec.report import figures, plan
from dscodec.report.collect import EvalResult, load_result, metric_models
from dscodec.report.paper_values import paper_value
from dscodec.report.tables import Cell, Column, Row, Table

# Columns as in the paper (bandwidth, Nq, tokens/s, UTMOS, PESQ, STOI, V/UV F1) plus PESQ-NB,
# speaker similarity, DNSMOS (OVRL) and WER/CER of an ASR transcript (lower is better). Key = score column in scores.parquet.
METRIC_COLUMNS = [
    Column("utmos", "UTMOS"), Column("pesq_wb", "PESQ-WB"), Column("pesq_nb", "PESQ-NB"),
    Column("stoi", "STOI"), Column("vuv_f1", "V/UV F1"), Column("speaker_sim", "Spk-Sim"),
    Column("dnsmos_ovrl", "DNSMOS"), Column("wer", "WER"), Column("cer", "CER"),
]
KBPS = Column("kbps", "kbps", digits=2)
LEARNED = {"utmos": "UTMOS", "vuv_f1": "V/UV F1", "speaker_sim": "Spk-Sim", "dnsmos_ovrl": "DNSMOS", "wer": "WER/CER"}


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    return f"{float(value):.{digits}f}" if digits else f"{float(value):g}"


def _label(cfg: Mapping[str, Any], result: EvalResult, with_stage: bool) -> str:
    entity = result.entity
    if entity.kind == "system":
        label = str(cfg["systems"].get(entity.name, {}).get("label", entity.name))
        return f"{label} (stage {entity.stage})" if with_stage or entity.stage == 1 else label
    if entity.kind == "ground_truth":
        return "Ground truth"
    return result.label if result.summary.get("label") else entity.name


def _corpus_line(cfg: Mapping[str, Any], testset: str, results: list[EvalResult]) -> str:
    data = cfg["data"]
    corpus = "librispeech" if testset.startswith("librispeech") else "ljspeech"
    source = data[corpus]["source"]
    if source == "sample":
        sc = data["sample_corpus"]
        where = (f"the built-in synthetic sample corpus ({sc['minutes']} min in all, TTS engines "
                 f"{', '.join(sc['engines'])}, seed {sc['seed']}), {corpus} layout")
    else:
        where = f"real {corpus} data ({source}: {data[corpus].get('root')})"
    return f"Test set `{testset}` from {where}" + _subset_text(results)


def _subset_text(results: list[EvalResult]) -> str:
    """'; 6 of 120 utterances drawn with seed 0, stratified over speakers: 3 speakers (19 ×2, ...)'
    from the evaluations' summary.json, so the footer names what was scored, not what the config says now."""
    subsets: dict[str, list[str]] = {}
    for r in results:
        sub = r.summary.get("subset") if r.ran else None
        if sub:
            subsets.setdefault(json.dumps(sub, sort_keys=True), []).append(r.label)
    texts = []
    for key in subsets:
        sub = json.loads(key)
        speakers = ", ".join(f"{spk} ×{n}" for spk, n in sub["speakers"].items())
        drawn = (f"{sub['utterances']} of {sub['manifest_utterances']} utterances drawn with seed {sub['seed']}, "
                 "stratified over speakers" if sub["utterances"] < sub["manifest_utterances"]
                 else f"all {sub['utterances']} utterances")
        texts.append(f"{drawn}: {len(sub['speakers'])} speaker{'s' if len(sub['speakers']) != 1 else ''} ({speakers})")
    if len(texts) > 1:   # stale evaluations from another config: say which row scored what
        return "; rows scored different subsets: " + " | ".join(
            f"{', '.join(labels)}: {text}" for labels, text in zip(subsets.values(), texts))
    return f"; {texts[0]}" if texts else ""


def _scored_text(rows: list[Row]) -> str:
    """'; 6 utterances scored per cell', or '; 4-6 of 6 utterances scored per cell (n/N where fewer)':
    the utterances the means are over, not the utterances attempted."""
    cells = [c for row in rows for key, c in row.cells.items() if key != "kbps" and c.total is not None]
    if not cells:
        return ""
    scored = sorted({c.n for c in cells})
    totals = sorted({int(c.total) for c in cells if c.total is not None})
    attempted = "/".join(map(str, totals))       # several: rows evaluated on different subsets
    if len(totals) == 1 and scored == totals:
        return f"; {attempted} utterances scored per cell"
    span = str(scored[0]) if len(scored) == 1 else f"{scored[0]}–{scored[-1]}"
    return f"; {span} of {attempted} utterances scored per cell (n/N where fewer)"


def _training_line(cfg: Mapping[str, Any], results: list[EvalResult] | None = None) -> str:
    """Model size and schedule of the DS-Codec rows, and the machine(s) that trained those of
    `results` (every configured system when None)."""
    systems = None if results is None else [r.entity.name for r in results if r.entity.kind == "system"]
    t = cfg["train"]
    s1, s2 = t["stage1"], t["stage2"]
    return (f"DS-Codec systems: model size `{cfg['model']['size']}`; stage 1 {s1['steps']} steps x batch "
            f"{s1['batch_size']}, stage 2 {s2['steps']} steps x batch {s2['batch_size']} "
            f"({t['segment_seconds']} s crops){_machine_text(cfg, systems)}. Paper: full-size model, "
            f"LibriSpeech 960 h, hundreds of thousands of steps on 2x V100.")


def _machine_text(cfg: Mapping[str, Any], systems: list[str] | None) -> str:
    """'; trained on <machine>' from the trainings' train_summary.json (both stages of each system).

    Why: the same commit and config train other models on another CPU type (oneDNN's float
    rounding differs), so a number is only reproducible with the machine named beside it."""
    names = sorted(set(systems if systems is not None else cfg["systems"]))
    machines: dict[str, list[str]] = {}
    for system in names:
        for stage in (1, 2):
            path = Path(layout.train_summary(cfg, system, stage))
            if not path.is_file():
                continue
            try:
                machine = json.loads(path.read_text()).get("machine") or "not recorded"
            except (OSError, ValueError):
                machine = "unreadable train_summary.json"
            machines.setdefault(str(machine), []).append(f"{system} stage {stage}")
    if not machines:
        return ""
    if len(machines) == 1:
        return f"; trained on: {next(iter(machines))}"
    return "; trained on: " + " | ".join(f"{m} ({', '.join(runs)})" for m, runs in machines.items())


def build_table(cfg: Mapping[str, Any], spec: plan.TableSpec, out_dir: Path) -> list[Path]:
    results = [load_result(cfg, e, spec.testset) for e in spec.entities]
    with_stage = spec.name == "table3"
    rows: list[Row] = []
    notes: list[str] = []
    for result in results:
        info = result.info
        dirname = result.entity.dirname
        kbps = info.get("bitrate_kbps")
        row = Row(label=_label(cfg, result, with_stage),
                  info={"Nq": _fmt(info.get("n_codebooks")), "tok/s": _fmt(info.get("tokens_per_second"))})
        row.cells["kbps"] = Cell(mean=float(kbps) if kbps is not None else None,
                                 paper=paper_value(spec.paper_table, dirname, "kbps"))
        for col in METRIC_COLUMNS:
            cell = result.cell(col.key)
            cell.paper = paper_value(spec.paper_table, dirname, col.key)
            row.cells[col.key] = cell
        rows.append(row)
        if not result.ran:
            notes.append(f"{row.label}: {result.metric_note('pesq_wb')}")
    unavailable: dict[str, set[str]] = {}
    for result in results:
        if result.ran:
            for col in METRIC_COLUMNS:
                note = result.metric_note(col.key)
                if note and "not applicable" not in note:
                    unavailable.setdefault(col.header, set()).add(note)
    models = metric_models(results, {k: v for k, v in LEARNED.items()})
    footer = [
        _corpus_line(cfg, spec.testset, results) + _scored_text(rows),
        _training_line(cfg, results),
        "Cells: mean ± 95% CI (t-interval over utterances); WER/CER: word/character error rate of an ASR transcript "
        "against the test set's text (lower is better; the ground-truth row is the recogniser's own floor); '(n/N)': only n of the N utterances attempted could be "
        "scored (the failures are listed in each evaluation's summary.json). kbps: measured from the encoded "
        "bitstreams (DS-Codec .dsc files, Opus/Codec2 payload) where the codec writes one, else nominal. '(paper)' "
        "columns: the value published in the paper, for comparison only.",
        *(f"{row.label}: {r.info['settings']}" for row, r in zip(rows, results) if r.ran and r.info.get("settings")),
        *(f"{header} computed by: {model}" for header, model in models.items()),
        *(f"{header}: {'; '.join(sorted(reasons))}" for header, reasons in unavailable.items()),
        *notes,
    ]
    table = Table(spec.name, spec.title, ["Nq", "tok/s"], [KBPS, *METRIC_COLUMNS], rows, footer)
    folder = "ablations" if spec.name.startswith("vq_vs_pq") else "tables"
    return table.write(out_dir / folder)


# ------------------------------------------------------------------------------- figures
def _history(cfg: Mapping[str, Any], run: plan.RunRef, key: str) -> pd.DataFrame:
    from dscodec.report.mlflow_history import find_run, metric_history

    run_id = find_run(cfg, run.system, run.stage)
    return metric_history(cfg, run_id, key) if run_id else pd.DataFrame(columns=["step", "value"])


def _run_label(cfg: Mapping[str, Any], run: plan.RunRef) -> str:
    spec = cfg["systems"][run.system]
    arch = {"mirror": "mirrored", "nonmirror": "joint non-mirrored"}[spec["stage1"]] if run.stage == 1 else (
        "+Transformer" if spec.get("stage2") != "plain" else "no Transformer")
    return f"{spec.get('label', run.system)} ({arch})"


def build_figure2(cfg: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Paper Figure 2: VQ loss and quantizer input/output MSE during stage 1, mirrored vs joint non-mirrored."""
    runs = plan.figure2_runs(cfg)
    panels, records = [], []
    for key, ylabel in (("vq_loss", "VQ loss"), ("quant_mse", "MSE(quantizer in, out)")):
        series = {}
        for run in runs:
            frame = _history(cfg, run, key)
            series[_run_label(cfg, run)] = frame
            records += [{"system": run.system, "stage": run.stage, "metric": key, "step": int(s), "value": float(v)}
                        for s, v in zip(frame["step"], frame["value"])]
        panels.append((ylabel, series))
    paths = figures.line_panels(panels, "Stage-1 training: VQ loss and quantizer in/out MSE (cf. paper Fig. 2)",
                                out_dir / "figures" / "figure2", smooth_window=cfg["report"]["smooth_window"],
                                log_y=(0, 1))
    csv = out_dir / "figures" / "figure2.csv"
    pd.DataFrame.from_records(records, columns=["system", "stage", "metric", "step", "value"]).to_csv(csv, index=False)
    return [*paths, csv]


def build_training_curves(cfg: Mapping[str, Any], out_dir: Path) -> list[Path]:
    paths: list[Path] = []
    window = cfg["report"]["smooth_window"]
    for stage in (1, 2):
        runs = [r for r in plan.all_runs(cfg) if r.stage == stage]
        panels = [(ylabel, {_run_label(cfg, r): _history(cfg, r, key) for r in runs})
                  for key, ylabel in (("loss_mel", "mel L1 (train)"), ("val_mel_loss", "mel loss (dev)"),
                                      ("loss_g", "generator loss"), ("loss_d", "discriminator loss"))]
        paths += figures.line_panels(panels, f"Training curves, stage {stage}",
                                     out_dir / "figures" / f"training_curves_stage{stage}", smooth_window=window)
    return paths


def build_codebook_usage(cfg: Mapping[str, Any], out_dir: Path) -> list[Path]:
    runs = plan.codebook_runs(cfg)
    panels = [(ylabel, {_run_label(cfg, r): _history(cfg, r, key) for r in runs})
              for key, ylabel in (("perplexity", "codebook perplexity"), ("usage", "fraction of codes used"))]
    return figures.line_panels(panels, "Codebook usage during stage 1: VQ vs PQ",
                               out_dir / "figures" / "codebook_usage_vq_vs_pq",
                               smooth_window=cfg["report"]["smooth_window"])


def _family(cfg: Mapping[str, Any], result: EvalResult) -> str:
    entity = result.entity
    if entity.kind == "system":
        spec = cfg["systems"][entity.name]
        main = spec["stage1"] == "mirror" and spec.get("stage2") != "plain" and entity.stage == 2
        return "DS-Codec" if main else "ablation"
    kind = cfg["evaluation"]["baselines"].get(entity.name, {}).get("kind")
    return "classical" if kind in ("opus", "codec2") else "neural baseline"


def build_bitrate_quality(cfg: Mapping[str, Any], out_dir: Path) -> list[Path]:
    spec = plan.target_tables(cfg, "bitrate_quality")[0]
    records = []
    for entity in spec.entities:
        if entity.kind == "ground_truth":
            continue
        result = load_result(cfg, entity, spec.testset)
        if not result.ran:
            continue
        record: dict[str, Any] = {"label": _label(cfg, result, False), "kbps": result.info.get("bitrate_kbps"),
                                  "family": _family(cfg, result)}
        for key in ("pesq_wb", "stoi", "utmos", "dnsmos_ovrl"):
            record[key] = result.cell(key).mean
        records.append(record)
    points = pd.DataFrame.from_records(records, columns=["label", "kbps", "family", "pesq_wb", "stoi", "utmos",
                                                         "dnsmos_ovrl"])
    metrics = [("pesq_wb", "PESQ-WB"), ("stoi", "STOI"), ("dnsmos_ovrl", "DNSMOS OVRL")]
    if points["utmos"].notna().any():
        metrics.insert(0, ("utmos", "UTMOS"))
    return figures.bitrate_vs_quality(points, metrics, f"Bitrate vs quality ({spec.testset})",
                                      out_dir / "figures" / "bitrate_vs_quality")


# ------------------------------------------------------------------------------- listening page
def build_listen(cfg: Mapping[str, Any], out_dir: Path) -> list[Path]:
    from dscodec.data.manifest import read_manifest
    from dscodec.report.listen import Entry, build_page, pick_utterances

    spec = plan.target_tables(cfg, "listen")[0]
    results = [load_result(cfg, e, spec.testset) for e in spec.entities]
    ran = [r for r in results if r.ran]
    reference = next((r for r in ran if r.entity.kind == "ground_truth"), None)
    manifest_path = (reference.summary.get("manifest") if reference else None) or str(
        Path(layout.manifest(cfg, spec.testset)))
    manifest = read_manifest(manifest_path)
    evaluated = [str(i) for i in (reference.scores["id"] if reference is not None and "id" in reference.scores
                                  else manifest["id"])]
    count = int(cfg["report"]["listen_utterances"])
    ids = pick_utterances(evaluated, min(count, len(evaluated)), seed=int(cfg["seed"]))
    texts = dict(zip(manifest["id"].astype(str), manifest["text"].astype(str)))
    paths = dict(zip(manifest["id"].astype(str), manifest["path"].astype(str)))
    entries = [Entry("Reference", {i: Path(paths[i]) for i in ids if i in paths}, "original")]
    for result in ran:
        if result.entity.kind == "ground_truth":
            continue
        audio = {i: result.folder / "audio" / f"{i}.flac" for i in ids}
        kbps = result.info.get("bitrate_kbps")
        entries.append(Entry(_label(cfg, result, True), audio, f"{kbps:.2f} kbps" if kbps else "",
                             _utterance_scores(result, ids)))
    footer = [_corpus_line(cfg, spec.testset, results), _training_line(cfg, results),
              *(f"{_label(cfg, r, True)}: {r.metric_note('pesq_wb')}" for r in results if not r.ran)]
    index = build_page(out_dir / "listen", "DS-Codec reproduction: listening examples", [(i, texts.get(i, "")) for i in ids],
                       entries, footer)
    return [index]


def _utterance_scores(result: EvalResult, ids: list[str]) -> dict[str, dict[str, float]]:
    """{utterance id: {score key: value}} of the scores the listening page shows beside a player."""
    from dscodec.report.listen import SCORE_COLUMNS

    frame = result.scores
    if "id" not in frame:
        return {}
    keys = [key for key, _, _ in SCORE_COLUMNS if key in frame]
    rows = frame.assign(id=frame["id"].astype(str)).set_index("id")
    return {i: {k: float(pd.to_numeric(rows.at[i, k], errors="coerce")) for k in keys} for i in ids if i in rows.index}


# ------------------------------------------------------------------------------- dispatch
def build_target(cfg: Mapping[str, Any], target: str) -> list[Path]:
    out_dir = reports_path(cfg)
    paths: list[Path] = []
    for spec in plan.target_tables(cfg, target) if target not in ("bitrate_quality", "listen") else []:
        paths += build_table(cfg, spec, out_dir)
    builders = {"figure2": build_figure2, "training_curves": build_training_curves,
                "ablation_vq_vs_pq": build_codebook_usage, "bitrate_quality": build_bitrate_quality,
                "listen": build_listen}
    if target in builders:
        paths += builders[target](cfg, out_dir)
    return paths


def build_index(cfg: Mapping[str, Any], commit: str) -> Path:
    """reports/README.md: every table and figure in one page, with the config and commit they came from."""
    out_dir = reports_path(cfg)
    lines = ["# DS-Codec reproduction: results", "",
             f"Generated by `snakemake reproduce_tables` at commit `{commit}` with the config in "
             f"[`config.yaml`](config.yaml) (hash `{config_hash(dict(cfg))}`). {_training_line(cfg)}", "",
             f"MLflow store: `{_store(cfg)}` (open it with `make mlflow-ui`).", ""]
    for folder in ("tables", "ablations"):
        for md in sorted((out_dir / folder).glob("*.md")):
            lines += [md.read_text().replace("### ", "## ", 1), f"([LaTeX]({folder}/{md.stem}.tex), "
                      f"[CSV]({folder}/{md.stem}.csv))", ""]
    lines += ["## Figures", ""]
    for png in sorted((out_dir / "figures").glob("*.png")):
        lines += [f"### {png.stem}", "", f"![{png.stem}](figures/{png.name}) ([PDF](figures/{png.stem}.pdf))", ""]
    if (out_dir / "listen" / "index.html").is_file():
        lines += ["## Listening page", "", "[listen/index.html](listen/index.html) (open it in a browser)", ""]
    index = out_dir / "README.md"
    index.write_text("\n".join(lines))
    (out_dir / "config.yaml").write_text(_yaml(cfg))
    (out_dir / "provenance.json").write_text(json.dumps({"commit": commit, "config_hash": config_hash(dict(cfg))},
                                                       indent=2) + "\n")
    return index


def _store(cfg: Mapping[str, Any]) -> str:
    """The tracking store as a reader of the committed report should find it (relative, not this machine's path)."""
    uri = cfg["mlflow"].get("tracking_uri")
    return str(uri) if uri else f"sqlite:///{cfg['results_dir']}/mlflow/mlflow.db"


def _yaml(cfg: Mapping[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(dict(cfg), sort_keys=False)
