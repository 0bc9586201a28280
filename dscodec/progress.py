"""tqdm-style progress for long jobs (training, evaluation, corpus synthesis, downloads).

Why our own and not tqdm: jobs run under Snakemake with their stderr redirected to a log file,
where tqdm's carriage-return redraws become one unreadable line (or thousands of lines). Here a
terminal gets a line redrawn in place (at most 5 times a second) and a log file gets a whole line
every `interval` seconds (default 10 s, `$DSCODEC_PROGRESS_SECONDS`), plus the first and last:

    evaluate ds_codec_vq on librispeech_test: 12/24 utterances (50%) | 0.84 utterances/s | elapsed 0:00:14 | left 0:00:14
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Callable, TextIO

DEFAULT_INTERVAL_S = 10.0
TTY_INTERVAL_S = 0.2


def hms(seconds: float) -> str:
    """0:01:05 style; '?' when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _amount(value: float, unit: str) -> str:
    if unit == "B":   # bytes: readable sizes
        for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
            if value >= scale:
                return f"{value / scale:.1f} {prefix}B"
        return f"{value:.0f} B"
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


class Progress:
    """Counts work done toward `total` and reports done, rate and time left, never flooding a log.

    `emit` receives each line (default: the stream, stderr); `total=None` reports without a
    percentage or time left (e.g. a download of unknown size); `left` replaces the linear
    time-left estimate.
    """

    def __init__(self, desc: str, total: float | None, unit: str = "it", *, done: float = 0,
                 stream: TextIO | None = None, emit: Callable[[str], None] | None = None,
                 interval: float | None = None, clock: Callable[[], float] = time.monotonic,
                 left: Callable[[], str] | None = None) -> None:
        self.desc, self.total, self.unit, self.done = desc, total, unit, float(done)
        self.stream = stream if stream is not None else sys.stderr
        self.tty = emit is None and bool(getattr(self.stream, "isatty", lambda: False)())
        self.emit = emit
        if interval is None:
            interval = TTY_INTERVAL_S if self.tty else float(os.environ.get("DSCODEC_PROGRESS_SECONDS", DEFAULT_INTERVAL_S))
        self.interval = interval
        self.clock = clock
        self.left = left     # the caller's own time-left text (training: per-phase speed), else extrapolated
        self.start_done = self.done
        self.t0 = self.last = clock()
        self.closed = False
        self._write(self.line())

    def rate(self) -> float:
        """Units per second since the start (of this process: a resumed job's earlier work is not counted)."""
        return (self.done - self.start_done) / max(self.clock() - self.t0, 1e-9)

    def line(self) -> str:
        rate = self.rate()
        unit = self.unit
        parts = []
        if self.total:
            pct = 100.0 * self.done / self.total
            parts.append(f"{self.desc}: {_amount(self.done, unit)}/{_amount(self.total, unit)}"
                         f"{'' if unit == 'B' else ' ' + unit} ({pct:.0f}%)")
        else:
            parts.append(f"{self.desc}: {_amount(self.done, unit)}{'' if unit == 'B' else ' ' + unit}")
        if rate <= 0:
            parts.append(f"? {unit}/s")
        else:
            parts.append(f"{_amount(rate, unit)}/s" if unit == "B" else f"{rate:.2f} {unit}/s")
        parts.append(f"elapsed {hms(self.clock() - self.t0)}")
        if self.left is not None:
            parts.append(f"left {self.left()}")
        elif self.total:
            left = (self.total - self.done) / rate if rate > 0 else math.inf
            parts.append(f"left {hms(left)}")
        return " | ".join(parts)

    def due(self) -> bool:
        return self.clock() - self.last >= self.interval

    def update(self, n: float = 1) -> None:
        """Add `n` units of work; writes a line when `interval` seconds have passed since the last one."""
        self.done += n
        if self.due():
            self._write(self.line())

    def touch(self) -> None:
        """Someone else just printed a fuller line (e.g. the trainer's log step): restart the interval."""
        self.last = self.clock()

    def close(self) -> None:
        """The final line (always written), ending the in-place line on a terminal."""
        if not self.closed:
            self.closed = True
            self._write(self.line(), final=True)

    def _write(self, text: str, final: bool = False) -> None:
        self.last = self.clock()
        if self.emit is not None:
            self.emit(text)
        elif self.tty:
            self.stream.write("\r" + text + "\x1b[K" + ("\n" if final else ""))
            self.stream.flush()
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
