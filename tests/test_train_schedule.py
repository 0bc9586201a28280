"""Learning-rate schedule and atomic checkpoint files."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dscodec.errors import TrainingError
from dscodec.train.checkpoint import atomic_torch_save, load_checkpoint
from dscodec.train.schedule import lr_at, warmup_linear_decay


def test_warmup_then_linear_decay_to_lr_min() -> None:
    kw = dict(lr=1e-4, lr_min=1e-5, warmup_steps=10, total_steps=110)
    lrs = [lr_at(s, **kw) for s in range(110)]
    assert lrs[0] == pytest.approx(1e-5) and lrs[9] == pytest.approx(1e-4)  # ramp reaches the peak
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:10]))
    assert lrs[10] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1e-5)
    decay = lrs[10:]
    steps = [a - b for a, b in zip(decay, decay[1:])]
    assert all(d > 0 for d in steps) and max(steps) - min(steps) < 1e-12  # linear
    assert lr_at(500, **kw) == pytest.approx(1e-5)  # stays at lr_min past the end


def test_scheduler_drives_the_optimizer_like_lr_at() -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=2e-5)
    sched = warmup_linear_decay(opt, lr=2e-5, lr_min=1e-5, warmup_steps=0, total_steps=5)
    seen = []
    for _ in range(5):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([lr_at(s, lr=2e-5, lr_min=1e-5, warmup_steps=0, total_steps=5) for s in range(5)])
    assert seen[0] == pytest.approx(2e-5) and seen[-1] == pytest.approx(1e-5)


def test_bad_schedule_is_rejected() -> None:
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-5)
    with pytest.raises(ValueError):
        warmup_linear_decay(opt, lr=1e-5, lr_min=1e-4, warmup_steps=0, total_steps=5)


def test_failed_save_leaves_previous_checkpoint_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.pt"
    atomic_torch_save({"step": 1}, path)

    def broken_save(obj, handle, *a, **k):  # type: ignore[no-untyped-def]
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        atomic_torch_save({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=False) == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temp file left behind


def test_load_checkpoint_rejects_foreign_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.pt"
    torch.save({"hello": 1}, bad)
    with pytest.raises(TrainingError, match="dscodec-ckpt-v1"):
        load_checkpoint(bad)
    with pytest.raises(TrainingError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
