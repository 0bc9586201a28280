"""The GAN training loop on the tiny model: learning, NaN/Inf guard, exact resume."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dscodec.errors import TrainingError
from dscodec.train.checkpoint import load_checkpoint
from dscodec.train.loop import FINAL, LAST, SUMMARY, StepBatchSampler, Trainer
from dscodec.train.stages import build_stage
from test_train_fixtures import tiny_config, write_corpus

SYSTEM = "ds_codec_vq"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def make_trainer(tmp_path: Path, manifest: Path, out: str, stage1: dict | None = None) -> Trainer:
    cfg = tiny_config(tmp_path, {"train": {"stage1": stage1 or {}}})
    return Trainer(cfg, SYSTEM, 1, build_stage(cfg, SYSTEM, 1), tmp_path / out, train_manifest=manifest,
                   dev_manifest=manifest, console=lambda line: None)


def test_a_few_steps_lower_the_loss(tmp_path: Path) -> None:
    manifest = write_corpus(tmp_path / "c", n=2)
    trainer = make_trainer(tmp_path, manifest, "run", {"steps": 12, "lr": 2e-3, "lr_min": 1e-3, "warmup_steps": 1,
                                                       "val_every": 100})
    before = trainer.validate()
    summary = trainer.run()
    after = summary["val_mel_loss"]
    assert before is not None and after is not None
    assert after < 0.9 * before, (before, after)
    assert (tmp_path / "run" / FINAL).is_file() and (tmp_path / "run" / SUMMARY).is_file()
    assert summary["machine"].endswith(f"torch {torch.__version__}") and "CPUs" in summary["machine"]
    assert not (tmp_path / "run" / LAST).exists()  # superseded by ckpt.pt
    ckpt = load_checkpoint(tmp_path / "run" / FINAL)
    assert ckpt["step"] == 12 and ckpt["stage"] == 1 and ckpt["system"] == SYSTEM
    assert set(ckpt["optimizers"]) == {"generator", "discriminator"} and {"torch", "numpy", "python"} <= set(ckpt["rng"])


class NaNAfter(torch.nn.Module):
    """Wraps the mel loss and returns NaN from call `start` on (for `count` calls, or forever)."""

    def __init__(self, inner: torch.nn.Module, start: int, count: int | None = None) -> None:
        super().__init__()
        self.inner, self.start, self.count, self.calls = inner, start, count, 0

    def forward(self, recon: torch.Tensor, target: torch.Tensor, *reduction: str) -> torch.Tensor:
        self.calls += 1
        loss = self.inner(recon, target, *reduction)
        if self.calls > self.start and (self.count is None or self.calls <= self.start + self.count):
            return loss * float("nan")
        return loss


def test_nonfinite_losses_are_skipped_and_counted(tmp_path: Path) -> None:
    manifest = write_corpus(tmp_path / "c", n=2)
    trainer = make_trainer(tmp_path, manifest, "run", {"steps": 5, "val_every": 100, "val_utterances": 0})
    trainer.mel_loss = NaNAfter(trainer.mel_loss, start=1, count=2)  # steps 2 and 3 are NaN
    summary = trainer.run()
    assert summary["nonfinite_skipped"] == 2
    ckpt = load_checkpoint(tmp_path / "run" / FINAL)
    assert all(torch.isfinite(v).all() for v in ckpt["codec"].values() if v.is_floating_point())


def test_too_many_nonfinite_in_a_row_stop_with_last_good_checkpoint(tmp_path: Path) -> None:
    manifest = write_corpus(tmp_path / "c", n=2)
    trainer = make_trainer(tmp_path, manifest, "run", {"steps": 12, "checkpoint_every": 2, "val_every": 100,
                                                       "val_utterances": 0, "max_nonfinite_in_a_row": 3})
    trainer.mel_loss = NaNAfter(trainer.mel_loss, start=3)  # NaN from step 4 on, forever
    with pytest.raises(TrainingError, match="3 non-finite losses in a row"):
        trainer.run()
    assert not (tmp_path / "run" / FINAL).exists()
    last = load_checkpoint(tmp_path / "run" / LAST)
    assert last["step"] == 2  # step 4 and 6 fell inside the NaN streak: not written
    assert all(torch.isfinite(v).all() for v in last["codec"].values() if v.is_floating_point())


class Killed(Exception):
    pass


def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path: Path) -> None:
    manifest = write_corpus(tmp_path / "c", n=3)
    stage1 = {"steps": 5, "checkpoint_every": 2, "val_every": 100, "val_utterances": 0, "batch_size": 2}
    make_trainer(tmp_path, manifest, "straight", stage1).run()

    def kill_at_3(step: int) -> None:
        if step == 3:
            raise Killed

    with pytest.raises(Killed):
        make_trainer(tmp_path, manifest, "killed", stage1).run(on_step=kill_at_3)
    last = load_checkpoint(tmp_path / "killed" / LAST)
    assert last["step"] == 2
    torch.manual_seed(12345)  # a restarted process starts with other RNG state; the checkpoint restores it
    resumed = make_trainer(tmp_path, manifest, "killed", stage1)
    resumed.load_state(last)
    summary = resumed.run()
    assert summary["resumed_from_step"] == 2 and summary["steps"] == 5

    a = load_checkpoint(tmp_path / "straight" / FINAL)
    b = load_checkpoint(tmp_path / "killed" / FINAL)
    for part in ("codec", "discriminators"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), f"{part}.{key} differs after resume"
    exp_avg_a = a["optimizers"]["generator"]["state"][0]["exp_avg"]
    assert torch.equal(exp_avg_a, b["optimizers"]["generator"]["state"][0]["exp_avg"])
    assert a["schedulers"] == b["schedulers"]
    # the run must have moved: the uninterrupted weights differ from the step-2 checkpoint
    assert any(not torch.equal(a["codec"][k], last["codec"][k]) for k in a["codec"])


def test_batches_are_a_function_of_seed_and_step() -> None:
    whole = list(StepBatchSampler(7, 4, seed=3, start_step=0, total_steps=6))
    tail = list(StepBatchSampler(7, 4, seed=3, start_step=2, total_steps=6))
    assert whole[2:] == tail
    # every item once per epoch
    flat = [i for batch in whole for _, i in batch]
    assert sorted(flat[:7]) == list(range(7)) and sorted(flat[7:14]) == list(range(7))
    # two ranks split the global batch
    r0 = list(StepBatchSampler(7, 4, 3, 0, 6, rank=0, world_size=2))
    r1 = list(StepBatchSampler(7, 4, 3, 0, 6, rank=1, world_size=2))
    assert [a + b for a, b in zip(r0, r1)] == whole


def test_reconstruction_warm_up_leaves_the_discriminators_alone_then_hands_over(tmp_path: Path) -> None:
    """`adversarial_start_step`: before it, no discriminator update and no GAN terms (their
    metrics absent, not zero); from it on, the ordinary GAN step."""
    manifest = write_corpus(tmp_path / "c", n=2)
    trainer = make_trainer(tmp_path, manifest, "run", {"steps": 4, "adversarial_start_step": 2, "val_every": 100})
    disc_before = {k: v.clone() for k, v in trainer.disc.state_dict().items()}
    codec_before = {k: v.clone() for k, v in trainer.codec.state_dict().items()}
    batches = iter(trainer._loader())
    warm = trainer.train_step(next(batches))
    assert warm is not None and {"loss_mel", "loss_g"} <= set(warm)
    assert not {"loss_d", "loss_adv", "loss_fm", "grad_norm_d"} & set(warm)
    assert all(torch.equal(v, trainer.disc.state_dict()[k]) for k, v in disc_before.items())
    assert any(not torch.equal(v, trainer.codec.state_dict()[k]) for k, v in codec_before.items())
    trainer.step = 2  # the loop advances the step; here we jump to the hand-over
    gan = trainer.train_step(next(batches))
    assert gan is not None and {"loss_d", "loss_adv", "loss_fm", "grad_norm_d"} <= set(gan)
    assert any(not torch.equal(v, trainer.disc.state_dict()[k]) for k, v in disc_before.items())


def test_a_new_trainer_removes_stale_checkpoint_temporaries_only(tmp_path: Path) -> None:
    """A kill during atomic_torch_save leaves `.last.pt.XXXXXXXX.tmp`; the next trainer removes it, nothing else."""
    manifest = write_corpus(tmp_path / "c", n=2)
    out = tmp_path / "run"
    out.mkdir()
    stale = [out / ".last.pt.k3j_9xq2.tmp", out / ".ckpt.pt.abcdefgh.tmp"]
    kept = [out / ".other.pt.abcdefgh.tmp", out / ".last.pt.keepme.tmp", out / "last.pt.abcdefgh.tmp",
            out / "notes.tmp", out / "train_summary.json"]
    for path in stale + kept:
        path.write_bytes(b"")
    make_trainer(tmp_path, manifest, "run")
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)


def test_the_cleanup_pattern_matches_the_writers_own_temporary_names(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    from dscodec import fileio
    from dscodec.train import checkpoint

    made: list[str] = []
    real = tempfile.mkstemp

    def recording(*args, **kwargs):
        fd, name = real(*args, **kwargs)
        made.append(name)
        return fd, name

    monkeypatch.setattr(fileio.tempfile, "mkstemp", recording)  # the one atomic writer (dscodec/fileio.py)
    for _ in range(20):
        checkpoint.atomic_torch_save({"x": 1}, tmp_path / LAST)
    for name in made:
        Path(name).write_bytes(b"")  # as if killed before os.replace
    assert len(made) == 20
    assert checkpoint.remove_stale_temporaries(tmp_path, (LAST,)) == sorted(Path(n) for n in set(made))
    assert sorted(p.name for p in tmp_path.iterdir()) == [LAST]


def test_console_eta_covers_the_warm_up_and_names_the_gan_steps_still_to_come(tmp_path: Path) -> None:
    """During a reconstruction-only warm-up the ETA must not price the (slower) GAN steps at
    warm-up speed: it covers the warm-up and says how many GAN steps follow; after the hand-over
    it is the plain remaining time."""
    manifest = write_corpus(tmp_path / "c", n=2)
    cfg = tiny_config(tmp_path, {"train": {"stage1": {"steps": 4, "adversarial_start_step": 2, "log_every": 1,
                                                      "val_every": 100, "checkpoint_every": 100}}})
    lines: list[str] = []
    trainer = Trainer(cfg, SYSTEM, 1, build_stage(cfg, SYSTEM, 1), tmp_path / "run", train_manifest=manifest,
                      dev_manifest=manifest, console=lines.append)
    trainer.run()
    steps = [line for line in lines if " step " in line and "ETA" in line]
    assert len(steps) == 4
    assert all("+ 2 GAN steps" in line for line in steps[:1])
    assert not any("GAN steps" in line for line in steps[2:])


class ListSink:
    """Records (step, metric, value) as MLflow would store them."""

    def __init__(self) -> None:
        self.points: list[tuple[int, str, float]] = []

    def log_metrics(self, metrics, step=None) -> None:  # type: ignore[no-untyped-def]
        self.points.extend((int(step), k, float(v)) for k, v in metrics.items())

    def log_artifact(self, path, artifact_path=None) -> None:  # type: ignore[no-untyped-def]
        pass

    def last_steps(self) -> dict[str, int]:
        steps: dict[str, int] = {}
        for step, key, _ in self.points:
            steps[key] = max(step, steps.get(key, -1))
        return steps


TIMING = {"steps_per_s", "audio_s_per_s"}  # wall-clock measurements: differ between any two runs


def _history(points: list[tuple[int, str, float]]) -> list[tuple[int, str, float]]:
    return sorted(p for p in points if p[1] not in TIMING)


@pytest.mark.parametrize("log_every, checkpoint_every, kill_at", [(3, 4, 5), (1, 2, 3)],
                         ids=["window-spans-the-checkpoint", "steps-past-the-checkpoint-logged"])
def test_killed_and_resumed_metric_history_equals_the_uninterrupted_one(
        tmp_path: Path, log_every: int, checkpoint_every: int, kill_at: int) -> None:
    """Each step logged once, with the values of an uninterrupted run: the averaging window
    in flight at the checkpoint travels in it, and the steps the killed job logged after its
    checkpoint are not logged again by the resumed one."""
    manifest = write_corpus(tmp_path / "c", n=3)
    stage1 = {"steps": 7, "checkpoint_every": checkpoint_every, "log_every": log_every, "val_every": 100,
              "val_utterances": 0, "batch_size": 2}
    straight = ListSink()
    trainer = make_trainer(tmp_path, manifest, "straight", stage1)
    trainer.sink = straight
    trainer.run()

    def kill(step: int) -> None:
        if step == kill_at:
            raise Killed

    first = ListSink()
    killed = make_trainer(tmp_path, manifest, "killed", stage1)
    killed.sink = first
    with pytest.raises(Killed):
        killed.run(on_step=kill)
    last = load_checkpoint(tmp_path / "killed" / LAST)
    assert last["step"] < kill_at
    second = ListSink()
    resumed = make_trainer(tmp_path, manifest, "killed", stage1)
    resumed.sink = second
    resumed.load_state(last)
    resumed.skip_logged(first.last_steps())
    resumed.run()

    both = first.points + second.points
    steps = [(s, k) for s, k, _ in both]
    assert len(steps) == len(set(steps)), "a step was logged twice"
    assert _history(both) == _history(straight.points)
    assert {k for _, k, _ in straight.points} >= {"loss_mel", "loss_g", "lr"}
