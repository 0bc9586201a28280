"""Figures (PNG + PDF, matplotlib), built from MLflow histories and the evaluation summaries.

- figure2: VQ loss and quantizer input/output MSE over stage-1 training, mirrored vs joint
  non-mirrored model (paper, Figure 2).
- training curves per (system, stage); codebook usage / perplexity for VQ vs PQ;
  bitrate vs quality for every evaluated system (Opus and Codec2 included).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd

Series = Mapping[str, pd.DataFrame]  # legend label -> frame with columns step, value


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.grid": True, "grid.alpha": 0.3, "savefig.bbox": "tight"})
    return plt


def save(fig, out_stem: Path) -> list[Path]:
    """Save as PNG (screens) and PDF (print) side by side."""
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [out_stem.with_suffix(".png"), out_stem.with_suffix(".pdf")]
    fig.savefig(paths[0], dpi=200)
    fig.savefig(paths[1])
    _plt().close(fig)
    return paths


def smooth(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    if frame.empty or window <= 1:
        return frame
    out = frame.copy()
    out["value"] = out["value"].rolling(window, min_periods=1).mean()
    return out


def line_panels(panels: Sequence[tuple[str, Series]], title: str, out_stem: Path, smooth_window: int = 1,
                xlabel: str = "training step", log_y: Iterable[int] = ()) -> list[Path]:
    """One subplot per (y-label, {legend: history}); missing series are listed in the panel."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 2.8), squeeze=False)
    log_y = set(log_y)
    for i, (ax, (ylabel, series)) in enumerate(zip(axes[0], panels)):
        missing = []
        for label, frame in series.items():
            if frame is None or frame.empty:
                missing.append(label)
                continue
            data = smooth(frame, smooth_window)
            ax.plot(data["step"], data["value"], label=label, linewidth=1.2)
        if i in log_y:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if missing:
            ax.text(0.02, 0.02, "no data: " + ", ".join(missing), transform=ax.transAxes, fontsize=7, color="0.4")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save(fig, out_stem)


def bitrate_vs_quality(points: pd.DataFrame, metrics: Sequence[tuple[str, str]], title: str,
                       out_stem: Path) -> list[Path]:
    """Scatter of kbps (log x) against each metric; `points` has columns label, kbps, family and metric means."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.8 * len(metrics), 3.0), squeeze=False)
    markers = {"DS-Codec": "o", "ablation": "s", "neural baseline": "^", "classical": "D", "reference": "*"}
    for ax, (key, ylabel) in zip(axes[0], metrics):
        usable = points.dropna(subset=["kbps", key]) if key in points else points.iloc[0:0]
        for family, group in usable.groupby("family"):
            ax.scatter(group["kbps"], group[key], marker=markers.get(family, "x"), label=family, s=28)
            for _, row in group.iterrows():
                ax.annotate(row["label"], (row["kbps"], row[key]), fontsize=6, xytext=(3, 2),
                            textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("bitrate (kbps, measured)")
        ax.set_ylabel(ylabel)
        if usable.empty:
            ax.text(0.5, 0.5, f"no {ylabel} values", ha="center", transform=ax.transAxes, color="0.4")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=7, bbox_to_anchor=(0.5, -0.08))
    fig.suptitle(title, fontsize=10)
    return save(fig, out_stem)
