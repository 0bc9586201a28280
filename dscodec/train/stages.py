"""What each (system, stage) trains (paper §2.3 and the Table 3 ablation).

- Stage 1, mirror training: encoder + quantizer + mirrored decoder trained jointly with the
  MPD + MS-STFT discriminators. For the "APCodec+" ablation (`stage1: nonmirror`) the
  non-mirrored model (decoder with the Transformer block) is trained jointly from scratch.
- Stage 2, decoder training: the stage-1 checkpoint is loaded; with `stage2: transformer`
  a mirrored model is switched to the non-mirrored one (`CodecModel.to_nonmirror`: the
  Transformer block is inserted, every stage-1 weight kept); with `stage2: plain` ("2-t")
  the decoder stays as it was. Encoder and quantizer are frozen — no gradients, eval mode
  (so batch statistics such as the quantizer's running code usage do not move), and they
  are left out of the optimiser — and the discriminators are re-initialised.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from dscodec import layout
from dscodec.errors import ConfigError, TrainingError
from dscodec.models import CodecModel, get_size
from dscodec.models.discriminator_sizes import discriminator_size
from dscodec.models.discriminators import Discriminators
from dscodec.train.checkpoint import load_checkpoint


@dataclass
class StageSetup:
    codec: CodecModel
    discriminators: Discriminators
    frozen: list[nn.Module] = field(default_factory=list)  # kept in eval mode, no gradients
    init_from: str | None = None  # stage-1 checkpoint a stage-2 model starts from

    def trainable_codec_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.codec.parameters() if p.requires_grad]

    def train_mode(self) -> None:
        """Training mode for what is trained; frozen parts stay in eval mode (paper §2.3)."""
        self.codec.train()
        self.discriminators.train()
        for module in self.frozen:
            module.eval()


def system_config(config: Mapping[str, Any], system: str) -> Mapping[str, Any]:
    systems = config["systems"]
    if system not in systems:
        raise ConfigError(f"unknown system {system!r}; the config defines {sorted(systems)}")
    return systems[system]


def stage1_source(config: Mapping[str, Any], system: str) -> str:
    """The system whose stage-1 checkpoint `system` uses (dscodec/layout.py); unknown: ConfigError."""
    system_config(config, system)
    return layout.stage1_source(config, system)


def stage_seed(config: Mapping[str, Any], stage: int) -> int:
    """Seed of a stage's initialisation; differs per stage so stage 2's fresh discriminators
    are not a copy of stage 1's initial ones."""
    return int(config["seed"]) + 1000 * (stage - 1)


def freeze(module: nn.Module) -> None:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)


def build_stage1(config: Mapping[str, Any], system: str) -> StageSetup:
    sys_cfg = system_config(config, system)
    source = layout.stage1_source(config, system)
    if source != system:
        raise ConfigError(
            f"system {system!r} reuses the stage 1 of {source!r} (`stage1_from`); "
            f"train stage 1 of {source!r} instead"
        )
    if sys_cfg.get("init_from_bigcodec"):
        raise ConfigError(
            f"system {system!r} takes its stage 1 from BigCodec's checkpoint (`init_from_bigcodec`); convert it with "
            "`dscodec import-bigcodec` (the workflow's import_bigcodec_stage1 rule) instead of training"
        )
    size = get_size(config["model"]["size"], config["model"].get("overrides"))
    decoder = "mirror" if sys_cfg["stage1"] == "mirror" else "transformer"
    torch.manual_seed(stage_seed(config, 1))
    codec = CodecModel(size, quantizer=sys_cfg["quantizer"], decoder=decoder,
                       dead_code_reset=bool(config["train"]["dead_code_reset"]))
    return StageSetup(codec, Discriminators(discriminator_size(config)))


def build_stage2(config: Mapping[str, Any], system: str, stage1_ckpt: str | Path) -> StageSetup:
    sys_cfg = system_config(config, system)
    ckpt = load_checkpoint(stage1_ckpt)
    if int(ckpt.get("stage", 1)) != 1:
        raise TrainingError(f"{stage1_ckpt}: expected a stage-1 checkpoint, found stage {ckpt.get('stage')}")
    # the architecture comes from the checkpoint, the training switches from this config
    codec = CodecModel.from_codec_config(ckpt["codec_config"],
                                         dead_code_reset=bool(config["train"]["dead_code_reset"]))
    codec.load_state_dict(ckpt["codec"])
    if codec.quantizer_kind != sys_cfg["quantizer"]:
        raise TrainingError(
            f"{stage1_ckpt}: quantizer {codec.quantizer_kind!r} but system {system!r} uses {sys_cfg['quantizer']!r}"
        )
    if sys_cfg["stage2"] == "transformer" and codec.decoder_kind == "mirror":
        # the paper's architecture switch; the inserted Transformer's initial weights come from the
        # config seed, not from whatever the process's RNG held (forked: the discriminators below
        # start from the same seed and weights as before this was seeded)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stage_seed(config, 2))
            codec = codec.to_nonmirror()
    elif sys_cfg["stage2"] == "plain" and codec.decoder_kind != "mirror":
        raise ConfigError(f"system {system!r}: `stage2: plain` needs a mirrored stage 1 (`stage1: mirror`)")
    torch.manual_seed(stage_seed(config, 2))
    discriminators = Discriminators(discriminator_size(config))  # re-initialised, never loaded from stage 1
    freeze(codec.encoder)
    freeze(codec.quantizer)
    return StageSetup(codec, discriminators, frozen=[codec.encoder, codec.quantizer], init_from=str(stage1_ckpt))


def build_stage(config: Mapping[str, Any], system: str, stage: int, stage1_ckpt: str | Path | None = None) -> StageSetup:
    if stage == 1:
        return build_stage1(config, system)
    if stage == 2:
        if stage1_ckpt is None:
            raise ConfigError("stage 2 needs the stage-1 checkpoint")
        return build_stage2(config, system, stage1_ckpt)
    raise ConfigError(f"stage must be 1 or 2, got {stage}")
