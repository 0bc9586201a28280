"""MLflow tracking: params/tags/metrics/artifacts reach the store, the SQLite store survives
concurrent jobs, and `dscodec train` logs a full run (resumed with the job)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dscodec import tracking
from dscodec.config import REPO_ROOT
from dscodec.machine import machine_description
from test_train_fixtures import tiny_config, write_corpus

PY = sys.executable


def _client(cfg: dict):  # type: ignore[no-untyped-def]
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=cfg["mlflow"]["tracking_uri"])


def _runs(cfg: dict) -> list:
    client = _client(cfg)
    exp = client.get_experiment_by_name(cfg["experiment"])
    assert exp is not None
    return client.search_runs([exp.experiment_id])


@pytest.fixture(autouse=True)
def _no_env_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def test_flatten_and_sqlite_paths() -> None:
    flat = tracking.flatten({"a": {"b": 1, "c": [1, 2], "d": None, "e": {}}, "f": "x"})
    assert flat == {"a.b": "1", "a.c": "[1, 2]", "a.d": "null", "a.e": "{}", "f": "x"}
    assert tracking.sqlite_path("sqlite:////abs/m.db") == Path("/abs/m.db")
    assert tracking.sqlite_path("sqlite:///rel/m.db") == Path("rel/m.db")
    assert tracking.sqlite_path("http://host:5000") is None


def test_start_run_logs_params_tags_metrics_and_artifacts(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    note = tmp_path / "note.txt"
    note.write_text("hello")
    with tracking.start_run(cfg, "unit", {"system": "s", "stage": 1}, params=cfg) as run:
        tracking.log_metrics({"loss_mel": 2.0}, step=1)
        tracking.log_metrics({"loss_mel": 1.5}, step=2)
        tracking.log_artifact(note, "notes")
    got = _client(cfg).get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params["train.stage1.lr"] == str(cfg["train"]["stage1"]["lr"])
    assert len(got.data.params) == len(tracking.flatten(cfg)) > 100  # more than one MLflow batch
    assert got.data.tags["system"] == "s" and got.data.tags["model_size"] == "tiny"
    assert got.data.tags["git_commit"] and "corpus" in got.data.tags
    assert got.data.tags["machine"] == machine_description() and f"{os.cpu_count()} CPUs" in got.data.tags["machine"]
    history = _client(cfg).get_metric_history(run.info.run_id, "loss_mel")
    assert [(m.step, m.value) for m in history] == [(1, 2.0), (2, 1.5)]
    # artifacts beside the database, not in ./mlruns
    assert (tmp_path / "artifacts").is_dir() and list((tmp_path / "artifacts").rglob("note.txt"))


def test_failed_block_marks_the_run_failed(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    with pytest.raises(RuntimeError):
        with tracking.start_run(cfg, "boom", {}) as run:
            raise RuntimeError("boom")
    assert _client(cfg).get_run(run.info.run_id).info.status == "FAILED"


def test_lock_errors_are_retried_and_others_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracking.time, "sleep", lambda s: None)
    store = tracking._Store(f"sqlite:///{tmp_path / 'x.db'}")
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return "ok"

    assert store.call(flaky) == "ok" and len(calls) == 3
    with pytest.raises(ValueError):
        store.call(lambda: (_ for _ in ()).throw(ValueError("other")))


def _write_config(tmp_path: Path, overrides: dict | None = None) -> tuple[dict, Path]:
    cfg = tiny_config(tmp_path, overrides)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return cfg, path


def _train_cmd(config: Path, system: str, out: Path, manifest: Path) -> list[str]:
    return [PY, "-m", "dscodec.cli", "train", "--config", str(config), "--system", system, "--stage", "1",
            "--out", str(out), "--train-manifest", str(manifest), "--dev-manifest", str(manifest)]


def test_two_training_jobs_logging_at_once_both_succeed(tmp_path: Path) -> None:
    manifest = write_corpus(tmp_path / "c", n=2)
    # GAN from step 1 (the default warm-up would cover all 3 steps), so every loss gets logged
    cfg, config = _write_config(tmp_path, {"train": {"stage1": {"steps": 3, "val_every": 3, "adversarial_start_step": 1}}})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    procs = [
        subprocess.Popen(_train_cmd(config, system, tmp_path / system, manifest), cwd=REPO_ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for system in ("ds_codec_vq", "ds_codec_pq")
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    runs = _runs(cfg)
    assert sorted(r.data.tags["system"] for r in runs) == ["ds_codec_pq", "ds_codec_vq"]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert {"loss_mel", "loss_g", "loss_d", "loss_adv", "loss_fm", "vq_loss", "quant_mse", "perplexity",
                "usage", "lr", "grad_norm_g", "grad_norm_d", "steps_per_s", "audio_s_per_s",
                "val_mel_loss"} <= set(run.data.metrics)
        assert run.data.tags["stage"] == "1" and run.data.tags["checkpoint"].endswith("ckpt.pt")
        assert run.data.params["train.stage1.steps"] == "3"
        arts = {a.path for a in _client(cfg).list_artifacts(run.info.run_id)}
        assert {"train_summary.json", "reconstructions"} <= arts
        recon = _client(cfg).list_artifacts(run.info.run_id, "reconstructions/step_0000003")
        assert recon and all(a.path.endswith(".flac") for a in recon)


TIMING = {"steps_per_s", "audio_s_per_s"}  # wall-clock measurements: differ between any two runs


def _history(cfg: dict, run_id: str) -> dict[str, list[tuple[int, float]]]:
    """Every logged point of every (non-timing) metric of a run, in step order."""
    client = _client(cfg)
    keys = set(client.get_run(run_id).data.metrics) - TIMING
    return {k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k)) for k in sorted(keys)}


# `dscodec train` that stops for good once `after_step` training steps are done (logged and
# checkpointed as configured) and says so in <out>/hanging: the kill then lands at the same step on
# any machine, however fast, instead of racing the job to its end.
HANGING_TRAIN = """
import sys, time
from dscodec.train import loop
train_step = loop.Trainer.train_step
def hang_then_step(self, wav):
    if self.step == {after_step}:
        (self.out_dir / "hanging").touch()
        time.sleep(600)
    return train_step(self, wav)
loop.Trainer.train_step = hang_then_step
from dscodec.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _start_and_kill(cmd: list[str], out: Path, after_step: int, env: dict) -> None:
    """Run `cmd` (a `dscodec train` command line) until it hangs after step `after_step`, then SIGKILL it."""
    import signal
    import time

    cmd = [PY, "-c", HANGING_TRAIN.format(after_step=after_step), *cmd[cmd.index("train"):]]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 280
    try:
        while not (out / "hanging").exists():
            assert proc.poll() is None, f"the job ended (returncode {proc.returncode}) before step {after_step}"
            assert time.time() < deadline, f"the job did not reach step {after_step} in 280 s"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (out / "ckpt.pt").exists()
    (out / "hanging").unlink()


def _kill_resume_and_compare(tmp_path: Path, stage: int, extra: list[str]) -> None:
    """Kill `dscodec train` after its first checkpoint and rerun it: it resumes last.pt and its
    MLflow run, ends with the weights of an uninterrupted run, and the run's metric history
    equals the uninterrupted run's (same steps, same values, each step once)."""
    import torch

    from dscodec.train.checkpoint import load_checkpoint

    manifest = write_corpus(tmp_path / "c", n=2)
    hp = {"steps": 8, "checkpoint_every": 2, "log_every": 1, "val_every": 100, "val_utterances": 0}
    overrides = {"train": {f"stage{stage}": hp}}
    straight_cfg, straight_config = _write_config(tmp_path / "straight", overrides)
    cfg, config = _write_config(tmp_path, overrides)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def cmd(config: Path, out: Path) -> list[str]:
        base = _train_cmd(config, "ds_codec_vq", out, manifest) + extra
        return base[:base.index("--stage") + 1] + [str(stage)] + base[base.index("--stage") + 2:]

    straight = subprocess.run(cmd(straight_config, tmp_path / "straight" / "out"), cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr

    out = tmp_path / "killed"
    # killed after step 3: last.pt holds step 2, and step 3 was logged past it (not to be logged again)
    _start_and_kill(cmd(config, out), out, 3, env)
    first = load_checkpoint(out / "last.pt")
    assert first["step"] == 2
    again = subprocess.run(cmd(config, out), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"resuming ds_codec_vq stage {stage} from step {first['step']}" in again.stdout + again.stderr

    a, b = load_checkpoint(tmp_path / "straight" / "out" / "ckpt.pt"), load_checkpoint(out / "ckpt.pt")
    assert all(torch.equal(a["codec"][k], b["codec"][k]) for k in a["codec"])
    runs = _runs(cfg)
    assert len(runs) == 1 and runs[0].info.run_id == first["extra"]["mlflow_run_id"]
    assert runs[0].info.status == "FINISHED"
    (reference,) = _runs(straight_cfg)
    resumed, uninterrupted = _history(cfg, runs[0].info.run_id), _history(straight_cfg, reference.info.run_id)
    assert {"loss_mel", "loss_g", "lr"} <= set(uninterrupted)
    assert resumed == uninterrupted
    assert [s for s, _ in resumed["loss_mel"]] == list(range(1, 9))


def test_killed_stage1_job_resumes_its_checkpoint_and_its_mlflow_history(tmp_path: Path) -> None:
    _kill_resume_and_compare(tmp_path, 1, [])


def test_killed_stage2_job_resumes_its_checkpoint_and_its_mlflow_history(tmp_path: Path) -> None:
    import torch

    from dscodec.train.loop import FINAL, Trainer
    from dscodec.train.stages import build_stage

    torch.set_num_threads(1)
    manifest = write_corpus(tmp_path / "c", n=2)
    cfg = tiny_config(tmp_path / "s1", {"train": {"stage1": {"steps": 2, "val_utterances": 0}}})
    Trainer(cfg, "ds_codec_vq", 1, build_stage(cfg, "ds_codec_vq", 1), tmp_path / "s1" / "out",
            train_manifest=manifest, console=lambda line: None).run()
    _kill_resume_and_compare(tmp_path, 2, ["--stage1-ckpt", str(tmp_path / "s1" / "out" / FINAL)])


def test_a_run_killed_before_its_first_checkpoint_is_closed_not_left_running(tmp_path: Path) -> None:
    """No checkpoint holds the weights the killed run's metrics describe, so the rerun starts
    afresh in a new run and marks the old one KILLED (naming its successor)."""
    manifest = write_corpus(tmp_path / "c", n=2)
    cfg, config = _write_config(tmp_path, {"train": {"stage1": {"steps": 6, "checkpoint_every": 100,
                                                                "val_every": 100, "val_utterances": 0}}})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    cmd = _train_cmd(config, "ds_codec_vq", out, manifest)
    _start_and_kill(cmd, out, 3, env)
    assert not (out / "last.pt").exists()
    (killed,) = _runs(cfg)
    assert killed.info.status == "RUNNING"  # what a kill leaves behind
    again = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "marked KILLED" in again.stdout
    runs = {r.info.run_id: r for r in _runs(cfg)}
    assert len(runs) == 2 and runs[killed.info.run_id].info.status == "KILLED"
    (new,) = [r for r in runs.values() if r.info.run_id != killed.info.run_id]
    assert new.info.status == "FINISHED" and runs[killed.info.run_id].data.tags["replaced_by"] == new.info.run_id


def test_runs_open_comparable_in_the_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: the experiment is tagged as model training (MLflow 3 otherwise opens its GenAI overview),
    every run carries the invocation's pipeline_run tag, and an evaluation that did not run says so
    (tags.status = 'not_run' and a description with the reason) so a filter leaves it out."""
    cfg = tiny_config(tmp_path)
    monkeypatch.setenv(tracking.PIPELINE_RUN_ENV, "20261202T000000Z-abc123")
    with tracking.start_run(cfg, "train", {"job": "train", "system": "s", "stage": "1"}):
        pass
    out = tmp_path / "eval"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    (out / "scores.parquet").write_bytes(b"")
    with tracking.start_run(cfg, "eval-x", {"job": "eval", "system": "x"}):
        tracking.log_eval_summary(out, {"status": "not_run", "reason": "weights absent", "label": "x"}, not_run=True)
    client = _client(cfg)
    exp = client.get_experiment_by_name(cfg["experiment"])
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "tags.job = 'train' and tags.stage = '1'" in exp.tags["mlflow.note.content"]
    runs = _runs(cfg)
    assert {r.data.tags["pipeline_run"] for r in runs} == {"20261202T000000Z-abc123"}
    ok = client.search_runs([exp.experiment_id], "tags.job = 'eval' and tags.status = 'ok'")
    assert len(ok) == 0
    [skipped] = client.search_runs([exp.experiment_id], "tags.status = 'not_run'")
    assert skipped.data.tags["mlflow.note.content"] == "Not run (no scores): weights absent"
    # an experiment created before the tags existed gets them when a job opens it
    client.delete_experiment_tag(exp.experiment_id, "mlflow.experimentKind")
    tracking.ensure_experiment(cfg["experiment"])
    assert client.get_experiment(exp.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    monkeypatch.delenv(tracking.PIPELINE_RUN_ENV)
    assert tracking.pipeline_run_id() == "standalone"
    assert tracking.new_pipeline_run_id() != tracking.new_pipeline_run_id()


def _chromium() -> str | None:
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


PIPELINE_RUN = "20261202T070000Z-5f3a1c"
# the README's filter (MLflow section)
UI_FILTER = f"tags.job = 'train' and tags.stage = '1' and tags.pipeline_run = '{PIPELINE_RUN}'"


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no Chromium installed (Debian: apt-get install chromium)")
def test_mlflow_ui_opens_on_stage1_runs_with_their_charts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: `mlflow ui` on the store, at the README's filter in the Chart view, lists the stage-1
    runs (one per system, the not-run evaluation left out) with vq_loss, quant_mse and loss_mel charts;
    the screenshot is the README's (copied to $DSCODEC_SCREENSHOTS when set). Slow: starting `mlflow ui`
    takes 20 s on an idle machine, minutes on a loaded one."""
    import shutil
    import signal
    import socket
    import time
    import urllib.parse
    import urllib.request

    cfg = tiny_config(tmp_path)
    monkeypatch.setenv(tracking.PIPELINE_RUN_ENV, PIPELINE_RUN)
    for k, system in enumerate(("ds_codec_vq", "ds_codec_pq", "ds_codec_vq_nonmirror")):
        with tracking.start_run(cfg, f"{system}-stage1", {"job": "train", "system": system, "stage": "1"}):
            for step in range(0, 330, 30):
                tracking.log_metrics({"vq_loss": (0.5 + 0.2 * k) / (1 + step / 60),
                                      "quant_mse": (0.3 + 0.1 * k) / (1 + step / 90),
                                      "loss_mel": 2.0 - k * 0.1 - step / 400}, step=step)
    with tracking.start_run(cfg, "eval-dac_1cb-librispeech_test", {"job": "eval", "system": "dac_1cb"}):
        tracking.set_tags({"status": "not_run"})
    exp_id = _client(cfg).get_experiment_by_name(cfg["experiment"]).experiment_id
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).with_name("mlflow")), "ui", "--backend-store-uri",
                               cfg["mlflow"]["tracking_uri"], "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
                              start_new_session=True)     # its own process group: its workers end with it
    try:
        deadline = time.time() + 400
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3)
                break
            except OSError:
                assert time.time() < deadline and server.poll() is None, "mlflow ui did not start"
                time.sleep(2)
        query = urllib.parse.urlencode({"searchFilter": UI_FILTER, "compareRunsMode": "CHART"})
        url = f"http://127.0.0.1:{port}/#/experiments/{exp_id}/runs?{query}"
        # the new headless mode with a 60 s virtual-time budget draws the three charts (the old mode
        # left them loading)
        args = [_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--window-size=1366,850", "--virtual-time-budget=60000"]
        dom = subprocess.run([*args, "--dump-dom", url], capture_output=True, text=True, timeout=300).stdout
        for text in ("Training runs", "ds_codec_vq-stage1", "ds_codec_pq-stage1", "vq_loss", "quant_mse", "loss_mel"):
            assert text in dom, f"{text!r} not on the MLflow runs page"
        assert "eval-dac_1cb" not in dom                       # the filter leaves out what is not a stage-1 run
        shot = tmp_path / "mlflow_stage1_charts.png"
        subprocess.run([*args, f"--screenshot={shot}", url], capture_output=True, timeout=300)
        assert shot.is_file() and shot.stat().st_size > 20_000
        if os.environ.get("DSCODEC_SCREENSHOTS"):
            shutil.copyfile(shot, Path(os.environ["DSCODEC_SCREENSHOTS"]) / shot.name)
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
