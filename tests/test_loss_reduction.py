"""`train.loss_reduction`: "mean" keeps the project's former numbers, "bigcodec" reproduces
BigCodec's sums (lightning_module.py / criterions/mel_loss.py of Aria-K-Alethia/BigCodec).
Expected values are worked out by hand on fixed tensors, not by the code under test."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchaudio

from dscodec.losses import (
    MelReconstructionLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)

T = torch.tensor


def _outs() -> tuple[list, list]:
    """2 discriminators, each (logits, [one hidden map, the logits]) as ours return them."""
    fl1, fl2 = T([[0.0, 0.5]]), T([[1.0, -1.0]])
    rl1, rl2 = T([[1.0, 1.0]]), T([[0.0, 0.0]])
    fake = [(fl1, [T([[1.0, 2.0]]), fl1]), (fl2, [T([[0.0, 0.0, 3.0]]), fl2])]
    real = [(rl1, [T([[0.0, 0.0]]), rl1]), (rl2, [T([[0.0, 3.0, 3.0]]), rl2])]
    return real, fake


def test_adversarial_and_discriminator_terms() -> None:
    real, fake = _outs()
    # generator: D1 mean((1-[0, .5])^2) = (1 + .25)/2 = .625; D2 mean((1-[1, -1])^2) = (0 + 4)/2 = 2
    assert generator_adversarial_loss(fake, "bigcodec").item() == pytest.approx(0.625 + 2.0)
    assert generator_adversarial_loss(fake).item() == pytest.approx((0.625 + 2.0) / 2)
    assert generator_adversarial_loss(fake, "mean").item() == generator_adversarial_loss(fake).item()
    # discriminator: D1 0 + mean([0, .25]) = .125; D2 mean((1-0)^2) = 1 + mean([1, 1]) = 1
    assert discriminator_loss(real, fake, "bigcodec").item() == pytest.approx(0.125 + 2.0)
    assert discriminator_loss(real, fake).item() == pytest.approx((0.125 + 2.0) / 2)


def test_feature_matching_leaves_logits_out_only_for_bigcodec() -> None:
    real, fake = _outs()
    # hidden maps: D1 mean|[1, 2] - [0, 0]| = 1.5; D2 mean|[0, 0, 3] - [0, 3, 3]| = 1.0
    # logits maps: D1 mean|[0, .5] - [1, 1]| = .75; D2 mean|[1, -1] - [0, 0]| = 1.0
    assert feature_matching_loss(real, fake, "bigcodec").item() == pytest.approx(1.5 + 1.0)
    assert feature_matching_loss(real, fake).item() == pytest.approx((1.5 + 0.75 + 1.0 + 1.0) / 4)


def test_mel_sums_over_scales_for_bigcodec() -> None:
    torch.manual_seed(0)
    target = torch.randn(1, 1, 1600) * 0.1
    recon = target + 0.05 * torch.randn_like(target)
    loss = MelReconstructionLoss(16000, window_lengths=(32, 64), n_mels=(5, 10))
    per_scale = []
    for w, m in ((32, 5), (64, 10)):
        mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=16000, n_fft=w, win_length=w, hop_length=w // 4, n_mels=m, power=1.0,
            center=True, f_min=0.0, f_max=8000.0)
        per_scale.append(F.l1_loss(mel(recon).clamp_min(1e-5).log10(), mel(target).clamp_min(1e-5).log10()).item())
    assert loss(recon, target, "bigcodec").item() == pytest.approx(per_scale[0] + per_scale[1], rel=1e-5)
    assert loss(recon, target).item() == pytest.approx((per_scale[0] + per_scale[1]) / 2, rel=1e-5)


def test_unknown_reduction_is_refused() -> None:
    real, fake = _outs()
    with pytest.raises(ValueError, match="loss reduction"):
        feature_matching_loss(real, fake, "sum")  # type: ignore[arg-type]


@pytest.mark.parametrize("reduction", ["mean", "bigcodec"])
def test_trainer_passes_the_configured_reduction(tmp_path, monkeypatch: pytest.MonkeyPatch, reduction: str) -> None:
    """Every generator/discriminator loss of a GAN step gets `train.loss_reduction`; weights stay
    applied once in the trainer."""
    import dscodec.train.loop as loop
    from dscodec.train.stages import build_stage
    from test_train_fixtures import tiny_config, write_corpus

    torch.set_num_threads(1)
    seen: list[tuple[str, str]] = []

    def spy(name: str, fn):
        def wrapped(*args, **kwargs):
            seen.append((name, args[-1] if isinstance(args[-1], str) else kwargs.get("reduction", "mean")))
            return fn(*args, **kwargs)
        return wrapped

    for name in ("discriminator_loss", "generator_adversarial_loss", "feature_matching_loss"):
        monkeypatch.setattr(loop, name, spy(name, getattr(loop, name)))
    manifest = write_corpus(tmp_path / "c", n=2)
    cfg = tiny_config(tmp_path, {"train": {"loss_reduction": reduction}})
    trainer = loop.Trainer(cfg, "ds_codec_vq", 1, build_stage(cfg, "ds_codec_vq", 1), tmp_path / "run",
                           train_manifest=manifest, dev_manifest=manifest, console=lambda line: None)
    trainer.mel_loss = spy("mel", trainer.mel_loss)
    assert trainer.train_step(torch.randn(2, 1, trainer.segment) * 0.1) is not None
    assert sorted(n for n, _ in seen) == ["discriminator_loss", "feature_matching_loss",
                                          "generator_adversarial_loss", "mel"]
    assert {r for _, r in seen} == {reduction}


def test_configs_choose_their_reduction() -> None:
    """default.yaml keeps the averaging it was tuned with; paper.yaml uses BigCodec's sums and weights."""
    from pathlib import Path

    from dscodec.config import load_config

    repo = Path(__file__).resolve().parents[1]
    assert load_config(repo / "configs" / "default.yaml")["train"]["loss_reduction"] == "mean"
    paper = load_config(repo / "configs" / "paper.yaml")["train"]
    assert paper["loss_reduction"] == "bigcodec"
    assert paper["loss_weights"] == {"mel": 15.0, "adversarial": 1.0, "feature_matching": 1.0, "vq": 1.0,
                                     "commitment": 0.25, "codebook": 1.0}


def test_mean_leaves_the_resume_fingerprint_unchanged() -> None:
    """Spelling out the default `mean` must not invalidate checkpoints trained before the switch."""
    from dscodec.train.loop import resume_fingerprint
    from test_train_fixtures import tiny_config

    cfg = tiny_config(Path("/tmp"))
    without = {**cfg, "train": {k: v for k, v in cfg["train"].items() if k != "loss_reduction"}}
    with_mean = {**cfg, "train": {**cfg["train"], "loss_reduction": "mean"}}
    with_sum = {**cfg, "train": {**cfg["train"], "loss_reduction": "bigcodec"}}
    fp = lambda c: resume_fingerprint(c, "ds_codec_vq", 1, None)  # noqa: E731
    assert fp(without) == fp(with_mean) != fp(with_sum)
