"""LibriSpeech reader (Panayotov et al., 2015; OpenSLR SLR12), the corpus DS-Codec trains on.

On-disk layout, which the built-in sample corpus reproduces exactly:
    <root>/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
    <root>/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   ("<id> <TEXT>" per line)
The paper trains on train-clean-100 + train-clean-360 + train-other-500 and tests on
test-clean (Section 3.1); dev-clean serves for validation.
"""
from __future__ import annotations

from pathlib import Path

from dscodec.data.split_report import BadItem, Candidate

SUBSETS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other", "test-clean", "test-other")


def subset_dir(root: str | Path, subset: str) -> Path | None:
    """`root/LibriSpeech/<subset>` (as extracted from OpenSLR), or `root/<subset>` if root is LibriSpeech/."""
    root = Path(root)
    for cand in (root / "LibriSpeech" / subset, root / subset):
        if cand.is_dir():
            return cand
    return None


def _read_transcripts(trans: Path) -> tuple[dict[str, str], list[BadItem]]:
    texts: dict[str, str] = {}
    bad: list[BadItem] = []
    for lineno, line in enumerate(trans.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        utt, _, text = line.partition(" ")
        if utt in texts:
            bad.append(BadItem(f"{trans}:{lineno}", f"duplicate transcript line for {utt}"))
            continue
        texts[utt] = text.strip()
    return texts, bad


def read_subset(directory: Path) -> tuple[list[Candidate], list[BadItem]]:
    """All utterances of one extracted subset, plus structural problems found on the way.

    A transcript line whose .flac is missing is bad; a .flac without a transcript line is
    kept (a codec needs no text) with an empty text and a note in the report.
    """
    candidates: list[Candidate] = []
    bad: list[BadItem] = []
    for spk_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        for chap_dir in sorted(p for p in spk_dir.iterdir() if p.is_dir()):
            trans = chap_dir / f"{spk_dir.name}-{chap_dir.name}.trans.txt"
            texts, trans_bad = _read_transcripts(trans) if trans.is_file() else ({}, [])
            bad.extend(trans_bad)
            audio = {p.stem: p for p in chap_dir.glob("*.flac")}
            for utt in sorted(set(texts) | set(audio)):
                if utt not in audio:
                    bad.append(BadItem(str(chap_dir / f"{utt}.flac"), f"listed in {trans.name} but the audio file is missing"))
                    continue
                notes = [] if utt in texts else [f"no line in {trans.name} (text left empty)"]
                candidates.append(
                    Candidate(id=utt, path=str(audio[utt]), speaker=spk_dir.name, chapter=chap_dir.name,
                              text=texts.get(utt, ""), notes=notes)
                )
    return candidates, bad
