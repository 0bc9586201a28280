"""A static listening page: for a few test utterances, the reference and every system side by side.

Self-contained (audio and spectrogram images are copied next to index.html), so the folder
can be opened from disk, committed, or served by any static web server.
"""
from __future__ import annotations

import html
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Entry:
    label: str                 # column header, e.g. "DS-Codec-VQ (stage 2)"
    audio: dict[str, Path]     # utterance id -> audio file (missing ids show "not available")
    note: str = ""             # e.g. "1.04 kbps"


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
    fig, ax = plt.subplots(figsize=(3.2, 1.6), dpi=100)
    ax.imshow(db.numpy(), origin="lower", aspect="auto", cmap="magma", vmin=float(db.max()) - 80, vmax=float(db.max()))
    ax.set_axis_off()
    fig.subplots_adjust(0, 0, 1, 1)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path)
    plt.close(fig)


def build_page(out_dir: Path, title: str, utterances: Sequence[tuple[str, str]], entries: Sequence[Entry],
               footer: Sequence[str] = ()) -> Path:
    """Write out_dir/index.html; `utterances` are (id, transcript) pairs, `entries` the columns."""
    out_dir = Path(out_dir)
    media = out_dir / "media"
    if media.exists():
        shutil.rmtree(media)
    media.mkdir(parents=True)
    head = "".join(f"<th>{html.escape(e.label)}<br><small>{html.escape(e.note)}</small></th>" for e in entries)
    body_rows = []
    for utt_id, text in utterances:
        cells = []
        for col, entry in enumerate(entries):
            src = entry.audio.get(utt_id)
            if src is None or not Path(src).is_file():
                cells.append("<td class='na'>not available</td>")
                continue
            stem = f"{col:02d}_{_safe(utt_id)}"
            audio_name = f"{stem}{Path(src).suffix}"
            shutil.copyfile(src, media / audio_name)
            spectrogram_png(Path(src), media / f"{stem}.png")
            cells.append(
                f"<td><img src='media/{stem}.png' alt='spectrogram' width='320' height='160'><br>"
                f"<audio controls preload='none' src='media/{audio_name}'></audio></td>"
            )
        body_rows.append(
            f"<tr><th class='utt'>{html.escape(utt_id)}<br><small>{html.escape(text)}</small></th>{''.join(cells)}</tr>"
        )
    notes = "".join(f"<li>{html.escape(line)}</li>" for line in footer)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 4px; vertical-align: top; text-align: center; }}
th.utt {{ text-align: left; max-width: 14em; font-weight: normal; }}
td.na {{ color: #999; }}
audio {{ width: 320px; }}
</style></head>
<body><h1>{html.escape(title)}</h1>
<table><thead><tr><th>utterance</th>{head}</tr></thead>
<tbody>{''.join(body_rows)}</tbody></table>
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
