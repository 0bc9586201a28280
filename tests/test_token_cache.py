"""Tokens shared between checkpoints of one encoder (dscodec/evaluate/token_cache.py): a stage-2
job reuses what its stage-1 job encoded, with bit-identical outputs, and never reuses tokens of
another encoder, another input or a damaged file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from dscodec.data.manifest import write_manifest
from dscodec.evaluate import runner
from dscodec.evaluate.metrics.base import Metric
from dscodec.evaluate.systems import DSCodecReconstructor, checkpoint_path
from dscodec.evaluate.token_cache import TokenCache, batch_digest, encoder_key
from dscodec.models import CodecModel, get_size
from dscodec.models.checkpoint import save_checkpoint_for_inference
from test_train_fixtures import tiny_config

SR = 16000


class MeanAbs(Metric):
    name, columns = "meanabs", ("meanabs",)

    def score(self, ref, deg):
        return {"meanabs": float(np.mean(np.abs(deg)))}


@pytest.fixture()
def cfg(tmp_path):
    return tiny_config(tmp_path, {"evaluation": {"max_utterances": 4, "workers": 1}})


@pytest.fixture()
def checkpoints(cfg):
    """Stage 1 (mirror) and stage 2 (transformer decoder) of one VQ system: stage 2 keeps stage 1's
    encoder and quantizer (paper Sec. 2.3), its decoder is new; plus a PQ stage 1 (another encoder)."""
    torch.manual_seed(0)
    stage1 = CodecModel(get_size("tiny"), "vq", "mirror")
    stage2 = CodecModel(get_size("tiny"), "vq", "transformer")
    stage2.encoder.load_state_dict(stage1.encoder.state_dict())
    stage2.quantizer.load_state_dict(stage1.quantizer.state_dict())
    other = CodecModel(get_size("tiny"), "pq", "mirror")
    return {
        1: save_checkpoint_for_inference(stage1, checkpoint_path(cfg, "ds_codec_vq", 1), step=4,
                                         system="ds_codec_vq", stage=1, config=cfg),
        2: save_checkpoint_for_inference(stage2, checkpoint_path(cfg, "ds_codec_vq", 2), step=3,
                                         system="ds_codec_vq", stage=2, config=cfg),
        "pq": save_checkpoint_for_inference(other, checkpoint_path(cfg, "ds_codec_pq", 1), step=4,
                                            system="ds_codec_pq", stage=1, config=cfg),
    }


def loaded(cfg, system, stage, testset="librispeech_test"):
    recon = DSCodecReconstructor.from_config(cfg, system, stage, testset)
    recon.load()
    return recon


def speechlike(lengths, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for n in lengths:
        t = np.arange(n) / SR
        x = 0.2 * np.sin(2 * np.pi * 140 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
        out.append((x + 0.01 * rng.standard_normal(n)).astype(np.float32))
    return out


def test_the_key_follows_encoder_and_quantizer_only(cfg, checkpoints):
    s1, s2, pq = loaded(cfg, "ds_codec_vq", 1), loaded(cfg, "ds_codec_vq", 2), loaded(cfg, "ds_codec_pq", 1)
    assert s1.token_cache.key == s2.token_cache.key          # the decoder is not part of it
    assert pq.token_cache.key != s1.token_cache.key          # another encoder and quantizer
    before = encoder_key(s2.codec)
    with torch.no_grad():
        next(s2.codec.model.quantizer.parameters()).view(-1)[0] += 1e-6   # one weight, one ulp-sized step
    assert encoder_key(s2.codec) != before
    s2.codec.chunk_frames += 1                                            # chunking changes the computation
    assert encoder_key(s2.codec) != before
    assert s1.token_cache.root == Path(cfg["results_dir"]) / "eval" / "_tokens" / "librispeech_test"


def test_stage2_reuses_stage1_tokens_with_bit_identical_output(cfg, checkpoints):
    wavs = speechlike([3000, 4321, 3000, 2500])
    stage1 = loaded(cfg, "ds_codec_vq", 1)
    stage1.reconstruct_many(wavs)
    assert stage1.token_batches == {"cached": 0, "encoded": 3}           # lengths 2500, 3000 (x2), 4321

    shared = loaded(cfg, "ds_codec_vq", 2)
    alone = DSCodecReconstructor.from_config(cfg, "ds_codec_vq", 2)      # no token cache: always encodes
    alone.load()
    assert alone.token_cache is None
    got, expected = shared.reconstruct_many(wavs), alone.reconstruct_many(wavs)
    assert shared.token_batches == {"cached": 3, "encoded": 0}
    for a, b in zip(got, expected):
        assert np.array_equal(a, b)                                       # bit for bit
    assert shared.accounting() == alone.accounting()                     # the same .dsc bytes were counted

    # another input of the same lengths is not answered by the cache
    shared.reconstruct_many(speechlike([3000], seed=9))
    assert shared.token_batches == {"cached": 3, "encoded": 1}
    # another encoder never sees these tokens
    pq = loaded(cfg, "ds_codec_pq", 1)
    pq.reconstruct_many(wavs[:1])
    assert pq.token_batches == {"cached": 0, "encoded": 1}


def test_a_damaged_entry_is_recomputed_not_trusted(cfg, checkpoints):
    wav = speechlike([3500])
    stage1 = loaded(cfg, "ds_codec_vq", 1)
    first = stage1.reconstruct_many(wav)[0]
    cache = stage1.token_cache
    batch = np.stack(wav)[:, None, :]
    path = cache.path(batch_digest(batch))
    assert path.is_file() and np.array_equal(cache.load(batch), stage1.codec.encode(torch.from_numpy(batch), SR).numpy())
    path.write_bytes(path.read_bytes()[:-40])                             # truncated
    again = loaded(cfg, "ds_codec_vq", 2)
    assert again.token_cache.load(batch) is None
    again.reconstruct_many(wav)
    assert again.token_batches == {"cached": 0, "encoded": 1}
    assert np.array_equal(again.token_cache.load(batch), cache.load(batch))  # rewritten whole
    # an entry stored under another key is refused as well
    foreign = TokenCache(cache.root, "0" * 32)
    foreign.store(batch, np.zeros((1, 5), dtype=np.int64))
    foreign.path(batch_digest(batch)).replace(path)
    assert cache.load(batch) is None
    assert first.shape == wav[0].shape


def test_jobs_record_what_the_token_cache_answered(cfg, checkpoints, tmp_path):
    rows = []
    for i, x in enumerate(speechlike([4000, 5200, 4000, 6100])):
        path = tmp_path / "corpus" / f"spk{i % 2}-1-{i:04d}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, x, SR, subtype="PCM_16")
        rows.append({"id": path.stem, "path": str(path), "sample_rate": SR, "frames": x.size,
                     "speaker": f"spk{i % 2}", "chapter": "1", "text": "tone"})
    manifest = write_manifest(pd.DataFrame(rows), tmp_path / "test.tsv")

    def job(stage):
        out = tmp_path / "eval" / f"ds_codec_vq-stage{stage}" / "librispeech_test"
        runner.evaluate(cfg, DSCodecReconstructor.from_config(cfg, "ds_codec_vq", stage, "librispeech_test"),
                        "librispeech_test", out, system="ds_codec_vq", stage=stage, kind="dscodec",
                        manifest=manifest, metrics=[MeanAbs()], log_mlflow=False)
        return json.loads((out / "summary.json").read_text()), pd.read_parquet(out / "scores.parquet")

    first, _ = job(1)
    second, scores = job(2)
    assert first["tokens"]["batches"] == {"cached": 0, "encoded": 3}
    assert second["tokens"]["batches"] == {"cached": 3, "encoded": 0}
    assert second["tokens"]["encoder_key"] == first["tokens"]["encoder_key"]
    assert second["tokens"]["cache"].endswith("eval/_tokens/librispeech_test")
    # and the scores are those of a job that encodes itself
    alone = DSCodecReconstructor.from_config(cfg, "ds_codec_vq", 2)
    out = tmp_path / "alone"
    runner.evaluate(cfg, alone, "librispeech_test", out, system="ds_codec_vq", stage=2, kind="dscodec",
                    manifest=manifest, metrics=[MeanAbs()], log_mlflow=False)
    assert pd.read_parquet(out / "scores.parquet").equals(scores)


def test_the_key_reads_scalar_and_empty_tensors(cfg, checkpoints):
    """Buffers of any shape (a 0-dim counter, an empty tensor) enter the key instead of failing it."""
    s1 = loaded(cfg, "ds_codec_vq", 1)
    before = encoder_key(s1.codec)
    s1.codec.model.quantizer.register_buffer("scalar_test_buffer", torch.tensor(3.0))
    with_scalar = encoder_key(s1.codec)
    s1.codec.model.quantizer.scalar_test_buffer.fill_(4.0)
    s1.codec.model.encoder.register_buffer("empty_test_buffer", torch.zeros(0))
    assert len({before, with_scalar, encoder_key(s1.codec)}) == 3
