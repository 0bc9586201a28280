"""Each loss term is weighted once, by the trainer, with the weights every config had before the
VQ weights left the quantizer (issue 13): mel 15, adversarial 1, feature matching 1, VQ 1 and,
inside the VQ loss, commitment 0.25 and codebook 1.0 of the quantizer's raw losses.

The expected total is composed here from the raw terms one training step logs, with the weights
written out by hand, so a weight applied twice (quantizer and trainer) or lost fails the test."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from dscodec.config import REPO_ROOT
from dscodec.errors import ConfigError
from dscodec.losses import MelReconstructionLoss
from dscodec.models.sizes import ModelSize, get_size
from dscodec.train.loop import Trainer
from dscodec.train.stages import build_stage
from test_train_fixtures import tiny_config, write_corpus

LEGACY = {"mel": 15.0, "adversarial": 1.0, "feature_matching": 1.0, "vq": 1.0, "commitment": 0.25, "codebook": 1.0}


def _train_section(config: str) -> dict:
    """The loss settings a config file sets itself (ci.yaml sets none: default.yaml's apply)."""
    train = yaml.safe_load((REPO_ROOT / "configs" / config).read_text()).get("train") or {}
    return {k: train[k] for k in ("loss_weights", "loss_reduction") if k in train}


def _one_step(tmp_path: Path, system: str, train: dict) -> dict[str, float]:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = tiny_config(tmp_path, {"train": train})
    trainer = Trainer(cfg, system, 1, build_stage(cfg, system, 1), tmp_path / "out",
                      train_manifest=write_corpus(tmp_path / "c", n=2), console=lambda line: None)
    metrics = trainer.train_step(0.1 * torch.randn(2, 1, trainer.segment))
    assert metrics is not None
    return metrics


@pytest.mark.parametrize("system, config", [("ds_codec_vq", "default.yaml"), ("ds_codec_vq", "paper.yaml"),
                                            ("ds_codec_vq", "ci.yaml"), ("ds_codec_pq", "default.yaml")])
def test_every_config_weights_each_raw_loss_as_before(tmp_path: Path, system: str, config: str) -> None:
    m = _one_step(tmp_path, system, _train_section(config))  # tiny size, GAN on from step 0
    vq = LEGACY["commitment"] * m["commit_loss"] + LEGACY["codebook"] * m["codebook_loss"]
    assert m["vq_loss"] == pytest.approx(vq, rel=1e-6, abs=1e-9)
    total = (LEGACY["mel"] * m["loss_mel"] + LEGACY["vq"] * vq
             + LEGACY["adversarial"] * m["loss_adv"] + LEGACY["feature_matching"] * m["loss_fm"])
    assert m["loss_g"] == pytest.approx(total, rel=1e-6)


def test_the_vq_weights_are_applied_by_the_trainer_only(tmp_path: Path) -> None:
    """With both VQ weights at 0 nothing of the VQ loss is left: the quantizer adds no weight of its own."""
    m = _one_step(tmp_path, "ds_codec_vq", {"loss_weights": {"commitment": 0.0, "codebook": 0.0}})
    assert m["commit_loss"] > 0 and m["vq_loss"] == 0.0
    assert m["loss_g"] == pytest.approx(15.0 * m["loss_mel"] + m["loss_adv"] + m["loss_fm"], rel=1e-6)


def test_the_former_model_keys_name_their_new_place() -> None:
    for old, new in (("commitment_weight", "train.loss_weights.commitment"),
                     ("codebook_weight", "train.loss_weights.codebook"),
                     ("dead_code_reset", "train.dead_code_reset"),
                     ("mpd_channels", "train.discriminator_overrides.mpd_channels"),
                     ("mpd_periods", "train.discriminator_overrides.mpd_periods"),
                     ("stft_channels", "train.discriminator_overrides.stft_channels"),
                     ("stft_ffts", "train.discriminator_overrides.stft_ffts")):
        with pytest.raises(ConfigError, match=f"model.overrides.{old}.*{new}"):
            get_size("tiny", {old: 0.5})
    # checkpoints written before the move carry the keys in their codec_config and still load
    old_codec_config = {**get_size("tiny").to_dict(), "commitment_weight": 0.25, "codebook_weight": 1.0,
                        "dead_code_reset": True, "mpd_channels": [4, 8, 8, 8, 8], "mpd_periods": [2, 3, 5, 7, 11],
                        "stft_channels": 4, "stft_ffts": [2048, 1024, 512, 256, 128]}
    assert ModelSize.from_dict(old_codec_config) == get_size("tiny")


def test_the_optional_stft_term_is_weighted_once_and_absent_by_default(tmp_path: Path) -> None:
    """`loss_weights.stft` (Parallel WaveGAN's multi-resolution STFT loss, [ours]) adds exactly
    weight x its raw value; configs without the key run no STFT loss at all."""
    m = _one_step(tmp_path, "ds_codec_vq", {"loss_weights": {"stft": 2.0}})
    vq = LEGACY["commitment"] * m["commit_loss"] + LEGACY["codebook"] * m["codebook_loss"]
    total = (LEGACY["mel"] * m["loss_mel"] + LEGACY["vq"] * vq + 2.0 * m["loss_stft"]
             + LEGACY["adversarial"] * m["loss_adv"] + LEGACY["feature_matching"] * m["loss_fm"])
    assert m["loss_stft"] > 0
    assert m["loss_g"] == pytest.approx(total, rel=1e-6)
    assert "loss_stft" not in _one_step(tmp_path / "plain", "ds_codec_vq", {})


def test_the_stft_loss_is_zero_on_identical_audio_and_scale_aware() -> None:
    from dscodec.losses import MultiResolutionSTFTLoss

    torch.manual_seed(0)
    loss = MultiResolutionSTFTLoss()
    y = torch.randn(2, 1, 8000)
    assert float(loss(y, y)) == pytest.approx(0.0, abs=1e-6)
    # half the amplitude: spectral convergence 0.5 at every resolution, log-magnitude L1 ln 2
    # (up to the magnitude floor in near-silent bins)
    assert float(loss(0.5 * y, y)) == pytest.approx(0.5 + 0.6931, rel=1e-3)


def test_mel_windows_pick_the_training_scales_and_validation_keeps_all_seven(tmp_path: Path) -> None:
    """`train.mel_windows` ([ours], optional) trains on a subset of DAC's mel scales, with DAC's mel
    counts; the trainer's validation loss (and so every run's dev mel distance) keeps all seven."""
    from dscodec.losses import MEL_WINDOWS, mel_scales

    assert mel_scales() == (MEL_WINDOWS, (5, 10, 20, 40, 80, 160, 320))
    assert mel_scales([1024, 256]) == ((1024, 256), (160, 40))
    with pytest.raises(ValueError, match="subset"):
        mel_scales([100])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = tiny_config(tmp_path, {"train": {"mel_windows": [512, 1024, 2048]}})
    trainer = Trainer(cfg, "ds_codec_vq", 1, build_stage(cfg, "ds_codec_vq", 1), tmp_path / "out",
                      train_manifest=write_corpus(tmp_path / "c", n=2), console=lambda line: None)
    assert [m.n_fft for m in trainer.mel_loss.mels] == [512, 1024, 2048]
    assert [m.mel_scale.n_mels for m in trainer.mel_loss.mels] == [80, 160, 320]
    assert len(trainer.val_mel_loss.mels) == 7
    y = 0.1 * torch.randn(1, 1, 4000)
    recon = y + 0.05 * torch.randn_like(y)
    fine = MelReconstructionLoss(16000, (512, 1024, 2048), (80, 160, 320))
    assert float(trainer.mel_loss(recon, y)) == pytest.approx(float(fine(recon, y)), rel=1e-6)
    with pytest.raises(ConfigError, match="mel_windows"):
        tiny_config(tmp_path / "bad", {"train": {"mel_windows": [100]}})


def test_without_mel_windows_training_uses_the_seven_scales(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = tiny_config(tmp_path, {})
    trainer = Trainer(cfg, "ds_codec_vq", 1, build_stage(cfg, "ds_codec_vq", 1), tmp_path / "out",
                      train_manifest=write_corpus(tmp_path / "c", n=2), console=lambda line: None)
    assert trainer.mel_loss is trainer.val_mel_loss and len(trainer.mel_loss.mels) == 7
