"""Figures (PNG + PDF, matplotlib), built from MLflow histories and the evaluation summaries.

- figure2: VQ loss and quantizer input/output MSE over stage-1 training, mirrored vs joint
  non-mirrored model (paper, Figure 2).
- training curves per (system, stage); codebook usage / perplexity for VQ vs PQ;
  bitrate vs quality for every evaluated system (Opus and Codec2 included).

Why the care with layout: researchers put these figures in a paper. Every figure uses one
style (`paper.mplstyle`: column-width sizes, 7-8 pt text, TrueType fonts embedded in the PDF),
log axes are labelled with plain decimals (1, 2, 5 rather than 2×10^0), point labels are placed
where they collide with nothing (`place_labels`), and legends sit outside the axes.
`overlapping_texts` finds any two texts that still collide; the tests fail on it.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

Series = Mapping[str, pd.DataFrame]  # legend label -> frame with columns step, value

STYLE = Path(__file__).with_name("paper.mplstyle")
COLUMN_IN = 3.5   # one column of a two-column paper (IEEE/ACM/Interspeech: 3.3-3.5 in)
TEXT_IN = 7.0     # both columns


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _styled(draw: Callable[..., list[Path]]) -> Callable[..., list[Path]]:
    """Run a figure function (drawing and saving) under the package style, leaving the global
    matplotlib settings of the caller (e.g. the listening page's spectrograms) untouched."""
    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> list[Path]:
        with _plt().style.context(str(STYLE)):
            return draw(*args, **kwargs)
    return wrapper


def save(fig, out_stem: Path) -> list[Path]:
    """Save as PNG (screens) and PDF (print, fonts embedded) side by side."""
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [out_stem.with_suffix(".png"), out_stem.with_suffix(".pdf")]
    fig.savefig(paths[0])
    fig.savefig(paths[1])
    _plt().close(fig)
    return paths


def smooth(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    if frame.empty or window <= 1:
        return frame
    out = frame.copy()
    out["value"] = out["value"].rolling(window, min_periods=1).mean()
    return out


# ------------------------------------------------------------------------------- axes helpers
def plain_log_ticks(axis: Any) -> None:
    """Log-axis ticks at 1-2-5 steps labelled as plain decimals; unlabelled minor ticks.

    Why: matplotlib labels a log axis spanning less than a decade with minor labels
    "2×10^0 3×10^0 4×10^0" that run into each other.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    lo, hi = sorted(axis.get_view_interval())
    if not (lo > 0 and math.isfinite(hi)):
        return
    decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
    for steps in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7), tuple(range(1, 10))):
        ticks = [m * 10.0**d for d in decades for m in steps if lo <= m * 10.0**d <= hi]
        if len(ticks) >= 2:
            break
    if len(ticks) > 6:    # many decades: decades only
        ticks = [10.0**d for d in decades if lo <= 10.0**d <= hi] or ticks[::2]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _text_box(text: Any, renderer: Any) -> Any:
    """Display-space box of the text alone (an Annotation's box would include its leader line)."""
    from matplotlib.text import Annotation, Text

    if isinstance(text, Annotation):
        text.update_positions(renderer)
    return Text.get_window_extent(text, renderer)


# Offsets (points) tried in order for a point label: beside the marker first, then further
# out with a leader line.
_NEAR = [(4, 2, "left"), (4, -8, "left"), (-4, 2, "right"), (-4, -8, "right"), (0, 6, "center"), (0, -12, "center")]
_FAR = [(dx, dy, ha) for dy in (14, -18, 24, -28, 34, -38, 46, -50) for dx, ha in ((8, "left"), (-8, "right"))]


def place_labels(ax: Any, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], fontsize: float = 6) -> list:
    """Annotate each (x, y) with its label where it overlaps no other label, marker or the axes edge.

    Greedy: labels are placed left to right; each takes the first free spot of a fixed list of
    offsets (near the marker, then further away with a thin leader line). When no spot is free
    the least-overlapping one is used, and `overlapping_texts` will report it.
    """
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    points = ax.transData.transform(list(zip(xs, ys))) if len(xs) else []
    marker = 4 * fig.dpi / 72
    taken = [(px - marker, py - marker, px + marker, py + marker) for px, py in points]
    placed = []
    for i in sorted(range(len(labels)), key=lambda k: (xs[k], ys[k])):
        best, best_cost = None, math.inf
        for dx, dy, ha in _NEAR + _FAR:
            far = (dx, dy, ha) in _FAR
            ann = ax.annotate(labels[i], (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points", ha=ha,
                              fontsize=fontsize, arrowprops=dict(arrowstyle="-", lw=0.4, color="0.5") if far else None)
            box = _text_box(ann, renderer)
            cost = sum(_overlap_area(box.extents, other) for other in taken)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            cost += 0 if inside else box.width * box.height
            if cost < best_cost:
                if best is not None:
                    best.remove()
                best, best_cost = ann, cost
            else:
                ann.remove()
            if cost == 0:
                break
        assert best is not None
        taken.append(tuple(_text_box(best, renderer).extents))
        placed.append(best)
    return placed


def _overlap_area(a: Sequence[float], b: Sequence[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def drawn_texts(fig: Any) -> list[tuple[str, Any]]:
    """(text, display box) of every non-empty text the figure draws: titles, axis and tick labels,
    annotations, legends."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = []
    candidates = [fig._suptitle] if getattr(fig, "_suptitle", None) is not None else []
    for legend in fig.legends:
        candidates += legend.get_texts()
    for ax in fig.axes:
        candidates += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        if ax.get_legend() is not None:
            candidates += ax.get_legend().get_texts()
        for axis in (ax.xaxis, ax.yaxis):
            candidates += [tick.label1 for tick in axis._update_ticks()]  # the ticks actually drawn
    for text in candidates:
        if text.get_visible() and text.get_text().strip():
            texts.append((text.get_text(), _text_box(text, renderer)))
    return texts


def overlapping_texts(fig: Any, tolerance_px: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of drawn texts whose boxes overlap by more than `tolerance_px` each way."""
    texts = drawn_texts(fig)
    pairs = []
    for i, (a, box_a) in enumerate(texts):
        for b, box_b in texts[i + 1:]:
            w = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            h = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            if w > tolerance_px and h > tolerance_px:
                pairs.append((a, b))
    return pairs


def _grid(plt: Any, n: int, row_height: float) -> tuple[Any, list]:
    """n panels: one column wide for one panel, both columns (two per row) for more."""
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(COLUMN_IN if n == 1 else TEXT_IN, row_height * rows), squeeze=False)
    flat = list(axes.flat)
    for extra in flat[n:]:
        extra.remove()
    return fig, flat[:n]


# ------------------------------------------------------------------------------- figures
@_styled
def line_panels(panels: Sequence[tuple[str, Series]], title: str, out_stem: Path, smooth_window: int,
                xlabel: str = "training step", log_y: Iterable[int] = ()) -> list[Path]:
    """One subplot per (y-label, {legend: history}), one legend for all; series without data are
    named in the legend as "(no data)"."""
    from matplotlib.lines import Line2D

    plt = _plt()
    fig, axes = _grid(plt, len(panels), 2.4)
    log_y = set(log_y)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", "-.", ":"]
    labels = list(dict.fromkeys(label for _, series in panels for label in series))
    has_data = {label: False for label in labels}
    for i, (ax, (ylabel, series)) in enumerate(zip(axes, panels)):
        for label, frame in series.items():
            if frame is None or frame.empty:
                continue
            k = labels.index(label)
            data = smooth(frame, smooth_window)
            ax.plot(data["step"], data["value"], color=colours[k % len(colours)],
                    linestyle=styles[(k // len(colours)) % len(styles)])
            has_data[label] = True
        if i in log_y and any(f is not None and not f.empty and (f["value"] > 0).all() for f in series.values()):
            ax.set_yscale("log")
            ax.autoscale_view()
            plain_log_ticks(ax.yaxis)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    handles = [Line2D([], [], color=colours[k % len(colours)], linestyle=styles[(k // len(colours)) % len(styles)])
               for k in range(len(labels))]
    names = [label if has_data[label] else f"{label} (no data)" for label in labels]
    if handles:
        fig.legend(handles, names, loc="outside lower center", ncol=2 if len(panels) > 1 else 1)
    fig.suptitle(title)
    return save(fig, out_stem)


@_styled
def bitrate_vs_quality(points: pd.DataFrame, metrics: Sequence[tuple[str, str]], title: str,
                       out_stem: Path) -> list[Path]:
    """Scatter of kbps (log x) against each metric; `points` has columns label, kbps, family and metric means."""
    plt = _plt()
    fig, axes = _grid(plt, len(metrics), 2.6)
    markers = {"DS-Codec": "o", "ablation": "s", "neural baseline": "^", "classical": "D", "reference": "*"}
    families = list(dict.fromkeys(points["family"])) if "family" in points else []
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    to_label = []
    for ax, (key, ylabel) in zip(axes, metrics):
        usable = points.dropna(subset=["kbps", key]) if key in points else points.iloc[0:0]
        for family, group in usable.groupby("family", sort=False):
            ax.scatter(group["kbps"], group[key], marker=markers.get(family, "x"), label=family, s=18,
                       color=colours[families.index(family) % len(colours)], zorder=3)
        ax.set_xlabel("bitrate (kbps, measured)")
        ax.set_ylabel(ylabel)
        if usable.empty:
            ax.text(0.5, 0.5, f"no {ylabel} values", ha="center", transform=ax.transAxes, color="0.4")
            continue
        ax.set_xscale("log")
        ax.margins(x=0.25, y=0.2)     # room for the labels of the outermost points
        ax.autoscale_view()
        plain_log_ticks(ax.xaxis)
        to_label.append((ax, usable, key))
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=len(handles))
    fig.suptitle(title)
    fig.canvas.draw()             # settle the layout (legend, title) before measuring label positions
    fig.set_layout_engine("none")  # and keep it: labels are placed in display space
    for ax, usable, key in to_label:
        place_labels(ax, list(usable["kbps"].astype(float)), list(usable[key].astype(float)),
                     list(usable["label"].astype(str)))
    return save(fig, out_stem)
