"""Reference features computed once per test set (issue 11): a second evaluation job reuses them,
a changed metric version or audio file invalidates them, a corrupt file is recomputed, and the
scores are the same with and without the cache.

The metric here is a fake whose reference-side step counts its calls (jobs run in-process,
workers=1, so the counter sees every call)."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from dscodec.evaluate import runner
from dscodec.evaluate.baselines.base import CodecInfo, Reconstructor
from dscodec.evaluate.metrics.base import Metric
from dscodec.evaluate.reference_cache import ReferenceCache, audio_digest, metric_key
from test_evaluate_runner import cfg, manifest  # noqa: F401 - fixtures: tiny config, 4-file test set

N_SCORED = 3   # cfg: max_utterances 3


class RefStats(Metric):
    """Intrusive fake: the reference's energy profile is its (countable) reference-side work."""

    name, columns = "refstats", ("energy_ratio", "profile_corr")
    calls = 0

    def __init__(self, version: str = "1") -> None:
        self.version = version

    has_reference_features = True

    def reference_features(self, ref):
        type(self).calls += 1
        frames = ref[: ref.size // 160 * 160].reshape(-1, 160)
        return {"energy": float(np.sum(ref.astype(np.float64) ** 2)), "profile": np.sqrt(np.mean(frames**2, axis=1))}

    def score(self, ref, deg, ref_features=None):
        feats = ref_features if ref_features is not None else self.reference_features(ref)
        frames = deg[: deg.size // 160 * 160].reshape(-1, 160)
        profile = np.sqrt(np.mean(frames**2, axis=1))
        return {"energy_ratio": float(np.sum(deg.astype(np.float64) ** 2) / feats["energy"]),
                "profile_corr": float(np.corrcoef(profile, feats["profile"])[0, 1])}


class Scaled(Reconstructor):
    """A delay-free 'codec' (same length out) whose output depends on its gain."""

    def __init__(self, gain: float) -> None:
        self.gain = gain
        self.name = f"scaled{gain}"

    @property
    def info(self):
        return CodecInfo(f"Scaled x{self.gain}", 1.0, 50.0, 1, 16000)

    def reconstruct(self, wav):
        return (self.gain * wav + 0.01 * np.sin(np.arange(wav.size) / 7.0)).astype(np.float32)


def job(cfg, manifest, out: Path, gain: float = 0.8, metric: Metric | None = None, **kwargs):  # noqa: F811
    return runner.evaluate(cfg, Scaled(gain), "librispeech_test", out, system=f"scaled{gain}", stage=2,
                           kind="dscodec", manifest=manifest, metrics=[metric or RefStats()], log_mlflow=False,
                           **kwargs)


@pytest.fixture(autouse=True)
def _reset_counter():
    RefStats.calls = 0


def cache_files(cfg) -> list[Path]:  # noqa: F811
    return sorted(runner.reference_cache_dir(cfg, "librispeech_test").rglob("*.npz"))


def test_second_job_reuses_reference_features(cfg, manifest, tmp_path):  # noqa: F811
    first = job(cfg, manifest, tmp_path / "a", gain=0.8)
    assert RefStats.calls == N_SCORED
    assert first["reference_features"]["metrics"]["refstats"]["computed"] == N_SCORED
    assert len(cache_files(cfg)) == N_SCORED
    second = job(cfg, manifest, tmp_path / "b", gain=0.5)   # another system, same references
    assert RefStats.calls == N_SCORED, "the second job recomputed reference features"
    entry = second["reference_features"]["metrics"]["refstats"]
    assert (entry["cached"], entry["computed"]) == (N_SCORED, 0)
    assert second["metrics"]["energy_ratio"]["n"] == N_SCORED


def test_scores_identical_with_and_without_cache(cfg, manifest, tmp_path):  # noqa: F811
    job(cfg, manifest, tmp_path / "cold")
    job(cfg, manifest, tmp_path / "warm")
    job(cfg, manifest, tmp_path / "none", reference_cache=False)
    frames = [pd.read_parquet(tmp_path / d / "scores.parquet") for d in ("cold", "warm", "none")]
    assert RefStats.calls == 2 * N_SCORED          # cold computes, warm reuses, "none" computes in score()
    pd.testing.assert_frame_equal(frames[0], frames[1])
    pd.testing.assert_frame_equal(frames[0], frames[2])


def test_changed_metric_version_invalidates(cfg, manifest, tmp_path):  # noqa: F811
    job(cfg, manifest, tmp_path / "v1")
    job(cfg, manifest, tmp_path / "v2", metric=RefStats(version="2"))
    assert RefStats.calls == 2 * N_SCORED
    job(cfg, manifest, tmp_path / "v2again", metric=RefStats(version="2"))
    assert RefStats.calls == 2 * N_SCORED
    assert metric_key(RefStats("1")) != metric_key(RefStats("2"))


def test_changed_audio_file_invalidates_that_utterance_only(cfg, manifest, tmp_path):  # noqa: F811
    job(cfg, manifest, tmp_path / "before")
    path = Path(pd.read_csv(manifest, sep="\t")["path"].iloc[0])   # the first file is among the scored ones
    audio, sr = sf.read(path, dtype="float32")
    sf.write(path, 0.5 * audio, sr, subtype="PCM_16")
    after = job(cfg, manifest, tmp_path / "after")
    assert RefStats.calls == N_SCORED + 1
    entry = after["reference_features"]["metrics"]["refstats"]
    assert (entry["cached"], entry["computed"]) == (N_SCORED - 1, 1)


def test_corrupt_or_foreign_cache_file_is_recomputed_not_trusted(cfg, manifest, tmp_path):  # noqa: F811
    job(cfg, manifest, tmp_path / "clean")
    files = cache_files(cfg)
    files[0].write_bytes(files[0].read_bytes()[:50])               # truncated
    other = np.load(files[2], allow_pickle=False)                    # valid file, another utterance's content
    arrays = {k: other[k] for k in other.files}
    np.savez(files[1], **arrays)
    rerun = job(cfg, manifest, tmp_path / "rerun")
    assert RefStats.calls == N_SCORED + 2
    assert rerun["reference_features"]["metrics"]["refstats"]["computed"] == 2
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "clean" / "scores.parquet"),
                                  pd.read_parquet(tmp_path / "rerun" / "scores.parquet"))
    job(cfg, manifest, tmp_path / "repaired")                        # the recomputed files were rewritten
    assert RefStats.calls == N_SCORED + 2


def test_reference_step_failure_is_a_counted_failure_and_not_cached(cfg, manifest, tmp_path):  # noqa: F811
    class Refuses(RefStats):
        def reference_features(self, ref):
            type(self).calls += 1
            raise ValueError("no voice in the reference (test)")

    summary = job(cfg, manifest, tmp_path / "out", metric=Refuses())
    entry = summary["metrics"]["energy_ratio"]
    assert entry["n"] == 0 and entry["failures"] == N_SCORED and "no voice" in entry["failure_messages"][0]
    assert cache_files(cfg) == []


class FrameStats(RefStats):
    """Frame-wise fake that, like V/UV F1, serves a reference's prefix from the whole reference's frames."""

    name, columns = "framestats", ("profile_corr",)
    derives_prefix_features = True
    prefix_calls = 0

    def reference_features(self, ref):
        type(self).calls += 1
        frames = ref[: ref.size // 160 * 160].reshape(-1, 160)
        return {"profile": np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))}

    def prefix_features(self, features, prefix):
        type(self).prefix_calls += 1
        return {"profile": features["profile"][: prefix.size // 160]}

    def score(self, ref, deg, ref_features=None):
        feats = ref_features if ref_features is not None else self.reference_features(ref)
        frames = deg[: deg.size // 160 * 160].reshape(-1, 160)
        profile = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
        return {"profile_corr": float(np.corrcoef(profile, feats["profile"])[0, 1])}


class Delayed(Scaled):
    """A baseline that delays its output by DELAY samples (a causal codec): scored against a cut reference."""

    DELAY = 48

    @property
    def info(self):
        return CodecInfo("Delayed", 1.0, None, None, 16000, nominal_delay_samples=self.DELAY)

    def reconstruct(self, wav):
        out = super().reconstruct(wav)
        return np.concatenate([np.zeros(self.DELAY, np.float32), out[: out.size - self.DELAY]])


def test_delayed_codec_derives_its_cut_reference_from_the_whole_ones_entry(cfg, manifest, tmp_path):  # noqa: F811
    FrameStats.calls = FrameStats.prefix_calls = 0
    job(cfg, manifest, tmp_path / "delay-free", metric=FrameStats())          # fills the whole references' entries
    assert FrameStats.calls == N_SCORED

    def delayed(out, **kwargs):
        return runner.evaluate(cfg, Delayed(0.7), "librispeech_test", out, system="delayed", kind="baseline",
                               manifest=manifest, metrics=[FrameStats()], log_mlflow=False, **kwargs)

    summary = delayed(tmp_path / "delayed")
    scores = pd.read_parquet(tmp_path / "delayed" / "scores.parquet")
    assert (scores["delay_samples"] == Delayed.DELAY).all()
    assert FrameStats.calls == N_SCORED and FrameStats.prefix_calls == N_SCORED   # derived, nothing recomputed
    entry = summary["reference_features"]["metrics"]["framestats"]
    assert (entry["cached"], entry["computed"]) == (N_SCORED, 0)
    assert len(list(cache_files(cfg))) == N_SCORED                               # derived features are not stored
    delayed(tmp_path / "no-cache", reference_cache=False)                        # computed on the cut reference
    pd.testing.assert_frame_equal(scores, pd.read_parquet(tmp_path / "no-cache" / "scores.parquet"))


def test_concurrent_writers_leave_a_valid_entry(tmp_path):
    """Two jobs computing the same entry at once: both writes land (rename), a reader never sees half a file."""
    cache = ReferenceCache(tmp_path / "cache")
    metric = RefStats()
    ref = np.sin(np.arange(16000) / 5.0).astype(np.float32)
    key, digest = metric_key(metric), audio_digest(ref)
    path = cache.path(metric, "utt/1", digest, key)
    features = metric.reference_features(ref)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(20):
                cache.store(path, key, digest, features)
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    def reader() -> None:
        for _ in range(50):
            got = cache.load(path, key, digest)
            if got is not None:
                np.testing.assert_array_equal(got["profile"], features["profile"])

    threads = [threading.Thread(target=writer), threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert path.parent.name.startswith("refstats-") and "/" not in path.name
    assert [p.name for p in path.parent.iterdir()] == [path.name]      # no temporary files left behind
    got, hit = cache.features(metric, "utt/1", ref, key)
    assert hit and float(got["energy"]) == features["energy"]
