"""A static listening page: for a few test utterances, the reference and every system, one row each.

Self-contained (audio and spectrogram images are copied next to index.html), so the folder
can be opened from disk, committed, or served by any static web server.

Why a row per system under each utterance (not a column per system): with ten systems a
column layout ran off a laptop screen to the right. Rows keep one utterance's reference and
all systems on one 1366x768 screen, with each system's bitrate and that utterance's scores
beside its player (tests/test_report_build.py checks this in headless Chromium).
"""
from __future__ import annotations

import html
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np


# score columns shown beside each player: (key in scores.parquet, header, digits)
SCORE_COLUMNS = (("pesq_wb", "PESQ-WB", 2), ("stoi", "STOI", 2), ("wer", "WER", 2))


@dataclass(frozen=True)
class Entry:
    label: str                 # row label, e.g. "DS-Codec-VQ (stage 2)"
    audio: dict[str, Path]     # utterance id -> audio file (missing ids show "not available")
    note: str = ""             # e.g. "1.04 kbps"
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # utterance id -> {score key: value}


def spectrogram_png(audio_path: Path, png_path: Path, sample_rate: int = 16000) -> None:
    """Log-mel spectrogram image (what a codec researcher looks at first: harmonics, noise floor)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    import torchaudio

    from dscodec.audio import load_audio

    wav = load_audio(audio_path, target_sr=sample_rate)
    mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=1024, hop_length=160, n_mels=80)(wav)[0]
    db = 10 * torch.log10(mel.clamp_min(1e-10))
    fig, ax = plt.subplots(figsize=(2.4, 0.4), dpi=100)
    ax.imshow(db.numpy(), origin="lower", aspect="auto", cmap="magma", vmin=float(db.max()) - 80, vmax=float(db.max()))
    ax.set_axis_off()
    fig.subplots_adjust(0, 0, 1, 1)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path)
    plt.close(fig)


def _score_cells(entry: Entry, utt_id: str, shown: Sequence[tuple[str, str, int]]) -> str:
    values = entry.scores.get(utt_id, {})
    cells = []
    for key, _, digits in shown:
        value = values.get(key)
        missing = value is None or value != value
        cells.append("<td class='num na'>–</td>" if missing else f"<td class='num'>{float(value):.{digits}f}</td>")
    return "".join(cells)


def build_page(out_dir: Path, title: str, utterances: Sequence[tuple[str, str]], entries: Sequence[Entry],
               footer: Sequence[str] = ()) -> Path:
    """Write out_dir/index.html; `utterances` are (id, transcript) pairs, `entries` the rows under each."""
    out_dir = Path(out_dir)
    media = out_dir / "media"
    if media.exists():
        shutil.rmtree(media)
    media.mkdir(parents=True)
    # a score column is shown when any system has a value for it (WER only when it was computed)
    shown = [c for c in SCORE_COLUMNS
             if any(v.get(c[0]) is not None and v.get(c[0]) == v.get(c[0]) for e in entries for v in e.scores.values())]
    head = "".join(f"<th class='num'>{html.escape(header)}</th>" for _, header, _ in shown)
    sections = []
    for utt_id, text in utterances:
        rows = []
        for row, entry in enumerate(entries):
            src = entry.audio.get(utt_id)
            label = f"<th class='sys'>{html.escape(entry.label)}</th><td class='kbps'>{html.escape(entry.note)}</td>"
            if src is None or not Path(src).is_file():
                rows.append(f"<tr>{label}{_score_cells(entry, utt_id, shown)}<td class='na' colspan='2'>not available</td></tr>")
                continue
            stem = f"{row:02d}_{_safe(utt_id)}"
            audio_name = f"{stem}{Path(src).suffix}"
            shutil.copyfile(src, media / audio_name)
            spectrogram_png(Path(src), media / f"{stem}.png")
            rows.append(
                f"<tr>{label}{_score_cells(entry, utt_id, shown)}"
                f"<td><audio controls preload='none' src='media/{audio_name}'></audio></td>"
                f"<td><img src='media/{stem}.png' alt='log-mel spectrogram' width='240' height='40'></td></tr>"
            )
        sections.append(
            f"<section><h2>{html.escape(utt_id)} <small>{html.escape(text)}</small></h2>"
            f"<table><thead><tr><th class='sys'>system</th><th class='kbps'>bitrate</th>{head}<th>listen</th>"
            f"<th>log-mel spectrogram</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
        )
    notes = "".join(f"<li>{html.escape(line)}</li>" for line in footer)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 0.8em; max-width: 1320px; }}
h1 {{ font-size: 1.3em; margin: 0.2em 0; }}
h2 {{ font-size: 1em; margin: 1.2em 0 0.3em; }}
h2 small {{ font-weight: normal; color: #444; }}
table {{ border-collapse: collapse; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 1px 6px; vertical-align: middle; font-size: 0.9em; }}
th.sys {{ text-align: left; white-space: nowrap; }}
td.kbps, td.num {{ text-align: right; white-space: nowrap; }}
td.na {{ color: #999; }}
audio {{ width: 300px; height: 32px; display: block; }}
img {{ display: block; }}
</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Under each utterance: the reference and every system, with its bitrate and this utterance's scores.</p>
{''.join(sections)}
<ul>{notes}</ul>
</body></html>
"""
    index = out_dir / "index.html"
    index.write_text(page)
    return index


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def pick_utterances(ids: Sequence[str], count: int, seed: int = 0) -> list[str]:
    """A fixed, seeded handful of utterances, so the page shows the same ones on every run."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ids))[:count]
    return [ids[i] for i in sorted(order)]
