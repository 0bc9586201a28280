"""The GAN training loop shared by both stages (paper §2.3-2.4; recipe from BigCodec).

Each step: (1) the codec reconstructs a batch of random 1 s crops; (2) the discriminators
(MPD + MS-STFT) take an LSGAN step on real vs detached reconstructions; (3) the trainable
part of the codec takes a step on

    mel x 15 + adversarial x 1 + feature matching x 1 + VQ loss x 1,
    VQ loss = commitment x 0.25 + codebook x 1.0 (raw quantizer losses, weighted only here)

(weights: `train.loss_weights`). With `adversarial_start_step: N` [ours] the first N steps
are a reconstruction-only warm-up (mel + VQ; no discriminator forward, backward or update),
which costs ~0.36x of a GAN step at `small` size on CPU: the CPU default spends its first
steps learning the spectral envelope cheaply and hands over to the GAN once the output is
speech-like (as AudioDec trains its codec on reconstruction losses before the GAN stage).
Gradients are clipped (`grad_clip`, BigCodec 1.0); both
learning rates follow `schedule.warmup_linear_decay`.

Non-finite losses: a step whose discriminator loss (or gradient norm) is NaN/Inf is
skipped entirely; one whose generator loss (or gradient norm) is not finite skips the
codec update. Either way the step is counted (`nonfinite_skipped`), the batch is dropped
and the schedule moves on. `max_nonfinite_in_a_row` such steps in a row raise
TrainingError; checkpoints are never written during such a streak or with non-finite
weights, so the last checkpoint on disk is a good one.

Determinism and resume: batch composition and crops are functions of (seed, step) — see
`StepBatchSampler` — and the RNG states travel in the checkpoint, so a job killed and
resumed from `last.pt` ends with the same weights as an uninterrupted run (on CPU). Its
metric history matches too: the per-step values not yet averaged into a logged point travel
in the checkpoint (`log_window`), and `skip_logged` keeps the resumed job from logging again
the steps its killed predecessor logged after the checkpoint, so each step is logged once.
"""
from __future__ import annotations

import json
import math
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from dscodec.config import config_hash
from dscodec.jobkeys import hashed_model_and_train
from dscodec.machine import machine_description
from dscodec.progress import Progress
from dscodec.errors import ConfigError, TrainingError
from dscodec.losses import (
    REDUCTIONS,
    MelReconstructionLoss,
    MultiResolutionSTFTLoss,
    Reduction,
    VQLossWeights,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    mel_scales,
)
from dscodec.train import distributed as dist_utils
from dscodec.train.checkpoint import remove_stale_temporaries, restore_rng, save_checkpoint
from dscodec.train.distributed import DistInfo
from dscodec.train.schedule import warmup_linear_decay
from dscodec.train.stages import StageSetup

LAST = "last.pt"
FINAL = "ckpt.pt"
SUMMARY = "train_summary.json"
VAL_AUDIO = 3  # reconstructions logged as audio artifacts per validation
MIN_VAL_SAMPLES = 4096  # mel loss with a 2048 window needs at least this much signal


class Sink(Protocol):
    """Where metrics go (dscodec.tracking in the CLI; a no-op or a list in tests)."""

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None: ...


class NullSink:
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        pass

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        pass


@dataclass(frozen=True)
class StageHParams:
    steps: int
    batch_size: int
    lr: float
    lr_min: float
    warmup_steps: int
    betas: tuple[float, float]
    weight_decay: float
    grad_clip: float | None
    checkpoint_every: int
    log_every: int
    val_every: int
    val_utterances: int
    max_nonfinite_in_a_row: int
    adversarial_start_step: int = 0

    def adversarial_at(self, step: int) -> bool:
        """Whether step `step` (0-based) trains and uses the discriminators."""
        return step >= self.adversarial_start_step

    @classmethod
    def from_config(cls, config: Mapping[str, Any], stage: int) -> "StageHParams":
        s = config["train"][f"stage{stage}"]
        return cls(
            steps=int(s["steps"]), batch_size=int(s["batch_size"]), lr=float(s["lr"]), lr_min=float(s["lr_min"]),
            warmup_steps=int(s["warmup_steps"]), betas=tuple(s["betas"]),  # type: ignore[arg-type]
            weight_decay=float(s["weight_decay"]), grad_clip=s["grad_clip"],
            checkpoint_every=int(s["checkpoint_every"]), log_every=int(s["log_every"]),
            val_every=int(s["val_every"]), val_utterances=int(s["val_utterances"]),
            max_nonfinite_in_a_row=int(s["max_nonfinite_in_a_row"]),
            adversarial_start_step=int(s.get("adversarial_start_step", 0)),
        )


# -- data ---------------------------------------------------------------------------------
class StepBatchSampler:
    """Batches as a pure function of (seed, step): sample k of the run is item
    perm_epoch[k mod N] with epoch = k div N and perm_epoch a seeded permutation, so a
    resumed run sees exactly the batches the uninterrupted one would. Under DDP rank r
    takes its slice of the global batch. Yields lists of (step, index)."""

    def __init__(self, num_items: int, batch_size: int, seed: int, start_step: int, total_steps: int,
                 rank: int = 0, world_size: int = 1) -> None:
        if batch_size % world_size:
            raise ConfigError(f"batch size {batch_size} does not split over {world_size} processes")
        self.n, self.batch, self.seed = num_items, batch_size, seed
        self.start, self.total = start_step, total_steps
        self.per_rank, self.rank = batch_size // world_size, rank
        self._perm: tuple[int, np.ndarray] | None = None

    def _index(self, k: int) -> int:
        epoch, pos = divmod(k, self.n)
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng([self.seed & 0xFFFFFFFF, epoch]).permutation(self.n))
        return int(self._perm[1][pos])

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.total):
            first = step * self.batch + self.rank * self.per_rank
            yield [(step, self._index(first + j)) for j in range(self.per_rank)]

    def __len__(self) -> int:
        return max(self.total - self.start, 0)


class StepCrops(Dataset):
    """Indexes a CropDataset by (step, index) and sets its crop epoch to the step, so crop
    positions and levels depend on (seed, step, index) only — not on process history."""

    def __init__(self, crops: Any) -> None:
        self.crops = crops

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, key: tuple[int, int]) -> torch.Tensor:
        step, index = key
        if self.crops.epoch != step:
            self.crops.set_epoch(step)
        return self.crops[index]


def _split(outs: list, n: int) -> tuple[list, list]:
    """Split discriminator outputs of cat([real, fake]) into the real and the fake half."""
    real = [(logits[:n], [f[:n] for f in fmaps]) for logits, fmaps in outs]
    fake = [(logits[n:], [f[n:] for f in fmaps]) for logits, fmaps in outs]
    return real, fake


def _finite(x: torch.Tensor) -> bool:
    return bool(torch.isfinite(x).all().item())


class Trainer:
    """Trains one (system, stage) into `out_dir` (last.pt while running, ckpt.pt at the end)."""

    def __init__(
        self,
        config: Mapping[str, Any],
        system: str,
        stage: int,
        setup: StageSetup,
        out_dir: str | Path,
        *,
        train_manifest: str | Path,
        dev_manifest: str | Path | None = None,
        info: DistInfo | None = None,
        sink: Sink | None = None,
        fingerprint: str = "",
        console: Callable[[str], None] | None = None,
    ) -> None:
        from dscodec.data.dataset import CropDataset

        self.config, self.system, self.stage, self.setup = config, system, stage, setup
        self.out_dir = Path(out_dir)
        self.hp = StageHParams.from_config(config, stage)
        self.info = info or DistInfo(0, 1, 0, torch.device("cpu"))
        self.device = self.info.device
        self.sink: Sink = sink if (sink is not None and self.info.is_main) else NullSink()
        self.fingerprint = fingerprint
        self.console = console if console is not None else (lambda line: print(line, file=sys.stderr, flush=True))
        if self.info.is_main:
            self._remove_stale_temporaries()
        train_cfg = config["train"]
        weights = dict(train_cfg["loss_weights"])
        self.weights = weights
        # the VQ loss = commitment x 0.25 + codebook x 1.0 of the raw quantizer losses, then x `vq`
        self.vq_loss = VQLossWeights.from_loss_weights(weights)
        # how the raw losses reduce over mel scales / discriminators / feature maps (dscodec.losses):
        # "mean" [ours] keeps the CPU recipe's numbers, "bigcodec" sums as BigCodec does (paper.yaml)
        self.loss_reduction: Reduction = train_cfg["loss_reduction"]
        if self.loss_reduction not in REDUCTIONS:
            raise ConfigError(f"`train.loss_reduction` must be one of {REDUCTIONS}, got {self.loss_reduction!r}")
        self.bf16 = dist_utils.use_bf16(train_cfg["precision"], self.device)

        codec, disc = setup.codec.to(self.device), setup.discriminators.to(self.device)
        self.codec, self.disc = codec, disc
        self.hop = codec.hop_length
        self.segment = int(round(train_cfg["segment_seconds"] * codec.sample_rate)) // self.hop * self.hop
        if self.segment < max(disc.size.stft_ffts):
            raise ConfigError(f"`train.segment_seconds` too short for the {max(disc.size.stft_ffts)}-point "
                              "MS-STFT discriminator")
        compile_ = bool(train_cfg["compile"])
        self.codec_run = dist_utils.maybe_compile(dist_utils.wrap_ddp(codec, self.info), compile_)
        self.disc_run = dist_utils.maybe_compile(dist_utils.wrap_ddp(disc, self.info), compile_)
        # validation always scores DAC's seven scales, so runs with `train.mel_windows` stay comparable
        self.val_mel_loss = MelReconstructionLoss(codec.sample_rate).to(self.device)
        # optional [ours] (absent = all seven, so configs without it keep their job keys and numbers)
        self.mel_loss = self.val_mel_loss
        if "mel_windows" in train_cfg:
            windows, n_mels = mel_scales(train_cfg["mel_windows"])
            self.mel_loss = MelReconstructionLoss(codec.sample_rate, windows, n_mels).to(self.device)
        # optional [ours] (absent = 0, so configs without it keep their job keys and numbers)
        self.stft_loss = MultiResolutionSTFTLoss().to(self.device) if weights.get("stft", 0.0) > 0 else None

        hp = self.hp
        self.gen_params = setup.trainable_codec_parameters()
        self.opt_g = torch.optim.AdamW(self.gen_params, lr=hp.lr, betas=hp.betas, weight_decay=hp.weight_decay)
        self.opt_d = torch.optim.AdamW(disc.parameters(), lr=hp.lr, betas=hp.betas, weight_decay=hp.weight_decay)
        sched = dict(lr=hp.lr, lr_min=hp.lr_min, warmup_steps=hp.warmup_steps, total_steps=hp.steps)
        self.sched_g = warmup_linear_decay(self.opt_g, **sched)
        self.sched_d = warmup_linear_decay(self.opt_d, **sched)

        self.crops = CropDataset(train_manifest, self.segment, seed=int(config["seed"]))
        self.val_items: list[dict[str, Any]] = []
        if dev_manifest is not None and hp.val_utterances > 0 and self.info.is_main:
            from dscodec.data.dataset import UtteranceDataset

            val = UtteranceDataset(dev_manifest, max_utterances=hp.val_utterances)
            self.val_items = [val[i] for i in range(len(val))]

        self.step = 0
        self.nonfinite_total = 0
        self.nonfinite_in_a_row = 0
        self.extra: dict[str, Any] = {}
        self.last_val: float | None = None
        self.last_metrics: dict[str, float] = {}
        # per-step values since the last logged step; saved in checkpoints so that a resumed job's
        # first logged mean covers the same steps as in an uninterrupted run
        self.window: dict[str, list[float]] = {}
        # metric -> highest step the run already holds (a resumed job's killed predecessor logged
        # past its checkpoint): those points are not logged again, so each step is logged once
        self.logged_steps: dict[str, int] = {}

    def _remove_stale_temporaries(self) -> None:
        """A kill during a checkpoint write leaves a temporary file; this trainer is the folder's writer now."""
        for path in remove_stale_temporaries(self.out_dir, (LAST, FINAL)):
            self.console(f"{self.system} stage {self.stage}: removed {path.name}, left by a checkpoint write "
                         "that was interrupted")

    # -- state --------------------------------------------------------------------------
    def load_state(self, ckpt: Mapping[str, Any]) -> None:
        """Continue from a checkpoint written by this trainer (same system, stage, config)."""
        self.codec.load_state_dict(ckpt["codec"])
        self.disc.load_state_dict(ckpt["discriminators"])
        self.opt_g.load_state_dict(ckpt["optimizers"]["generator"])
        self.opt_d.load_state_dict(ckpt["optimizers"]["discriminator"])
        self.sched_g.load_state_dict(ckpt["schedulers"]["generator"])
        self.sched_d.load_state_dict(ckpt["schedulers"]["discriminator"])
        self.step = int(ckpt["step"])
        extra = ckpt.get("extra", {})
        self.nonfinite_total = int(extra.get("nonfinite_total", 0))
        self.window = {k: [float(x) for x in v] for k, v in (extra.get("log_window") or {}).items()}
        restore_rng(ckpt["rng"])

    def skip_logged(self, steps: Mapping[str, int]) -> None:
        """Do not log again what the run already holds: metric `k` only from step steps[k] + 1 on."""
        self.logged_steps = {k: int(v) for k, v in steps.items()}

    def _log(self, metrics: Mapping[str, float]) -> None:
        fresh = {k: v for k, v in metrics.items() if self.step > self.logged_steps.get(k, -1)}
        if fresh:
            self.sink.log_metrics(fresh, step=self.step)

    def _weights_finite(self) -> bool:
        return all(_finite(t) for m in (self.codec, self.disc) for t in m.state_dict().values() if t.is_floating_point())

    def save(self, path: Path) -> Path:
        return save_checkpoint(
            path, codec=self.codec, discriminators=self.disc,
            optimizers={"generator": self.opt_g, "discriminator": self.opt_d},
            schedulers={"generator": self.sched_g, "discriminator": self.sched_d},
            step=self.step, system=self.system, stage=self.stage, config=self.config,
            extra={**self.extra, "nonfinite_total": self.nonfinite_total, "fingerprint": self.fingerprint,
                   "init_from": self.setup.init_from, "log_window": self.window},
        )

    # -- one step -----------------------------------------------------------------------
    def train_step(self, wav: torch.Tensor) -> dict[str, float] | None:
        """One discriminator + one codec update; None when skipped for a non-finite value.

        Before `adversarial_start_step` the step is a reconstruction-only warm-up: no
        discriminator update and no adversarial or feature-matching term (their metrics are
        then absent, not zero)."""
        w, hp, info = self.weights, self.hp, self.info
        adversarial = hp.adversarial_at(self.step)
        n = wav.shape[0]
        with dist_utils.autocast(self.device, self.bf16):
            out = self.codec_run(wav)
        recon = out.recon.float()
        loss_mel = self.mel_loss(recon, wav, self.loss_reduction)
        loss_vq = self.vq_loss(out.commit_loss, out.codebook_loss).float()
        loss_g = w["mel"] * loss_mel + w["vq"] * loss_vq
        metrics: dict[str, torch.Tensor] = {}
        if self.stft_loss is not None:
            loss_stft = self.stft_loss(recon, wav)
            loss_g = loss_g + w["stft"] * loss_stft
            metrics["loss_stft"] = loss_stft

        if adversarial:
            # (2) discriminators: LSGAN on real vs detached reconstructions
            with dist_utils.autocast(self.device, self.bf16):
                d_real, d_fake = _split(self.disc_run(torch.cat([wav, recon.detach()])), n)
            loss_d = discriminator_loss(d_real, d_fake, self.loss_reduction).float()
            if not dist_utils.all_true(_finite(loss_d), info):
                return None
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            norm_d = self._clip(self.disc.parameters(), hp.grad_clip)
            if not dist_utils.all_true(_finite(norm_d), info):
                self.opt_d.zero_grad(set_to_none=True)
                return None
            self.opt_d.step()
            loss_adv, loss_fm = self._generator_gan_terms(wav, recon)
            loss_g = loss_g + w["adversarial"] * loss_adv + w["feature_matching"] * loss_fm
            metrics.update(loss_d=loss_d, grad_norm_d=norm_d, loss_adv=loss_adv, loss_fm=loss_fm)

        # (3) codec update
        if not dist_utils.all_true(_finite(loss_g), info):
            return None
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        norm_g = self._clip(self.gen_params, hp.grad_clip)
        if not dist_utils.all_true(_finite(norm_g), info):
            self.opt_g.zero_grad(set_to_none=True)
            return None
        self.opt_g.step()

        metrics.update(loss_g=loss_g, loss_mel=loss_mel, grad_norm_g=norm_g, vq_loss=loss_vq)
        metrics.update({k: v for k, v in out.stats.items() if torch.is_tensor(v) and v.numel() == 1})
        return {k: float(v.detach().float().item()) for k, v in metrics.items()}

    def _generator_gan_terms(self, wav: torch.Tensor, recon: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Adversarial and feature-matching terms of the codec loss. The plain discriminator
        module (no DDP, no parameter gradients) judges, so only the codec receives gradients."""
        for p in self.disc.parameters():
            p.requires_grad_(False)
        try:
            with dist_utils.autocast(self.device, self.bf16):
                with torch.no_grad():
                    g_real = self.disc(wav)
                g_fake = self.disc(recon)
            return (generator_adversarial_loss(g_fake, self.loss_reduction).float(),
                    feature_matching_loss(g_real, g_fake, self.loss_reduction).float())
        finally:
            for p in self.disc.parameters():
                p.requires_grad_(True)

    @staticmethod
    def _clip(params: Any, max_norm: float | None) -> torch.Tensor:
        params = [p for p in params if p.grad is not None]
        if not params:
            return torch.zeros(())
        return torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm else float("inf"))

    # -- validation ---------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> float | None:
        """Mel loss on the first `val_utterances` dev utterances; a few reconstructions logged.
        Always the mean over scales, whatever `train.loss_reduction`, so runs stay comparable."""
        if not self.val_items:
            return None
        from dscodec.audio import save_audio

        self.codec.eval()
        losses = []
        try:
            with tempfile.TemporaryDirectory() as tmp:
                for i, item in enumerate(self.val_items):
                    ref = item["wav"].to(self.device)[None]  # [1, 1, T]
                    length = ref.shape[-1]
                    padded = max(length + (-length) % self.hop, MIN_VAL_SAMPLES + (-MIN_VAL_SAMPLES) % self.hop)
                    x = F.pad(ref, (0, padded - length))
                    with dist_utils.autocast(self.device, self.bf16):
                        recon = self.codec(x).recon.float()
                    recon[..., length:] = 0.0
                    losses.append(float(self.val_mel_loss(recon, x)))
                    if i < VAL_AUDIO:
                        path = Path(tmp) / f"{item['id']}.flac"
                        save_audio(path, recon[0, :, :length].cpu().clamp(-1, 1), self.codec.sample_rate)
                        self.sink.log_artifact(path, f"reconstructions/step_{self.step:07d}")
                        if not self.extra.get("val_references_logged"):
                            ref_path = Path(tmp) / f"ref_{item['id']}.flac"
                            save_audio(ref_path, ref[0].cpu(), self.codec.sample_rate)
                            self.sink.log_artifact(ref_path, "reconstructions/reference")
            self.extra["val_references_logged"] = True
        finally:
            self.setup.train_mode()
        return float(np.mean(losses))

    # -- the loop -----------------------------------------------------------------------
    def _loader(self) -> DataLoader:
        sampler = StepBatchSampler(len(self.crops), self.hp.batch_size, int(self.config["seed"]), self.step,
                                   self.hp.steps, self.info.rank, self.info.world_size)
        workers = int(self.config["train"]["num_workers"])
        return DataLoader(
            StepCrops(self.crops), batch_sampler=sampler, num_workers=workers,
            pin_memory=self.device.type == "cuda", persistent_workers=False,
            generator=torch.Generator().manual_seed(int(self.config["seed"])),  # keeps the global RNG untouched
        )

    def run(self, on_step: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Train from `self.step` to the configured number of steps; write ckpt.pt and the summary."""
        hp, info = self.hp, self.info
        self.setup.train_mode()
        start_step, t_start = self.step, time.perf_counter()
        t_window, n_window = time.perf_counter(), 0  # for the speed: steps this process ran since the last log
        audio_per_step = hp.batch_size * self.segment / self.codec.sample_rate
        # the ETA extrapolates the speed of the current phase only: a warm-up step costs ~0.36x a GAN step
        phase_origin = (self.step, time.perf_counter())
        # between the full log lines (every log_every steps, minutes apart on a CPU) a short progress
        # line every $DSCODEC_PROGRESS_SECONDS (10 s), from the start: the job is never silent for long
        ticker = Progress(f"[{self.system} stage{self.stage}] train", hp.steps, "steps", done=self.step,
                          emit=self.console if info.is_main else (lambda line: None),
                          left=lambda: self._eta(*phase_origin))
        for wav in self._loader():
            if self.step == hp.adversarial_start_step and self.step > phase_origin[0]:
                phase_origin = (self.step, time.perf_counter())
            wav = wav.to(self.device, non_blocking=True)
            result = self.train_step(wav)
            self.sched_g.step()
            with warnings.catch_warnings():  # during the warm-up the discriminator optimiser has not stepped yet;
                warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
                self.sched_d.step()        # its schedule still follows the global step
            self.step += 1
            n_window += 1
            if result is None:
                self.nonfinite_total += 1
                self.nonfinite_in_a_row += 1
                if self.nonfinite_in_a_row >= hp.max_nonfinite_in_a_row:
                    raise TrainingError(
                        f"{self.system} stage {self.stage}: {self.nonfinite_in_a_row} non-finite losses in a row "
                        f"at step {self.step} ({self.nonfinite_total} in all); stopping. The last good checkpoint "
                        f"is {self.out_dir / LAST} — lower the learning rate or check the data, then rerun to resume."
                    )
            else:
                self.nonfinite_in_a_row = 0
                for k, v in result.items():
                    self.window.setdefault(k, []).append(v)
            done = self.step == hp.steps
            if self.step % hp.log_every == 0 or done:
                elapsed = time.perf_counter() - t_window
                steps_per_s = n_window / max(elapsed, 1e-9)
                metrics = {k: float(np.mean(v)) for k, v in self.window.items()}
                metrics.update(lr=self.opt_g.param_groups[0]["lr"], lr_d=self.opt_d.param_groups[0]["lr"],
                               steps_per_s=steps_per_s, audio_s_per_s=steps_per_s * audio_per_step,
                               nonfinite_skipped=float(self.nonfinite_total))
                self.last_metrics = metrics
                self._log(metrics)
                if info.is_main:
                    self._print(metrics, *phase_origin)
                ticker.touch()
                self.window, t_window, n_window = {}, time.perf_counter(), 0
            if self.step % hp.val_every == 0 or done:
                val = self.validate()
                if val is not None:
                    self.last_val = val
                    self._log({"val_mel_loss": val})
            if self.step % hp.checkpoint_every == 0 and not done and self.nonfinite_in_a_row == 0:
                if info.is_main and self._weights_finite():
                    self.save(self.out_dir / LAST)
                dist_utils.barrier(info)
            if on_step is not None:
                on_step(self.step)
            ticker.update(self.step - ticker.done)
        return self.finish(time.perf_counter() - t_start, start_step)

    def finish(self, seconds: float, start_step: int) -> dict[str, Any]:
        if self.nonfinite_in_a_row or not self._weights_finite():
            raise TrainingError(f"{self.system} stage {self.stage}: training ended on non-finite values; "
                                f"ckpt.pt not written (last good checkpoint: {self.out_dir / LAST})")
        summary: dict[str, Any] = {}
        if self.info.is_main:
            final = self.save(self.out_dir / FINAL)
            (self.out_dir / LAST).unlink(missing_ok=True)  # ckpt.pt supersedes it
            steps_run = self.step - start_step
            summary = {
                "system": self.system, "stage": self.stage, "steps": self.step, "resumed_from_step": start_step,
                "steps_this_run": steps_run, "wall_seconds": round(seconds, 3),
                "steps_per_s": steps_run / seconds if seconds > 0 and steps_run else None,
                "batch_size": self.hp.batch_size, "segment_samples": self.segment,
                "device": str(self.device), "world_size": self.info.world_size, "bf16": self.bf16,
                "nonfinite_skipped": self.nonfinite_total, "final_metrics": self.last_metrics,
                "val_mel_loss": self.last_val, "parameters": self.codec.num_parameters(),
                "trainable_parameters": sum(p.numel() for p in self.gen_params),
                "init_from": self.setup.init_from, "checkpoint": str(final.resolve()),
                "mlflow_run_id": self.extra.get("mlflow_run_id"), "machine": machine_description(),
            }
            (self.out_dir / SUMMARY).write_text(json.dumps(summary, indent=2, default=str) + "\n")
        dist_utils.barrier(self.info)
        return summary

    def _eta(self, origin_step: int, t_origin: float) -> str:
        """Time left at the speed since `origin_step`; in a warm-up, to its end plus the GAN steps named."""
        done = self.step - origin_step
        rate = done / max(time.perf_counter() - t_origin, 1e-9)
        gan_from = self.hp.adversarial_start_step
        in_warmup = self.step < gan_from < self.hp.steps
        end = gan_from if in_warmup else self.hp.steps
        eta = (end - self.step) / rate if rate > 0 else math.inf
        eta_s = time.strftime("%H:%M:%S", time.gmtime(eta)) if math.isfinite(eta) else "?"
        if in_warmup:
            eta_s += f" + {self.hp.steps - gan_from} GAN steps"
        return eta_s

    def _print(self, m: Mapping[str, float], origin_step: int, t_origin: float) -> None:
        """One console line. The ETA uses the speed since `origin_step` (the start of the current
        phase): during a reconstruction-only warm-up it covers the warm-up and names the slower GAN
        steps still to come instead of pricing them at warm-up speed."""
        eta_s = self._eta(origin_step, t_origin)
        pct = 100.0 * self.step / self.hp.steps
        parts = [f"[{self.system} stage{self.stage}] step {self.step}/{self.hp.steps} ({pct:.0f}%)"]
        if "loss_g" in m:
            d = f"d {m['loss_d']:.3f}" if "loss_d" in m else "d off (warm-up)"
            parts.append(f"g {m['loss_g']:.3f} mel {m['loss_mel']:.3f} {d} vq {m.get('vq_loss', 0):.3f}")
        parts.append(f"{m['steps_per_s']:.2f} step/s {m['audio_s_per_s']:.1f} audio-s/s")
        parts.append(f"lr {m['lr']:.2e}")
        if self.nonfinite_total:
            parts.append(f"skipped {self.nonfinite_total}")
        parts.append(f"ETA {eta_s}")
        self.console(" | ".join(parts))


def resume_fingerprint(config: Mapping[str, Any], system: str, stage: int, init_from: str | Path | None) -> str:
    """What a last.pt must match to be resumed: the settings that shape the training
    trajectory, and (stage 2) the stage-1 checkpoint it started from (size + mtime)."""
    # moved settings at their old place: a last.pt written before they moved still resumes
    model, train = hashed_model_and_train(config)
    train = {k: v for k, v in train.items() if k not in ("num_workers", "threads", "stage1", "stage2")}
    if train.get("loss_reduction") == "mean":  # the implicit default: checkpoints from before the switch resume
        del train["loss_reduction"]
    init = None
    if init_from is not None and Path(init_from).exists():
        st = Path(init_from).stat()
        init = [str(Path(init_from).resolve()), st.st_size, st.st_mtime_ns]
    return config_hash({
        "seed": config["seed"], "model": model, "train": train, "stage_cfg": config["train"][f"stage{stage}"],
        "system": config["systems"][system], "stage": stage, "init": init,
    })
