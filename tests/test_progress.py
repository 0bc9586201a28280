"""Progress lines for long jobs (issue 15): readable (done, rate, time left), never flooding a log."""
from __future__ import annotations

import io
from pathlib import Path

from dscodec.progress import Progress, hms


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_log_gets_a_line_per_interval_with_done_rate_and_time_left() -> None:
    clock, lines = Clock(), []
    ticker = Progress("evaluate x on y", 100, "utterances", emit=lines.append, interval=10, clock=clock)
    assert lines == ["evaluate x on y: 0/100 utterances (0%) | ? utterances/s | elapsed 0:00:00 | left ?"]
    for _ in range(40):                 # 40 utterances in 20 s: one line at 10 s and one at 20 s, not 40
        clock.t += 0.5
        ticker.update()
    assert len(lines) == 3
    assert lines[-1] == "evaluate x on y: 40/100 utterances (40%) | 2.00 utterances/s | elapsed 0:00:20 | left 0:00:30"
    ticker.close()
    ticker.close()                      # idempotent
    assert len(lines) == 4


def test_terminal_redraws_one_line_in_place() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    clock, out = Clock(), Tty()
    with Progress("download a.tar.gz", 2_000_000, "B", stream=out, clock=clock) as ticker:
        for _ in range(4):
            clock.t += 1
            ticker.update(500_000)
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n") and text.count("\r") == 6   # start + 4 + close
    assert "download a.tar.gz: 2.0 MB/2.0 MB (100%) | 500.0 kB B/s" not in text       # units read naturally
    assert "2.0 MB/2.0 MB (100%) | 500.0 kB/s | elapsed 0:00:04 | left 0:00:00" in text


def test_resumed_work_is_not_counted_in_the_rate_and_caller_can_supply_time_left() -> None:
    clock, lines = Clock(), []
    ticker = Progress("[s stage1] train", 330, "steps", done=100, emit=lines.append, interval=5, clock=clock,
                      left=lambda: "0:01:00 + 80 GAN steps")
    clock.t = 10
    ticker.update(10)
    assert lines[-1] == "[s stage1] train: 110/330 steps (33%) | 1.00 steps/s | elapsed 0:00:10 | left 0:01:00 + 80 GAN steps"
    ticker.touch()                      # a full log line was just printed: the next short one waits
    clock.t = 12
    ticker.update(1)
    assert len(lines) == 2
    assert hms(3725) == "1:02:05" and hms(float("inf")) == "?"


def test_training_reports_progress_from_its_first_line(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The gap between a training job's first lines and its first full log step is filled."""
    from dscodec.train.loop import Trainer
    from dscodec.train.stages import build_stage
    from test_train_fixtures import tiny_config, write_corpus

    monkeypatch.setenv("DSCODEC_PROGRESS_SECONDS", "0")    # every step, to see it without waiting
    manifest = write_corpus(tmp_path / "c", n=2)
    cfg = tiny_config(tmp_path, {"train": {"stage1": {"steps": 3, "log_every": 100, "val_every": 100,
                                                      "checkpoint_every": 100}}})
    system = next(iter(cfg["systems"]))
    lines: list[str] = []
    Trainer(cfg, system, 1, build_stage(cfg, system, 1), tmp_path / "run", train_manifest=manifest,
            dev_manifest=manifest, console=lines.append).run()
    short = [line for line in lines if "] train: " in line]
    assert short[0].startswith(f"[{system} stage1] train: 0/3 steps (0%)")
    assert any(line.startswith(f"[{system} stage1] train: 1/3 steps (33%)") and "left " in line for line in short)
