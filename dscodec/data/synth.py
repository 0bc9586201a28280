"""The built-in sample corpus: multi-speaker synthetic English speech in the exact on-disk layouts
of LibriSpeech and LJSpeech, so the real readers (and the real code path) run by default.

Layout written under `out`:
    LibriSpeech/{train-clean-100,dev-clean,test-clean}/<spk>/<chap>/<spk>-<chap>-<utt>.flac  (16 kHz, 16-bit)
    LibriSpeech/<subset>/<spk>/<chap>/<spk>-<chap>.trans.txt   (upper-case transcripts)
    LJSpeech-1.1/wavs/LJ001-0001.wav ... (22,050 Hz, 16-bit) + LJSpeech-1.1/metadata.csv (id|text|normalized)
    synthesis.json   (engines, voices, speakers per split, durations, file counts, seed)

A "speaker" is a (engine, voice, speed, pitch) combination; every speaker has its own voice,
and train/dev/test speakers are disjoint as in LibriSpeech. The LJSpeech-style corpus uses one
further voice (female when one is available, like LJ). Everything is drawn from seeded RNGs,
and utterance k of a speaker depends only on (seed, speaker, k): the same seed and engines give
identical files, and a larger corpus extends a smaller one.
"""
from __future__ import annotations

import json
import math
import random
import shutil
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from dscodec.data import sentences
from dscodec.data.tts import ENGINES, Engine, Voice
from dscodec.errors import DataError
from dscodec.progress import Progress

LIBRI_SR = 16000
LJ_SR = 22050
MARKER = ".dscodec-sample-corpus"
# speakers per split, and each split's share of the requested minutes. test-clean's 11 % of the
# default 30 minutes holds 24 utterances (two voices) and LJ_SHARE's 12 % ~37: the default evaluates
# 24 per test set (issue 11), every utterance of test-clean; train keeps ~21 minutes.
SPLITS = {"train-clean-100": (8, 0.695), "dev-clean": (2, 0.075), "test-clean": (2, 0.11)}
LJ_SHARE = 0.12
CHAPTERS = {"train-clean-100": 2, "dev-clean": 1, "test-clean": 1}
LJ_UTTS_PER_CHAPTER = 100
MIN_DISTINCT_VOICES = 6


@dataclass
class Speaker:
    split: str
    speaker: str
    voice: Voice
    speed: float
    pitch: int
    peak_dbfs: float
    chapters: list[str] = field(default_factory=list)
    utterances: int = 0
    seconds: float = 0.0


def select_engines(requested: list[str], log: Callable[[str], None]) -> tuple[list[Engine], dict[str, Any]]:
    """Engines from `requested` (in order) that are installed; espeak-ng CLI and library share voices."""
    used: list[Engine] = []
    info: dict[str, Any] = {}
    for name in requested:
        engine = ENGINES[name]()
        if not engine.available():
            info[name] = {"available": False, "used": False}
            log(f"synth-corpus: engine {name} is not installed; skipped")
            continue
        dup = name.startswith("espeak") and any(e.name.startswith("espeak") for e in used)
        info[name] = {"available": True, "used": not dup, "version": engine.version()}
        if dup:
            info[name]["note"] = "same voices as the espeak engine listed before it"
        else:
            used.append(engine)
    if not used:
        raise DataError(
            f"synth-corpus: none of the TTS engines in `data.sample_corpus.engines` ({requested}) is available; "
            "`pip install espeakng-loader` always works, `apt-get install flite espeak-ng` adds voices"
        )
    return used, info


def _interleave(lists: list[list[Voice]]) -> list[Voice]:
    out, seen = [], set()
    for i in range(max(len(x) for x in lists)):
        for voices in lists:
            if i < len(voices) and voices[i].key not in seen:
                seen.add(voices[i].key)
                out.append(voices[i])
    return out


def plan_speakers(engines: list[Engine], seed: int) -> tuple[list[Speaker], Speaker]:
    """Assign voices to LibriSpeech-style speakers (disjoint per split) and to the LJSpeech-style voice."""
    pool = _interleave([e.voices() for e in engines])
    lj_voice = next((v for v in pool if v.key == "flite:slt"), None) or next(
        (v for v in pool if v.gender == "f"), pool[0])
    pool = [v for v in pool if v is not lj_voice]
    need = sum(n for n, _ in SPLITS.values())
    # reuse voices (with other speed/pitch) only when fewer engines/voices are installed
    voices = [pool[i % len(pool)] for i in range(need)] if pool else [lj_voice] * need
    # spread the engines over the splits: dev and test get voices from the front of the pool
    order = {"dev-clean": [1, 4], "test-clean": [2, 5]}
    taken = {i for idx in order.values() for i in idx}
    order["train-clean-100"] = [i for i in range(need) if i not in taken]
    rng = random.Random(f"speakers:{seed}")
    ids = rng.sample(range(19, 9000), need)
    speakers, k = [], 0
    for split in SPLITS:
        for idx in order[split]:
            voice = voices[idx]
            speakers.append(Speaker(split, str(ids[k]), voice, speed=round(rng.uniform(0.85, 1.1), 3),
                                    pitch=rng.randint(30, 70), peak_dbfs=round(rng.uniform(-6.0, -1.0), 2)))
            k += 1
    chapter_ids = rng.sample(range(100, 99999), sum(CHAPTERS[s.split] for s in speakers))
    for s in speakers:
        s.chapters = [str(chapter_ids.pop()) for _ in range(CHAPTERS[s.split])]
    lj = Speaker("LJSpeech-1.1", "LJ", lj_voice, speed=1.0, pitch=50, peak_dbfs=-1.0)
    return speakers, lj


def _engine_for(voice: Voice, engines: list[Engine]) -> Engine:
    return next(e for e in engines if e.name == voice.engine)


def render(engine: Engine, spk: Speaker, text: str, rng: np.random.Generator, out_sr: int) -> np.ndarray:
    """Synthesise one utterance and make it corpus-like: pauses, a faint noise floor, a speaker level."""
    wav, sr = engine.synth(text, spk.voice, spk.speed, spk.pitch)
    wav = np.asarray(wav, dtype=np.float64)
    if wav.ndim > 1:
        wav = wav.mean(axis=1)
    if sr != out_sr:
        g = math.gcd(sr, out_sr)
        wav = resample_poly(wav, out_sr // g, sr // g)
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    if peak <= 0:
        raise DataError(f"{spk.voice.engine}/{spk.voice.name} produced silence for {text[:40]!r}")
    wav = wav / peak * 10 ** (spk.peak_dbfs / 20)
    lead, tail = (int(rng.uniform(0.1, 0.35) * out_sr) for _ in range(2))
    wav = np.concatenate([np.zeros(lead), wav, np.zeros(tail)])
    wav += rng.standard_normal(wav.size) * 10 ** (-66 / 20)  # recording noise floor, ~-66 dBFS
    return np.clip(wav, -1.0, 1.0).astype(np.float32)


def _utterances(spk: Speaker, seed: int) -> Iterator[tuple[random.Random, np.random.Generator]]:
    """(text RNG, signal RNG) for utterance 0, 1, ... of a speaker: each depends on (seed, speaker, k) only."""
    k = 0
    while True:
        signal_seed = [seed & 0xFFFFFFFF, zlib.crc32(spk.speaker.encode()), k]
        yield random.Random(f"text:{seed}:{spk.speaker}:{k}"), np.random.default_rng(signal_seed)
        k += 1


def synthesize_corpus(out: str | Path, minutes: float, seed: int, engines: list[str],
                      log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write the sample corpus under `out` (replacing an earlier one) and return its summary."""
    out = Path(out)
    t0 = time.time()
    libri, lj_dir = out / "LibriSpeech", out / "LJSpeech-1.1"
    if (libri.exists() or lj_dir.exists()) and not (out / MARKER).is_file():
        raise DataError(f"{out} holds a LibriSpeech/LJSpeech tree that synth-corpus did not write; refusing to replace it")
    for d in (libri, lj_dir):
        shutil.rmtree(d, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `dscodec synth-corpus`; safe to delete\n")

    used, engine_info = select_engines(engines, log)
    speakers, lj = plan_speakers(used, seed)
    total_s = minutes * 60.0
    # audio seconds are the unit: utterances vary in length, the budget is in seconds
    ticker = Progress("synth-corpus", round(total_s), "s of audio", emit=log)
    for spk in speakers:
        n, share = SPLITS[spk.split]
        _synth_librispeech_speaker(libri / spk.split, spk, used, seed, total_s * share / n, ticker.update)
        log(f"synth-corpus: {spk.split} speaker {spk.speaker} ({spk.voice.engine}/{spk.voice.name}): "
            f"{spk.utterances} utterances, {spk.seconds:.1f} s")
    _synth_ljspeech(lj_dir, lj, used, seed, total_s * LJ_SHARE, ticker.update)
    ticker.close()
    log(f"synth-corpus: LJSpeech-1.1 ({lj.voice.engine}/{lj.voice.name}): {lj.utterances} utterances, {lj.seconds:.1f} s")

    distinct = len({s.voice.key for s in speakers} | {lj.voice.key})
    summary = _summary(minutes, seed, engines, engine_info, speakers, lj, distinct, time.time() - t0)
    if distinct < MIN_DISTINCT_VOICES:
        log(f"synth-corpus: warning: only {distinct} distinct voices (wanted {MIN_DISTINCT_VOICES}); "
            "install espeakng-loader, flite or espeak-ng for more")
    (out / "synthesis.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _max_sentences(remaining_s: float) -> int:
    """Up to 3 sentences per utterance (~3 s each), fewer near the end of a budget to limit overshoot."""
    return max(1, min(3, int(remaining_s // 3.5)))


def _synth_librispeech_speaker(subset_dir: Path, spk: Speaker, engines: list[Engine], seed: int, budget_s: float,
                               tick: Callable[[float], None] = lambda s: None) -> None:
    engine = _engine_for(spk.voice, engines)
    per_chapter = budget_s / len(spk.chapters)
    gen = _utterances(spk, seed)
    for chapter in spk.chapters:
        chap_dir = subset_dir / spk.speaker / chapter
        chap_dir.mkdir(parents=True, exist_ok=True)
        lines, used_s, utt = [], 0.0, 0
        while used_s < per_chapter or utt == 0:
            text_rng, rng = next(gen)
            text = sentences.utterance_text(text_rng, _max_sentences(per_chapter - used_s))
            wav = render(engine, spk, text, rng, LIBRI_SR)
            utt_id = f"{spk.speaker}-{chapter}-{utt:04d}"
            sf.write(str(chap_dir / f"{utt_id}.flac"), wav, LIBRI_SR, format="FLAC", subtype="PCM_16")
            lines.append(f"{utt_id} {sentences.librispeech_normalize(text)}")
            used_s += wav.size / LIBRI_SR
            tick(wav.size / LIBRI_SR)
            utt += 1
        (chap_dir / f"{spk.speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
        spk.utterances += utt
        spk.seconds += used_s


def _synth_ljspeech(lj_dir: Path, spk: Speaker, engines: list[Engine], seed: int, budget_s: float,
                    tick: Callable[[float], None] = lambda s: None) -> None:
    engine = _engine_for(spk.voice, engines)
    (lj_dir / "wavs").mkdir(parents=True, exist_ok=True)
    lines, used_s, k = [], 0.0, 0
    gen = _utterances(spk, seed)
    while used_s < budget_s or k == 0:
        text_rng, rng = next(gen)
        text = sentences.utterance_text(text_rng, min(2, _max_sentences(budget_s - used_s)))
        wav = render(engine, spk, text, rng, LJ_SR)
        utt_id = f"LJ{k // LJ_UTTS_PER_CHAPTER + 1:03d}-{k % LJ_UTTS_PER_CHAPTER + 1:04d}"
        sf.write(str(lj_dir / "wavs" / f"{utt_id}.wav"), wav, LJ_SR, format="WAV", subtype="PCM_16")
        # the texts hold no digits or abbreviations, so the normalized column equals the raw one
        lines.append(f"{utt_id}|{text}|{text}")
        used_s += wav.size / LJ_SR
        tick(wav.size / LJ_SR)
        k += 1
    (lj_dir / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spk.utterances, spk.seconds = k, used_s


def _summary(minutes: float, seed: int, requested: list[str], engine_info: dict[str, Any], speakers: list[Speaker],
             lj: Speaker, distinct: int, elapsed: float) -> dict[str, Any]:
    def spk_dict(s: Speaker) -> dict[str, Any]:
        d = asdict(s)
        d["voice"] = asdict(s.voice)
        d["seconds"] = round(s.seconds, 3)
        return d

    splits: dict[str, Any] = {}
    for split in SPLITS:
        members = [s for s in speakers if s.split == split]
        splits[split] = {
            "layout": "LibriSpeech", "sample_rate": LIBRI_SR, "format": "FLAC PCM_16",
            "speakers": [spk_dict(s) for s in members],
            "utterances": sum(s.utterances for s in members),
            "seconds": round(sum(s.seconds for s in members), 3),
        }
    splits["LJSpeech-1.1"] = {"layout": "LJSpeech", "sample_rate": LJ_SR, "format": "WAV PCM_16",
                              "speakers": [spk_dict(lj)], "utterances": lj.utterances, "seconds": round(lj.seconds, 3)}
    return {
        "seed": seed,
        "minutes_requested": minutes,
        "engines_requested": requested,
        "engines": engine_info,
        "distinct_voices": distinct,
        "splits": splits,
        "files": {"flac": sum(s.utterances for s in speakers), "wav": lj.utterances},
        "total_seconds": round(sum(s.seconds for s in speakers) + lj.seconds, 3),
        "elapsed_seconds": round(elapsed, 1),
    }
