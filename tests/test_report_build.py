"""Report builders on hand-made evaluation folders and a temporary MLflow store."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from dscodec.config import load_config
from dscodec.report import build, plan
from dscodec.report.collect import mean_ci95
from dscodec.report.tables import Cell

COLUMNS = ["pesq_wb", "pesq_nb", "stoi", "vuv_f1", "speaker_sim", "dnsmos_ovrl"]
# as dscodec/evaluate/subset.py describes a draw of 6 of 40 utterances over three speakers
SUBSET = {"seed": 0, "max_utterances": 6, "manifest_utterances": 40, "utterances": 6,
          "speakers": {"1089": 2, "121": 2, "237": 2}}


def _cfg(tmp_path: Path) -> dict:
    return load_config(overrides={
        "results_dir": str(tmp_path / "r"), "reports_dir": str(tmp_path / "reports"),
        "evaluation": {"testsets": ["librispeech_test"]},
        "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    })


def _write_eval(cfg: dict, entity: plan.Entity, ids: list[str], rng: np.random.Generator, *,
                status: str = "ok", kbps: float | None = 1.0) -> Path:
    folder = Path(cfg["results_dir"]) / "eval" / entity.dirname / "librispeech_test"
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    if status != "ok":
        summary = {"status": "not_run", "reason": "weights absent (evaluation.baselines.x.checkpoint)",
                   "label": entity.name, "info": {"bitrate_kbps": kbps}}
        (folder / "summary.json").write_text(json.dumps(summary))
        pd.DataFrame(columns=["id", *COLUMNS]).to_parquet(folder / "scores.parquet")
        return folder
    scores = pd.DataFrame({"id": ids, **{c: rng.uniform(0.5, 1.0, len(ids)) for c in COLUMNS}})
    scores.loc[0, "pesq_wb"] = np.nan  # one failed utterance
    scores.to_parquet(folder / "scores.parquet")
    metrics = {c: {"mean": float(scores[c].mean()), "model": f"model-of-{c}", "failures": int(scores[c].isna().sum())}
               for c in COLUMNS}
    metrics["utmos"] = {"unavailable": "utmos22_strong not available: no network"}
    summary = {"status": "ok", "label": entity.name, "n_utterances": len(ids),
               "info": {"bitrate_kbps": kbps, "tokens_per_second": 80, "n_codebooks": 1, "settings": (
                   "VBR (opusenc --vbr), 20 ms frames, --speech, complexity 10" if entity.name.startswith("opus")
                   else None)}, "metrics": metrics,
               "subset": SUBSET}
    (folder / "summary.json").write_text(json.dumps(summary))
    for i in ids:
        sf.write(folder / "audio" / f"{i}.flac", rng.uniform(-0.1, 0.1, 8000).astype(np.float32), 16000)
    return folder


def _manifest(cfg: dict, ids: list[str], tmp_path: Path) -> None:
    paths = []
    for i in ids:
        p = tmp_path / "ref" / f"{i}.flac"
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, np.zeros(8000, np.float32), 16000)
        paths.append(str(p))
    frame = pd.DataFrame({"id": ids, "path": paths, "sample_rate": 16000, "frames": 8000, "speaker": "s",
                          "chapter": "c", "text": [f"text of {i}" for i in ids]})
    out = Path(cfg["results_dir"]) / "data" / "librispeech" / "test.tsv"
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, sep="\t", index=False)


@pytest.fixture()
def evaluated(tmp_path: Path) -> dict:
    cfg = _cfg(tmp_path)
    rng = np.random.default_rng(0)
    ids = [f"u{i}" for i in range(6)]
    _manifest(cfg, ids, tmp_path)
    for entity in plan.tables(cfg)["table1"].entities:
        not_run = entity.kind == "baseline" and entity.name.startswith("dac")
        _write_eval(cfg, entity, ids, rng, status="not_run" if not_run else "ok")
    return cfg


def test_table1_cells_are_recomputed_from_scores_with_paper_values(evaluated: dict) -> None:
    paths = build.build_target(evaluated, "table1")
    assert {p.suffix for p in paths} == {".md", ".tex", ".csv"}
    frame = pd.read_csv(next(p for p in paths if p.suffix == ".csv"))
    assert len(frame) == len(plan.tables(evaluated)["table1"].entities)
    vq = frame[frame["system"] == "DS-Codec-VQ"].iloc[0]
    scores = pd.read_parquet(Path(evaluated["results_dir"]) / "eval/ds_codec_vq-stage2/librispeech_test/scores.parquet")
    mean, ci = mean_ci95(scores["stoi"].to_numpy())
    assert vq["stoi_mean"] == pytest.approx(mean) and vq["stoi_ci95"] == pytest.approx(ci)
    assert vq["pesq_wb_n"] == 5                               # the failed utterance is not averaged in
    assert vq["pesq_wb_attempted"] == 6 and vq["stoi_n"] == vq["stoi_attempted"] == 6
    assert vq["stoi_paper"] == pytest.approx(0.941)           # published value beside ours
    assert np.isnan(vq["utmos_mean"]) and vq["utmos_note"].startswith("unavailable: utmos22_strong")
    dac = frame[frame["system"] == "dac_1cb"].iloc[0]
    assert dac["stoi_note"].startswith("not run: weights absent")
    md = next(p for p in paths if p.suffix == ".md").read_text()
    assert "not run" in md and "unavailable" in md and "(paper)" in md
    assert "Spk-Sim computed by: model-of-speaker_sim" in md
    # the footer names the speakers scored and how many utterances each (issue 11: it said "first 6")
    assert ("6 of 40 utterances drawn with seed 0, stratified over speakers: 3 speakers "
            "(1089 ×2, 121 ×2, 237 ×2)") in md
    assert "first 6" not in md
    tex = next(p for p in paths if p.suffix == ".tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and "$\\pm$" in tex
    # issue 11: a partly failed metric says so in its cell, and the footer counts scored utterances
    vq_md = next(line for line in md.splitlines() if line.startswith("| DS-Codec-VQ |")).split(" | ")
    header = next(line for line in md.splitlines() if line.startswith("| System")).split(" | ")
    pesq_cell, stoi_cell = vq_md[header.index("PESQ-WB")], vq_md[header.index("STOI")]
    assert pesq_cell == f"{mean_ci95(scores['pesq_wb'].dropna().to_numpy())[0]:.3f} ± " \
        f"{mean_ci95(scores['pesq_wb'].dropna().to_numpy())[1]:.3f} (5/6)"
    assert "(" not in stoi_cell                              # complete: no marker
    assert "5–6 of 6 utterances scored per cell (n/N where fewer)" in md
    assert "(5/6)" in tex
    # issue 11: the Opus mode is stated (it ran in hard CBR without saying so)
    assert "- opus_6kbps: VBR (opusenc --vbr), 20 ms frames, --speech, complexity 10" in md


def test_footers_name_the_machine_that_trained_the_ds_codec_rows(evaluated: dict) -> None:
    """The same commit and config train other models on another CPU type: the footer says which machine
    trained the rows (from train_summary.json), and says so when two trainings ran on different ones."""
    from dscodec import layout

    def summary(system: str, stage: int, machine: str | None) -> None:
        path = Path(layout.train_summary(evaluated, system, stage))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"steps": 1, **({"machine": machine} if machine else {})}))

    md = next(p for p in build.build_target(evaluated, "table1") if p.suffix == ".md").read_text()
    assert "trained on" not in md                               # no training summaries: nothing claimed
    for system in evaluated["systems"]:
        for stage in (1, 2):
            summary(system, stage, "CPU-A, 2 CPUs; torch 2.9.1")
    md = next(p for p in build.build_target(evaluated, "table1") if p.suffix == ".md").read_text()
    assert "(1.0 s crops); trained on: CPU-A, 2 CPUs; torch 2.9.1. Paper:" in md
    summary("ds_codec_vq", 2, "CPU-B, 2 CPUs; torch 2.9.1")
    summary("ds_codec_pq", 1, None)                            # trained before the machine was recorded
    md = next(p for p in build.build_target(evaluated, "table1") if p.suffix == ".md").read_text()
    assert "CPU-B, 2 CPUs; torch 2.9.1 (ds_codec_vq stage 2)" in md and "not recorded (ds_codec_pq stage 1)" in md


@pytest.mark.parametrize("cell, text", [
    (Cell(mean=1.2341, ci95=0.04, n=5, total=6), "1.234 ± 0.040 (5/6)"),
    (Cell(mean=1.2341, ci95=0.04, n=6, total=6), "1.234 ± 0.040"),
    (Cell(mean=1.2341, n=1, total=3), "1.234 (1/3)"),
    (Cell(mean=2.0), "2.000"),                                           # kbps: no utterance count
    (Cell(note="failed: every utterance failed (6 failures)", total=6), "failed (0/6)"),
    (Cell(note="unavailable: no model"), "unavailable"),
])
def test_cell_text_marks_partial_means(cell: Cell, text: str) -> None:
    assert cell.text(3) == text


def test_bitrate_figure_and_listening_page(evaluated: dict) -> None:
    figs = build.build_target(evaluated, "bitrate_quality")
    assert sorted(p.suffix for p in figs) == [".pdf", ".png"] and all(p.stat().st_size > 0 for p in figs)
    [index] = build.build_target(evaluated, "listen")
    page = index.read_text()
    assert page.count("<audio") >= 5 and "dac_1cb: not run" in page  # listed, not shown as a column
    assert "3 speakers (1089 ×2, 121 ×2, 237 ×2)" in page
    media = list((index.parent / "media").iterdir())
    assert any(m.suffix == ".png" for m in media) and any(m.suffix == ".flac" for m in media)


def test_figure2_reads_histories_from_mlflow(tmp_path: Path) -> None:
    from dscodec import tracking

    cfg = _cfg(tmp_path)
    for run in plan.figure2_runs(cfg):
        with tracking.start_run(cfg, f"{run.system}-stage1", {"system": run.system, "stage": "1", "job": "train"}):
            for step in range(1, 6):
                tracking.log_metrics({"vq_loss": 1.0 / step, "quant_mse": 0.5 / step}, step=step)
    paths = build.build_target(cfg, "figure2")
    csv = pd.read_csv(next(p for p in paths if p.suffix == ".csv"))
    assert set(csv["system"]) == {r.system for r in plan.figure2_runs(cfg)}
    assert len(csv) == 2 * 5 * len(plan.figure2_runs(cfg))
    assert csv[(csv.metric == "vq_loss") & (csv.step == 2)]["value"].eq(0.5).all()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


# Injected into a copy of the page: measures what the browser laid out, before anything is added.
_LAYOUT_PROBE = """<script>
window.addEventListener('load', () => {
  const box = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
  const first = document.querySelector('section');
  const out = {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
    players: [...document.querySelectorAll('audio')].map(box), first: box(first),
    rows: [...first.querySelectorAll('tbody tr')].map(r => r.innerText)};
  const pre = document.createElement('pre'); pre.id = 'layout'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def screenshot(url: str, shot: Path, width: int, height: int, wait_ms: int = 2000) -> None:
    """Headless-Chromium screenshot of `url`; copied to $DSCODEC_SCREENSHOTS (e.g. docs/img) when set,
    which is how the README's screenshots are made."""
    import os

    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", f"--window-size={width},{height}", f"--virtual-time-budget={wait_ms}",
                    url], capture_output=True, timeout=180)
    assert shot.is_file() and shot.stat().st_size > 10_000   # something was drawn
    if os.environ.get("DSCODEC_SCREENSHOTS"):
        shutil.copyfile(shot, Path(os.environ["DSCODEC_SCREENSHOTS"]) / shot.name)


@pytest.mark.skipif(_chromium() is None, reason="no Chromium installed (Debian: apt-get install chromium; "
                                              "`make system-deps` does it where it can)")
def test_listening_page_fits_a_laptop_screen(evaluated: dict, tmp_path: Path) -> None:
    """Issue 15: at 1366x768 one utterance's reference and every system are on screen, no player off to
    the right, each row with its bitrate and the utterance's scores."""
    import html as htmllib

    [index] = build.build_target(evaluated, "listen")
    probe = index.with_name("probe.html")
    probe.write_text(index.read_text().replace("</body>", _LAYOUT_PROBE + "</body>"))
    proc = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1366,768",
                           "--virtual-time-budget=2000", "--dump-dom", "--allow-file-access-from-files",
                           probe.resolve().as_uri()], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    layout = json.loads(htmllib.unescape(proc.stdout.split("<pre id=\"layout\">")[1].split("</pre>")[0]))
    systems = len([e for e in plan.target_tables(evaluated, "listen")[0].entities if e.kind != "ground_truth"
                   and not (e.kind == "baseline" and e.name.startswith("dac"))])   # the fixture's dac did not run
    rows = layout["rows"]
    assert len(rows) == 1 + systems and rows[0].startswith("Reference")
    assert len(layout["players"]) == 5 * (1 + systems)         # 5 utterances x (reference + systems)
    assert layout["scrollWidth"] <= 1366                        # no horizontal scrolling
    assert all(right <= layout["innerWidth"] for _, _, right, _ in layout["players"])
    top, bottom = layout["first"][1], layout["first"][3]
    assert bottom - top <= 768, f"first utterance is {bottom - top:.0f} px tall: not on one screen"
    vq = next(r for r in rows if r.startswith("DS-Codec-VQ (stage 2)"))
    assert "1.00 kbps" in vq and len(re.findall(r"\b0\.\d\d\b", vq)) >= 1   # bitrate and per-utterance scores
    assert "PESQ-WB" in index.read_text() and "STOI" in index.read_text()
    probe.unlink()
    screenshot(index.resolve().as_uri(), tmp_path / "listen_1366x768.png", 1366, 768)


# ------------------------------------------------------------------------------- figures fit for a paper
def _fake_history(cfg: dict, run: plan.RunRef, key: str) -> pd.DataFrame:
    """Histories shaped like real ones (the figure test is about layout; figure2's MLflow test covers reading)."""
    steps = np.array([1, 10, 100, 300])
    return pd.DataFrame({"step": steps, "value": (1.0 + 0.1 * len(run.system)) / steps**0.3})


def test_every_figure_is_styled_without_colliding_text(evaluated: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: each report figure renders with no two texts overlapping, plain decimal log ticks,
    PDF (TrueType fonts embedded) beside the PNG, at a two-column paper's sizes."""
    from dscodec.report import figures

    monkeypatch.setattr(build, "_history", _fake_history)
    seen: dict[str, dict] = {}
    save = figures.save

    def checked_save(fig, out_stem: Path) -> list[Path]:
        ticks = [t for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) for t in axis.get_ticklabels()]
        seen[out_stem.name] = {"overlaps": figures.overlapping_texts(fig), "width_in": fig.get_size_inches()[0],
                               "ticks": [t.get_text() for t in ticks],
                               "sizes": {t.get_fontsize() for _, t in _texts(fig)}}
        return save(fig, out_stem)

    monkeypatch.setattr(figures, "save", checked_save)
    paths = [p for target in ("figure2", "training_curves", "ablation_vq_vs_pq", "bitrate_quality")
             for p in build.build_target(evaluated, target)]
    assert set(seen) == {"figure2", "training_curves_stage1", "training_curves_stage2", "codebook_usage_vq_vs_pq",
                         "bitrate_vs_quality"}
    for name, info in seen.items():
        assert info["overlaps"] == [], f"{name}: overlapping texts {info['overlaps']}"
        assert info["width_in"] in (figures.COLUMN_IN, figures.TEXT_IN), name
        assert min(info["sizes"]) >= 6, f"{name}: text below 6 pt is unreadable at column width"
        assert not any("times" in t or "^" in t or "\\" in t for t in info["ticks"]), (name, info["ticks"])
    pdfs = [p for p in paths if p.suffix == ".pdf"]
    assert len(pdfs) == 5 and all(p.with_suffix(".png").is_file() for p in pdfs)
    for pdf in pdfs:
        raw = pdf.read_bytes()
        assert b"/FontFile2" in raw and b"/Type3" not in raw, f"{pdf.name}: fonts not embedded as TrueType"


def _texts(fig) -> list:
    from matplotlib.text import Text

    return [(t.get_text(), t) for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_overlap_check_and_label_placement_on_a_crowded_cluster(tmp_path: Path) -> None:
    """The overlap check catches colliding labels (so the figure test can fail), and place_labels
    separates points that sit on top of each other (DS-Codec-PQ, its 2-t variant and APCodec+ at one bitrate)."""
    from dscodec.report import figures

    plt = figures._plt()
    plt.style.use(str(figures.STYLE))
    fig, ax = plt.subplots()
    xs, ys = [0.8, 1.28, 1.28, 1.28, 1.21], [1.10, 1.11, 1.112, 1.105, 1.76]
    labels = ["DS-Codec-VQ", "DS-Codec-PQ", "DS-Codec-PQ (2-t)", "APCodec+ (PQ)", "Codec2 (1.2 kbps)"]
    ax.scatter(xs, ys)
    for x, y, label in zip(xs, ys, labels):              # what the old figure did: the same offset for all
        ax.annotate(label, (x, y), xytext=(3, 2), textcoords="offset points", fontsize=6)
    assert len(figures.overlapping_texts(fig)) >= 2
    plt.close(fig)

    fig, ax = plt.subplots()
    ax.scatter(xs, ys)
    ax.set_xscale("log")
    ax.margins(x=0.25, y=0.2)
    figures.plain_log_ticks(ax.xaxis)
    figures.place_labels(ax, xs, ys, labels)
    assert figures.overlapping_texts(fig) == []
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.xaxis.get_ticklabels() if t.get_text()]
    assert len(ticks) >= 2 and all(float(t) > 0 for t in ticks), ticks   # plain decimals on the log axis
    plt.close(fig)
    plt.style.use("default")


# ------------------------------------------------------------------------------- end-of-run summary
def test_summary_names_reports_headline_rows_and_mlflow_command(evaluated: dict, capsys: pytest.CaptureFixture) -> None:
    """Issue 15: the end of reproduce_tables says where the reports are, DS-Codec's Table 1 rows with the
    best baseline at a similar bitrate (values from the evaluations), and the command that opens MLflow."""
    from dscodec.report import summary

    summary.print_summary_if_built(evaluated)
    assert capsys.readouterr().out == ""                       # no reports index yet: a partial run prints nothing
    (Path(evaluated["reports_dir"])).mkdir(parents=True, exist_ok=True)
    (Path(evaluated["reports_dir"]) / "README.md").write_text("index")
    summary.print_summary_if_built(evaluated)
    text = capsys.readouterr().out
    assert f"Reports: {evaluated['reports_dir']}/README.md" in text
    assert f"mlflow ui --backend-store-uri sqlite:///{evaluated['results_dir'].rsplit('/', 1)[0]}/mlflow.db" in text
    vq = next(line for line in text.splitlines() if line.strip().startswith("DS-Codec-VQ "))
    scores = pd.read_parquet(Path(evaluated["results_dir"]) / "eval/ds_codec_vq-stage2/librispeech_test/scores.parquet")
    mean, ci = mean_ci95(scores["stoi"].to_numpy())
    assert f"STOI {mean:.2f} ± {ci:.2f}" in vq and "1.00 kbps" in vq
    # every baseline of the fixture is at 1 kbps: the best by PESQ-WB follows each DS-Codec row
    best = next(line for line in text.splitlines() if "best baseline:" in line)
    ran = [e for e in plan.tables(evaluated)["table1"].entities if e.kind == "baseline" and not e.name.startswith("dac")]
    pesq = {e.name: pd.read_parquet(Path(evaluated["results_dir"]) / "eval" / e.dirname / "librispeech_test"
                                    / "scores.parquet")["pesq_wb"].mean() for e in ran}
    assert max(pesq, key=pesq.get) in best


def test_snakefile_prints_the_summary_on_success() -> None:
    text = (Path(__file__).parents[1] / "Snakefile").read_text()
    assert "onsuccess:" in text and "print_summary_if_built(config)" in text
