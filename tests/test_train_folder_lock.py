"""One trainer per output folder: a second process is refused naming the holder's PID, and a
lock left by a killed holder is taken over with a warning."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dscodec.config import REPO_ROOT
from dscodec.train.folder_lock import LOCK_NAME, FolderLockedError, folder_lock

HOLD = ("import sys, time\n"
        "from dscodec.train.folder_lock import folder_lock\n"
        "with folder_lock(sys.argv[1]):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(600)\n")


def _holder(folder: Path) -> subprocess.Popen[str]:
    """A second process that takes the lock of `folder` and keeps it until killed."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_process_is_refused_naming_the_holder_then_takes_over_a_stale_lock(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    proc = _holder(folder)
    try:
        with pytest.raises(FolderLockedError, match=f"PID {proc.pid}"):
            with folder_lock(folder):
                pass
        assert (folder / LOCK_NAME).is_file()  # the refused process removed nothing
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # the holder died without cleaning up: its file is still there, but the kernel released the lock
    assert (folder / LOCK_NAME).read_text().split()[0] == str(proc.pid)
    warnings: list[str] = []
    with folder_lock(folder, warn=warnings.append):
        assert (folder / LOCK_NAME).read_text().split()[0] == str(os.getpid())
    assert len(warnings) == 1 and f"PID {proc.pid}" in warnings[0] and "no longer running" in warnings[0]
    assert not (folder / LOCK_NAME).exists()  # a clean exit removes it
    with folder_lock(folder, warn=warnings.append):  # and the next holder has nothing to warn about
        pass
    assert len(warnings) == 1


def test_dscodec_train_refuses_a_folder_another_trainer_holds(tmp_path: Path) -> None:
    """The CLI takes the lock before it reads or writes anything in the folder."""
    from test_train_fixtures import tiny_config, write_corpus

    manifest = write_corpus(tmp_path / "c", n=2)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tmp_path)))
    out = tmp_path / "run"
    out.mkdir()
    stale = out / ".last.pt.abcdefgh.tmp"  # a trainer at work removes its stale temporaries on start
    stale.write_bytes(b"")
    proc = _holder(out)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "dscodec.cli", "train", "--config", str(config), "--system", "ds_codec_vq",
             "--stage", "1", "--out", str(out), "--train-manifest", str(manifest), "--no-mlflow"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert second.returncode == 2, second.stdout + second.stderr
    text = second.stdout + second.stderr
    assert f"PID {proc.pid}" in text and "Traceback" not in text
    assert stale.exists() and not (out / "ckpt.pt").exists()
