"""Check every audio file of a corpus once, at prepare time, so that training never meets a bad one.

Each file is decoded completely (in blocks): that is the only way to notice a FLAC whose
body is corrupt or cut off, since its header still announces the full length. What can be
fixed on load (another sample rate, more than one channel) is recorded as a *fix*; what
cannot (empty, corrupt, truncated, silent, NaN) makes the file *bad*, with the reason.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import soundfile as sf

from dscodec.audio import TARGET_SR, check_wav_complete
from dscodec.errors import AudioError

_BLOCK = 1 << 16
SILENCE_PEAK = 1e-4  # below -80 dBFS everywhere: nothing a codec could learn from


@dataclass
class Probe:
    path: str
    ok: bool
    sample_rate: int = 0
    frames: int = 0
    channels: int = 0
    reason: str = ""
    fixes: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def probe_file(path: str | Path, target_sr: int = TARGET_SR) -> Probe:
    """Decode `path` fully and classify it as usable (with fixes) or bad (with a reason)."""
    path = Path(path)
    if not path.is_file():
        return Probe(str(path), False, reason="missing file")
    if path.stat().st_size == 0:
        return Probe(str(path), False, reason="empty file (0 bytes)")
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        return Probe(str(path), False, reason=f"not a readable audio file ({err})")
    with f:
        sr, channels, declared = f.samplerate, f.channels, f.frames
        decoded, peak, finite = 0, 0.0, True
        try:
            while True:
                block = f.read(_BLOCK, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                decoded += block.shape[0]
                finite = finite and bool(np.isfinite(block).all())
                peak = max(peak, float(np.abs(block).max()))
        except (sf.LibsndfileError, RuntimeError) as err:
            return Probe(str(path), False, reason=(
                f"corrupt or truncated: decoding failed after {decoded} of {declared} frames ({err})"))
    try:
        check_wav_complete(path)
    except AudioError as err:
        return Probe(str(path), False, reason=str(err).split(": ", 1)[-1])
    probe = Probe(str(path), True, sample_rate=sr, frames=decoded, channels=channels)
    if decoded == 0:
        probe.ok, probe.reason = False, "no audio frames"
    elif declared > 0 and decoded < declared:
        probe.ok, probe.reason = False, f"truncated (header says {declared} frames, {decoded} decodable)"
    elif not finite:
        probe.ok, probe.reason = False, "contains NaN or infinite samples"
    elif peak < SILENCE_PEAK:
        probe.ok, probe.reason = False, "digital silence (peak below -80 dBFS)"
    if probe.ok:
        if channels > 1:
            probe.fixes.append(f"down-mixed {channels} channels to mono on load")
        if sr != target_sr:
            probe.fixes.append(f"resampled {sr} Hz -> {target_sr} Hz on load")
    return probe


def probe_files(paths: Iterable[str | Path], workers: int = 1) -> list[Probe]:
    """Probe many files; threads suffice because libsndfile decodes outside the GIL."""
    paths = list(paths)
    if workers <= 1 or len(paths) < 2:
        return [probe_file(p) for p in paths]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(probe_file, paths, chunksize=32))
