"""The CUDA path: run only where a GPU is present (marker `cuda`; skipped, with the reason, elsewhere).

Why these exist although CI has no GPU: `configs/paper.yaml` trains on CUDA with bf16 autocast,
and `benchmarks/gpu_check.sh` runs `pytest -m cuda` first whenever a GPU machine is lent, so
the first thing such a session learns is whether the GPU path agrees with the tested CPU path.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from test_train_fixtures import tiny_config, write_corpus

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (run benchmarks/gpu_check.sh on a GPU)"),
]


def test_codec_on_cuda_matches_cpu_tokens_and_audio() -> None:
    """Full precision on both devices (TF32 off): the same tokens, audio within float error."""
    from dscodec.models.codec import CodecModel
    from dscodec.models.sizes import get_size

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    model = CodecModel(get_size("tiny"), "vq", "transformer").eval()
    wav = torch.randn(2, 1, 200 * 50) * 0.1
    with torch.no_grad():
        codes_cpu = model.quantizer.encode(model.encoder(wav))
        audio_cpu = model.decoder(model.quantizer.decode(codes_cpu))
        gpu = model.to("cuda")
        codes_gpu = gpu.quantizer.encode(gpu.encoder(wav.cuda())).cpu()
        audio_gpu = gpu.decoder(gpu.quantizer.decode(codes_cpu.cuda())).cpu()
    agree = float((codes_gpu == codes_cpu).float().mean())
    assert agree >= 0.99, f"only {agree:.3f} of the tokens agree between CPU and CUDA"
    assert torch.allclose(audio_gpu, audio_cpu, atol=1e-4), float((audio_gpu - audio_cpu).abs().max())


def test_bf16_training_steps_on_cuda_are_finite_and_resume(tmp_path: Path) -> None:
    """Stage 1 and stage 2 of the tiny model on CUDA with `precision: bf16`: finite losses, checkpoints."""
    from dscodec.train.loop import FINAL, Trainer
    from dscodec.train.stages import build_stage

    manifest = write_corpus(tmp_path / "c", n=4)
    cfg = tiny_config(tmp_path, {"device": "cuda", "train": {"precision": "bf16"}})
    s1 = Trainer(cfg, "ds_codec_vq", 1, build_stage(cfg, "ds_codec_vq", 1), tmp_path / "s1",
                 train_manifest=manifest, console=lambda line: None).run()
    s2 = Trainer(cfg, "ds_codec_vq", 2, build_stage(cfg, "ds_codec_vq", 2, tmp_path / "s1" / FINAL), tmp_path / "s2",
                 train_manifest=manifest, console=lambda line: None).run()
    for summary in (s1, s2):
        assert summary["device"].startswith("cuda") and summary["bf16"] is True
        assert summary["nonfinite_skipped"] == 0 and summary["final_metrics"]
        assert np.all(np.isfinite(list(summary["final_metrics"].values()))), summary["final_metrics"]
    assert (tmp_path / "s2" / FINAL).is_file()
