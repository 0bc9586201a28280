"""Stage 2 (paper §2.3): the switch to the non-mirrored decoder, frozen encoder/quantizer,
kept decoder weights, re-initialised discriminators; and the ablation systems."""
from __future__ import annotations

import pytest
import torch

from dscodec.errors import ConfigError
from dscodec.train.checkpoint import load_checkpoint
from dscodec.train.loop import FINAL, Trainer
from dscodec.train.stages import build_stage
from test_train_fixtures import tiny_config, write_corpus


@pytest.fixture(scope="module")
def stage1(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Stage-1 checkpoints (2 steps) of a VQ and a PQ mirrored system."""
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("stage1")
    manifest = write_corpus(tmp / "c", n=2)
    cfg = tiny_config(tmp, {"train": {"stage1": {"steps": 2, "val_utterances": 0}}})
    ckpts = {}
    for system in ("ds_codec_vq", "ds_codec_pq"):
        Trainer(cfg, system, 1, build_stage(cfg, system, 1), tmp / system, train_manifest=manifest,
                console=lambda line: None).run()
        ckpts[system] = tmp / system / FINAL
    return {"cfg": cfg, "manifest": manifest, "ckpts": ckpts, "tmp": tmp}


def _prefixed(state: dict, prefix: str) -> dict:
    return {k: v for k, v in state.items() if k.startswith(prefix)}


@pytest.mark.parametrize("system", ["ds_codec_vq", "ds_codec_pq_2t"])
def test_stage2_freezes_encoder_and_quantizer_and_trains_the_decoder(stage1: dict, system: str) -> None:
    torch.set_num_threads(1)
    cfg, manifest = stage1["cfg"], stage1["manifest"]
    source = "ds_codec_pq" if system == "ds_codec_pq_2t" else system
    s1 = load_checkpoint(stage1["ckpts"][source])
    setup = build_stage(cfg, system, 2, stage1["ckpts"][source])
    codec = setup.codec
    if system == "ds_codec_pq_2t":  # "2-t": no Transformer, the mirrored decoder goes on training
        assert codec.decoder_kind == "mirror" and codec.decoder.transformer is None
    else:  # the paper's switch: Transformer inserted
        assert codec.decoder_kind == "transformer" and codec.decoder.transformer is not None
    start = codec.state_dict()
    for key, value in s1["codec"].items():  # every stage-1 weight kept, decoder included
        assert torch.equal(start[key], value), key
    # discriminators re-initialised: not the trained stage-1 ones
    d0 = setup.discriminators.state_dict()
    assert any(not torch.equal(d0[k], s1["discriminators"][k]) for k in d0)
    assert not any(p.requires_grad for p in codec.encoder.parameters())
    assert not any(p.requires_grad for p in codec.quantizer.parameters())

    out = stage1["tmp"] / f"{system}-s2"
    trainer = Trainer(cfg, system, 2, setup, out, train_manifest=manifest, dev_manifest=manifest,
                      console=lambda line: None)
    optimised = {id(p) for group in trainer.opt_g.param_groups for p in group["params"]}
    assert not any(id(p) in optimised for p in codec.encoder.parameters())
    assert not any(id(p) in optimised for p in codec.quantizer.parameters())
    trainer.run()
    assert not codec.encoder.training and not codec.quantizer.training  # also after validation
    assert codec.decoder.training

    end = load_checkpoint(out / FINAL)["codec"]
    for prefix in ("encoder.", "quantizer."):  # parameters and buffers (codebook, usage) bit-identical
        part = _prefixed(s1["codec"], prefix)
        assert part and all(torch.equal(end[k], v) for k, v in part.items()), prefix
    decoder = _prefixed(s1["codec"], "decoder.")
    assert any(not torch.equal(end[k], v) for k, v in decoder.items())  # the decoder did train


def test_stage2_reuses_stage1_of_stage1_from_and_refuses_its_own_stage1(stage1: dict) -> None:
    with pytest.raises(ConfigError, match="stage1_from"):
        build_stage(stage1["cfg"], "ds_codec_pq_2t", 1)
    with pytest.raises(ConfigError, match="unknown system"):
        build_stage(stage1["cfg"], "nope", 1)


def test_apcodec_plus_trains_the_nonmirrored_model_from_scratch(stage1: dict) -> None:
    setup = build_stage(stage1["cfg"], "apcodec_plus_pq", 1)
    assert setup.codec.decoder_kind == "transformer" and setup.codec.quantizer_kind == "pq"
    assert all(p.requires_grad for p in setup.codec.parameters()) and not setup.frozen


def test_stage2_rejects_a_checkpoint_of_another_quantizer(stage1: dict) -> None:
    from dscodec.errors import TrainingError

    with pytest.raises(TrainingError, match="quantizer"):
        build_stage(stage1["cfg"], "ds_codec_pq", 2, stage1["ckpts"]["ds_codec_vq"])


def test_stage2_transformer_initialisation_follows_the_config_seed(stage1: dict) -> None:
    """Two builds from the same checkpoint and seed start from the same Transformer, whatever the
    process's RNG held before; another seed starts elsewhere (so the equality is not vacuous)."""
    cfg, ckpt = stage1["cfg"], stage1["ckpts"]["ds_codec_vq"]

    def transformer_after(rng_seed: int, config: dict) -> dict:
        torch.manual_seed(rng_seed)
        torch.rand(1000)  # unrelated draws before the build
        setup = build_stage(config, "ds_codec_vq", 2, ckpt)
        return {k: v.clone() for k, v in setup.codec.decoder.transformer.state_dict().items()}

    first, second = transformer_after(1, cfg), transformer_after(2, cfg)
    assert first.keys() == second.keys() and first
    for key in first:
        assert torch.equal(first[key], second[key]), key
    other = transformer_after(1, {**cfg, "seed": int(cfg["seed"]) + 1})
    assert any(not torch.equal(first[k], other[k]) for k in first)


def test_training_switches_come_from_the_config_and_the_architecture_from_the_checkpoint(stage1: dict) -> None:
    """`train.dead_code_reset` and `train.discriminator_overrides` are training settings (issue 13):
    stage 2 takes them from its config; the stage-1 checkpoint supplies only the generator."""
    cfg, ckpt = stage1["cfg"], stage1["ckpts"]["ds_codec_pq"]
    assert cfg["train"]["dead_code_reset"] is True  # what stage 1 trained with
    other = {**cfg, "train": {**cfg["train"], "dead_code_reset": False,
                              "discriminator_overrides": {"mpd_periods": [2, 3]}}}
    setup = build_stage(other, "ds_codec_pq", 2, ckpt)
    assert not any(q.dead_code_reset for q in setup.codec.quantizer.quantizers)
    assert [d.period for d in setup.discriminators.mpd] == [2, 3]
    assert all(q.dead_code_reset for q in build_stage(cfg, "ds_codec_pq", 2, ckpt).codec.quantizer.quantizers)
