"""The evaluation runner on a tiny test set: scores, summary, failures, unavailable metrics,
not-run baselines, parallel scoring and the MLflow run (temporary SQLite store).

Most tests use small fake metrics and codecs defined here (known answers, controlled failures);
the CLI test at the end runs the real PESQ-WB and STOI plug-ins in two worker processes."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from dscodec.data.manifest import read_manifest, write_manifest
from dscodec.evaluate import runner
from dscodec.evaluate.baselines.base import BaselineUnavailable, CodecInfo, Reconstructor
from dscodec.evaluate.metrics.base import Metric, MetricUnavailable
from dscodec.evaluate.systems import DSCodecReconstructor, checkpoint_path, system_label
from dscodec.models import CodecModel, get_size
from dscodec.models.checkpoint import save_checkpoint_for_inference
from test_train_fixtures import tiny_config

SR = 16000
LENGTHS = [8160, 14400, 13283, 13283]   # samples of the 4 files (speakers spk0, spk1, spk0, spk1)
# max_utterances=3 with subset_seed 0 draws files 0, 2 (spk0) and 3 (spk1): the short one first, two share a length
SELECTED = [0, 2, 3]
LENGTHS_S = [LENGTHS[i] / 16000 for i in SELECTED]
SHORT = 0.6 * SR


# ----------------------------------------------------------------------------- fakes (module level: picklable)
class AbsDiff(Metric):
    name, columns = "absdiff", ("absdiff",)

    def score(self, ref, deg):
        return {"absdiff": float(np.mean(np.abs(ref - deg)))}


class FailsOnShort(Metric):
    name, columns = "shortfail", ("shortfail",)

    def score(self, ref, deg):
        if ref.size < SHORT:
            raise ValueError("too short for this metric")
        return {"shortfail": 1.0}


class NeverLoads(Metric):
    name, columns = "never", ("never",)

    def load(self):
        raise MetricUnavailable("model file absent (test)")

    def score(self, ref, deg):  # pragma: no cover - never called
        raise AssertionError("an unavailable metric must not be scored")


class Level(Metric):
    """Non-intrusive, two columns."""

    name, columns, intrusive = "level", ("level_db", "peak"), False

    @property
    def model(self):
        return "rms+peak (test)"

    def score(self, ref, deg):
        return {"level_db": float(20 * np.log10(np.sqrt(np.mean(deg**2)) + 1e-12)), "peak": float(np.abs(deg).max())}


def fake_metrics():
    return [AbsDiff(), FailsOnShort(), NeverLoads(), Level()]


METRIC_COLUMNS = ["absdiff", "shortfail", "never", "level_db", "peak"]


class Delayed(Reconstructor):
    """A 'codec' that adds 37 samples of delay and scales by 0.9."""

    name = "delayed"
    DELAY = 37

    @property
    def info(self):
        return CodecInfo("Delayed (test)", 2.0, 50.0, 2, SR)

    def reconstruct(self, wav):
        return np.concatenate([np.zeros(self.DELAY, np.float32), 0.9 * wav]).astype(np.float32)


class Absent(Reconstructor):
    name = "absent"

    @property
    def info(self):
        return CodecInfo("Absent codec", 1.5, 75.0, 2, 24000)

    def load(self):
        raise BaselineUnavailable("weights absent: evaluation.baselines.absent.checkpoint is null")

    def reconstruct(self, wav):  # pragma: no cover
        raise AssertionError


class Broken(Reconstructor):
    name = "broken"

    @property
    def info(self):
        return CodecInfo("Broken", 1.0, None, None, SR)

    def reconstruct(self, wav):
        raise RuntimeError("codec crashed")


class FailsOnShortInput(Delayed):
    def reconstruct(self, wav):
        if wav.size < SHORT:
            raise RuntimeError("input too short for this codec")
        return super().reconstruct(wav)


class Identity(Reconstructor):
    name = "ground-truth"

    @property
    def info(self):
        return CodecInfo("Ground truth", None, None, None, SR)

    def reconstruct(self, wav):
        return wav


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture()
def cfg(tmp_path):
    return tiny_config(tmp_path, {"evaluation": {"max_utterances": 3, "workers": 1}})


@pytest.fixture()
def manifest(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i, n in enumerate(LENGTHS):
        t = np.arange(n) / SR
        f0 = 110 + 20 * i
        x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)) * 0.2 * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
        x = (x + 0.005 * rng.standard_normal(t.size)).astype(np.float32)
        path = tmp_path / "corpus" / f"spk{i % 2}-1-{i:04d}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, x, SR, subtype="PCM_16")
        rows.append({"id": path.stem, "path": str(path), "sample_rate": SR, "frames": x.size,
                     "speaker": f"spk{i % 2}", "chapter": "1", "text": "tone"})
    return write_manifest(pd.DataFrame(rows), tmp_path / "test.tsv")


@pytest.fixture()
def checkpoint(cfg):
    torch.manual_seed(0)
    model = CodecModel(get_size("tiny"), "vq", "transformer")
    path = checkpoint_path(cfg, "ds_codec_vq", 2)
    return save_checkpoint_for_inference(model, path, step=7, system="ds_codec_vq", stage=2, config=cfg)


def run_dscodec(cfg, manifest, out, **kwargs):
    recon = DSCodecReconstructor.from_config(cfg, "ds_codec_vq", 2)
    kwargs.setdefault("log_mlflow", False)
    kwargs.setdefault("metrics", fake_metrics())
    return runner.evaluate(cfg, recon, "librispeech_test", out, system="ds_codec_vq", stage=2, kind="dscodec",
                           manifest=manifest, **kwargs)


# ----------------------------------------------------------------------------- tests
def test_mean_ci95_on_known_numbers():
    mean, ci = runner.mean_ci95([1.0, 2.0, 3.0, 4.0, 5.0])
    # t_{0.975, 4} = 2.776445 (tables); sd = sqrt(2.5); half-width = t * sd / sqrt(5)
    assert mean == 3.0 and ci == pytest.approx(2.776445 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)
    assert runner.mean_ci95([2.5]) == (2.5, None)
    assert runner.mean_ci95([]) == (None, None)


def test_evaluated_subset_spans_speakers_and_is_recorded(cfg, manifest, tmp_path):
    """max_utterances=3 on a manifest of 2 speakers: both are scored, and summary.json says which."""
    rows, drawn = runner.load_testset(manifest, 3, runner.subset_seed(cfg))
    assert [read_manifest(manifest)["id"][i] for i in SELECTED] == list(rows["id"])
    assert drawn["speakers"] == {"spk0": 2, "spk1": 1} and drawn["manifest_utterances"] == 4
    summary = runner.evaluate(cfg, Identity(), "librispeech_test", tmp_path / "out", system="identity",
                              kind="baseline", metrics=[AbsDiff()], manifest=manifest, log_mlflow=False)
    assert summary["subset"] == {**drawn, "seed": 0} and summary["provenance"]["subset_seed"] == 0
    cfg = {**cfg, "evaluation": {**cfg["evaluation"], "subset_seed": None}, "seed": 5}
    assert runner.subset_seed(cfg) == 5   # null: the config's top-level seed


def test_checkpoint_and_label_of_a_shared_stage1(cfg):
    root = Path(cfg["results_dir"])
    assert checkpoint_path(cfg, "ds_codec_pq_2t", 1) == root / "models/ds_codec_pq/stage1/ckpt.pt"
    assert checkpoint_path(cfg, "ds_codec_pq_2t", 2) == root / "models/ds_codec_pq_2t/stage2/ckpt.pt"
    assert system_label(cfg, "ds_codec_vq", 1) == "DS-Codec-VQ (stage 1)"
    assert system_label(cfg, "ds_codec_vq", 2) == "DS-Codec-VQ"
    with pytest.raises(Exception, match="unknown system"):
        checkpoint_path(cfg, "nope", 2)


def test_dscodec_job_writes_scores_summary_and_audio(cfg, manifest, checkpoint, tmp_path):
    out = tmp_path / "eval" / "ds_codec_vq-stage2" / "librispeech_test"
    run_dscodec(cfg, manifest, out)
    scores = pd.read_parquet(out / "scores.parquet")
    summary = json.loads((out / "summary.json").read_text())
    ids = [read_manifest(manifest)["id"][i] for i in SELECTED]

    assert list(scores.columns) == runner.BASE_COLUMNS + METRIC_COLUMNS
    assert list(scores["id"]) == ids and list(scores["speaker"]) == ["spk0", "spk0", "spk1"]
    assert scores["duration_s"].tolist() == pytest.approx(LENGTHS_S)
    assert scores["delay_samples"].tolist() == [0, 0, 0]          # DS-Codec is delay-free: trimmed, never shifted
    assert scores["delay_method"].tolist() == ["trim"] * 3
    assert summary["alignment"]["window"] is None and summary["alignment"]["methods"] == {"trim": 3}
    for utt, n in zip(ids, (LENGTHS[i] for i in SELECTED)):
        audio, sr = sf.read(out / "audio" / f"{utt}.flac")
        assert sr == SR and audio.size == n

    assert summary["status"] == "ok" and summary["kind"] == "dscodec" and summary["stage"] == 2
    assert summary["label"] == "DS-Codec-VQ" and summary["n_utterances"] == 3
    assert summary["manifest"] == str(Path(manifest).resolve())
    metrics = summary["metrics"]
    assert set(metrics) == set(METRIC_COLUMNS)
    # the metric that raised on the short utterance: a counted failure with its message, no value
    assert metrics["shortfail"]["failures"] == 1 and metrics["shortfail"]["n"] == 2
    assert ids[0] in metrics["shortfail"]["failure_messages"][0]
    assert "too short" in metrics["shortfail"]["failure_messages"][0]
    assert np.isnan(scores["shortfail"][0]) and scores["shortfail"][1:].tolist() == [1.0, 1.0]
    # the metric that cannot load: flagged with its reason, never a number
    assert metrics["never"] == {"metric": "never", "unavailable": "model file absent (test)"}
    assert scores["never"].isna().all()
    # statistics are those of the per-utterance column
    mean, ci = runner.mean_ci95(scores["absdiff"].to_numpy())
    assert metrics["absdiff"]["mean"] == pytest.approx(mean) and metrics["absdiff"]["ci95"] == pytest.approx(ci)
    assert metrics["absdiff"]["n"] == 3 and metrics["absdiff"]["failures"] == 0
    assert metrics["level_db"]["model"] == "rms+peak (test)" and metrics["peak"]["n"] == 3

    # bitrate measured from the .dsc bytes: 6-bit tokens (tiny codebook of 64), ceil(T/200) tokens, byte padding
    info = summary["info"]
    frames = [math.ceil(LENGTHS[i] / 200) for i in SELECTED]
    expected = sum(8 * math.ceil(n * 6 / 8) for n in frames) / sum(LENGTHS_S) / 1000
    assert info["bitrate_kbps"] == pytest.approx(expected) and info["bitrate_kbps"] > info["nominal_bitrate_kbps"]
    assert info["nominal_bitrate_kbps"] == pytest.approx(0.48)
    assert (info["tokens_per_second"], info["n_codebooks"]) == (80.0, 1)
    prov = summary["provenance"]
    assert prov["training_steps"] == {"checkpoint_step": 7, "configured_steps": cfg["train"]["stage2"]["steps"]}
    assert prov["model_size"] == "tiny" and prov["corpus_sources"]["librispeech"] == "sample"
    assert prov["git_commit"] and len(prov["config_hash"]) == 16
    assert summary["utterances_per_s"] > 0


def test_batched_reconstruction_equals_one_by_one(cfg, checkpoint):
    recon = DSCodecReconstructor.from_config(cfg, "ds_codec_vq", 2)
    recon.load()
    rng = np.random.default_rng(1)
    wavs = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (3000, 4321, 3000)]
    batched = recon.reconstruct_many(wavs)
    single = [recon.reconstruct(w) for w in wavs]
    direct = recon.codec.decode(recon.codec.encode(torch.from_numpy(wavs[1]), SR), length=4321)[0, 0].numpy()
    for b, s, w in zip(batched, single, wavs):
        assert b.shape == w.shape and np.allclose(b, s, atol=1e-5)
    assert np.allclose(single[1], direct, atol=1e-6)


def test_baseline_delay_is_compensated(cfg, manifest, tmp_path):
    out = tmp_path / "eval" / "baseline-delayed" / "librispeech_test"
    summary = runner.evaluate(cfg, Delayed(), "librispeech_test", out, system="delayed", kind="baseline",
                              metrics=[AbsDiff()], manifest=manifest, log_mlflow=False)
    scores = pd.read_parquet(out / "scores.parquet")
    assert scores["delay_samples"].tolist() == [Delayed.DELAY] * 3  # reconstruction lags by 37 samples
    assert scores["delay_method"].tolist() == ["waveform"] * 3      # sample-exact: the waveform is kept
    assert summary["alignment"]["window"] == [0, runner.MAX_SHIFT]  # declares no delay: causal search
    refs = [sf.read(read_manifest(manifest)["path"][i], dtype="float32")[0] for i in SELECTED]
    # after alignment the only difference left is the 0.9 gain
    for value, ref in zip(scores["absdiff"], refs):
        assert value == pytest.approx(0.1 * np.mean(np.abs(ref)), rel=0.05)
    assert summary["info"]["bitrate_kbps"] == 2.0 and summary["info"]["bitrate_source"] == "nominal"
    assert summary["label"] == "Delayed (test)"


class Leads(Delayed):
    """Output 40 samples *before* its input: impossible for a causal codec."""

    def reconstruct(self, wav):
        return (0.9 * wav[40:]).astype(np.float32)


def test_a_lag_outside_the_window_is_a_failure_not_a_clamped_score(cfg, manifest, tmp_path):
    with pytest.raises(runner.EvaluationError, match="alignment failed.*outside the search window"):
        runner.evaluate(cfg, Leads(), "librispeech_test", tmp_path / "out", system="leads", kind="baseline",
                        metrics=[AbsDiff()], manifest=manifest, log_mlflow=False)


def test_the_dscodec_aligner_never_shifts(checkpoint, cfg):
    recon = DSCodecReconstructor.from_config(cfg, "ds_codec_vq", 2)
    recon.load()
    wav = (0.1 * np.random.default_rng(2).standard_normal(9000)).astype(np.float32)
    ref_a, deg_a, delay, method = runner.make_aligner("dscodec", recon)(wav, recon.reconstruct(wav))
    assert (delay, method) == (0, "trim") and ref_a.size == deg_a.size == wav.size


def test_unavailable_baseline_is_reported_not_run(cfg, manifest, tmp_path):
    out = tmp_path / "eval" / "baseline-absent" / "librispeech_test"
    summary = runner.evaluate(cfg, Absent(), "librispeech_test", out, system="absent", kind="baseline",
                              metrics=fake_metrics(), manifest=manifest, log_mlflow=False)
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    assert on_disk["status"] == "not_run" and "checkpoint is null" in on_disk["reason"]
    assert on_disk["label"] == "Absent codec" and on_disk["n_utterances"] == 0
    scores = pd.read_parquet(out / "scores.parquet")
    assert scores.empty and list(scores.columns) == runner.BASE_COLUMNS + METRIC_COLUMNS


def test_ground_truth_scores_only_non_intrusive_metrics(cfg, manifest, tmp_path):
    out = tmp_path / "eval" / "ground-truth" / "librispeech_test"
    summary = runner.evaluate(cfg, Identity(), "librispeech_test", out, system="ground-truth",
                              kind="ground_truth", metrics=fake_metrics(), manifest=manifest, log_mlflow=False)
    metrics = summary["metrics"]
    assert "not applicable" in metrics["absdiff"]["unavailable"]
    assert "not applicable" in metrics["shortfail"]["unavailable"]
    assert metrics["level_db"]["n"] == 3 and metrics["level_db"]["failures"] == 0
    assert not (out / "audio").exists() and summary["audio_dir"] is None


def test_two_worker_processes_give_the_same_scores(cfg, manifest, checkpoint, tmp_path):
    one = run_dscodec(cfg, manifest, tmp_path / "one", workers=1)
    two = run_dscodec(cfg, manifest, tmp_path / "two", workers=2)
    assert one["scoring"] == "in-process" and two["scoring"] == "2 processes"
    a = pd.read_parquet(tmp_path / "one" / "scores.parquet")
    b = pd.read_parquet(tmp_path / "two" / "scores.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert two["metrics"]["never"] == one["metrics"]["never"]
    assert two["metrics"]["shortfail"]["failures"] == 1


class Unpicklable(AbsDiff):
    """Holds a lambda, so it cannot be sent to a worker process."""

    def __init__(self):
        self.fn = lambda x: x


def test_pool_that_cannot_start_falls_back_to_one_process(cfg, manifest, tmp_path):
    lines = []
    summary = runner.evaluate(cfg, Identity(), "librispeech_test", tmp_path / "out", system="identity",
                              kind="baseline", metrics=[Unpicklable()], workers=2, manifest=manifest,
                              log_mlflow=False, log=lines.append)
    assert summary["scoring"] == "in-process" and summary["metrics"]["absdiff"]["n"] == 3
    assert any("scoring in this process" in line for line in lines)


def test_mlflow_run_is_tagged_and_linked_to_training(cfg, manifest, checkpoint, tmp_path):
    import mlflow

    from dscodec import tracking

    with tracking.start_run(cfg, "ds_codec_vq-stage2", {"system": "ds_codec_vq", "stage": "2", "job": "train"}) as r:
        train_id = r.info.run_id
    with tracking.start_run(cfg, "ds_codec_pq-stage1", {"system": "ds_codec_pq", "stage": "1", "job": "train"}) as r:
        pq_stage1 = r.info.run_id
    out = tmp_path / "eval" / "ds_codec_vq-stage2" / "librispeech_test"
    summary = run_dscodec(cfg, manifest, out, log_mlflow=True)

    mlflow.set_tracking_uri(cfg["mlflow"]["tracking_uri"])
    runs = mlflow.search_runs(experiment_names=[cfg["experiment"]], filter_string="tags.job = 'eval'")
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["run_id"] == summary["mlflow_run_id"] and run["status"] == "FINISHED"
    assert (run["tags.system"], run["tags.stage"], run["tags.testset"], run["tags.kind"]) == (
        "ds_codec_vq", "2", "librispeech_test", "dscodec")
    assert run["tags.train_run_id"] == train_id
    assert run["metrics.absdiff"] == pytest.approx(summary["metrics"]["absdiff"]["mean"])
    assert run["metrics.shortfail_failures"] == 1
    assert "metrics.never" not in runs or pd.isna(run["metrics.never"])
    assert run["tags.unavailable.never"] == "model file absent (test)"
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run["run_id"])}
    assert {"summary.json", "scores.parquet"} <= artifacts
    # a stage-1 evaluation of a `stage1_from` system links to the shared stage-1 training run
    mlflow.set_tracking_uri(cfg["mlflow"]["tracking_uri"])
    assert runner.find_train_run(cfg, "ds_codec_pq_2t", 1) == pq_stage1


def test_reconstruction_failure_is_counted_for_every_metric(cfg, manifest, tmp_path):
    out = tmp_path / "eval" / "baseline-picky" / "librispeech_test"
    summary = runner.evaluate(cfg, FailsOnShortInput(), "librispeech_test", out, system="picky", kind="baseline",
                              metrics=[AbsDiff(), Level()], manifest=manifest, log_mlflow=False)
    scores = pd.read_parquet(out / "scores.parquet")
    assert summary["reconstruction_failures"] == 1
    assert "input too short" in summary["reconstruction_failure_messages"][0]
    for col in ("absdiff", "level_db", "peak"):
        assert summary["metrics"][col]["failures"] == 1 and summary["metrics"][col]["n"] == 2
        assert np.isnan(scores[col][0])
    assert pd.isna(scores["delay_samples"][0]) and scores["duration_s"][0] == pytest.approx(LENGTHS_S[0])
    assert not (out / "audio" / f"{scores['id'][0]}.flac").exists()


def test_a_job_where_every_utterance_fails_stops(cfg, manifest, tmp_path):
    with pytest.raises(runner.EvaluationError, match="codec crashed"):
        runner.evaluate(cfg, Broken(), "librispeech_test", tmp_path / "out", system="broken", kind="baseline",
                        metrics=[AbsDiff()], manifest=manifest, log_mlflow=False)
    assert not (tmp_path / "out" / "summary.json").exists()


# ----------------------------------------------------------------------------- the CLI, with the real metrics
def test_cli_scores_a_system_the_references_and_reports_a_missing_baseline(tmp_path, manifest, checkpoint):
    from dscodec.cli import main
    from dscodec.config import write_if_changed

    cfg = tiny_config(tmp_path, {"evaluation": {"max_utterances": 3, "workers": 1, "metrics": ["pesq_wb", "stoi"],
                                                "baselines": {"encodec_1.5kbps": {
                                                    "checkpoint": str(tmp_path / "absent" / "encodec_24khz.th")}}}})
    config = write_if_changed(cfg, tmp_path / "results" / "config.yaml")
    common = ["--config", str(config), "--testset", "librispeech_test", "--manifest", str(manifest), "--no-mlflow"]
    eval_root = tmp_path / "results" / "eval"

    out = eval_root / "ds_codec_vq-stage2" / "librispeech_test"
    assert main(["evaluate", *common, "--out", str(out), "--system", "ds_codec_vq", "--stage", "2",
                 "--workers", "2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    scores = pd.read_parquet(out / "scores.parquet")
    assert summary["status"] == "ok" and len(scores) == 3
    pesq, stoi = summary["metrics"]["pesq_wb"], summary["metrics"]["stoi"]
    # an untrained tiny codec: real numbers, low but inside each metric's range
    assert pesq["n"] + pesq["failures"] == 3 and stoi["n"] == 3 and stoi["failures"] == 0
    assert 1.0 <= scores["pesq_wb"].min() and scores["pesq_wb"].max() <= 4.7
    assert -1.0 <= scores["stoi"].min() and scores["stoi"].max() <= 1.0
    assert "P.862.2" in pesq["model"] and stoi["model"] and summary["scoring"] == "2 processes"

    out = eval_root / "ground-truth" / "librispeech_test"
    assert main(["evaluate", *common, "--out", str(out), "--ground-truth"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["label"] == "Ground truth" and summary["kind"] == "ground_truth"
    assert all("not applicable" in entry["unavailable"] for entry in summary["metrics"].values())

    out = eval_root / "baseline-encodec_1.5kbps" / "librispeech_test"
    assert main(["evaluate", *common, "--out", str(out), "--baseline", "encodec_1.5kbps"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "not_run" and "does not exist" in summary["reason"]
    assert list(pd.read_parquet(out / "scores.parquet").columns) == runner.BASE_COLUMNS + ["pesq_wb", "stoi"]


class TextLength(Metric):
    """Non-intrusive and text-reading, like WER: scores the manifest's transcript it is handed."""

    name, columns, intrusive, needs_text = "textlen", ("textlen",), False, True

    def score(self, ref, deg, ref_features=None):  # pragma: no cover - the runner must call score_text
        raise AssertionError("a needs_text metric is scored through score_text")

    def score_text(self, deg, text):
        if not text:
            raise ValueError("no transcript")
        return {"textlen": float(len(text))}


def test_text_metrics_get_each_rows_transcript_and_score_the_references_too(cfg, manifest, tmp_path):
    frame = read_manifest(manifest)
    frame["text"] = [f"words {'x' * i}" for i in range(len(frame))]
    frame.loc[frame.index[1], "text"] = ""  # a missing transcript: a counted failure, not a score
    texts = dict(zip(frame["id"], frame["text"]))
    with_text = write_manifest(frame, tmp_path / "with_text.tsv")
    for kind, recon, out in (("baseline", Identity(), tmp_path / "id"), ("ground_truth", Identity(), tmp_path / "gt")):
        summary = runner.evaluate(cfg, recon, "librispeech_test", out, system="x", kind=kind, metrics=[TextLength()],
                                  manifest=with_text, log_mlflow=False)
        scores = pd.read_parquet(out / "scores.parquet").set_index("id")
        for utt, value in scores["textlen"].items():
            if texts[utt]:
                assert value == len(texts[utt])
            else:
                assert math.isnan(value)
        assert summary["metrics"]["textlen"]["failures"] == int((scores["textlen"].isna()).sum())


# ----------------------------------------------------------------------------- kill and resume
class Killed(BaseException):
    """Stands for the job being killed (a SIGKILL at a time limit): nothing in the runner catches it."""


class AbsDiffThenKilled(AbsDiff):
    """`absdiff` (same name and column, so the resume key is the same) that kills the job when
    asked to score its `after`+1-th utterance."""

    def __init__(self, after: int) -> None:
        self.after, self.calls = after, 0

    def score(self, ref, deg):
        self.calls += 1
        if self.calls > self.after:
            raise Killed()
        return super().score(ref, deg)


class CountingDSCodec(DSCodecReconstructor):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reconstructed = 0

    def reconstruct_many(self, wavs):
        self.reconstructed += len(wavs)
        return super().reconstruct_many(wavs)


def _counting(cfg):
    plain = DSCodecReconstructor.from_config(cfg, "ds_codec_vq", 2)
    return CountingDSCodec(plain.checkpoint, plain.label, device="cpu", name=plain.name)


def _job(cfg, manifest, out, recon, metrics):
    return runner.evaluate(cfg, recon, "librispeech_test", out, system="ds_codec_vq", stage=2, kind="dscodec",
                           manifest=manifest, metrics=metrics, log_mlflow=False)


def _comparable(summary):
    """The summary without what measures this attempt's speed and work."""
    timing = ("utterances_per_s", "elapsed_s", "reconstruct_s", "metric_load_s", "metric_seconds",
              "reference_features", "tokens", "resumed_utterances", "reconstructor_load_s", "audio_dir")
    return {k: v for k, v in summary.items() if k not in timing}


def test_a_killed_job_resumes_from_its_scored_utterances_and_ends_as_an_uninterrupted_one(
        cfg, manifest, checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "RECONSTRUCT_CHUNK", 1)  # resume granularity: one utterance
    metrics = lambda: [AbsDiff(), FailsOnShort(), NeverLoads(), Level()]  # noqa: E731
    whole = _job(cfg, manifest, tmp_path / "whole", _counting(cfg), metrics())

    out = tmp_path / "killed"
    first = _counting(cfg)
    with pytest.raises(Killed):
        _job(cfg, manifest, out, first, [AbsDiffThenKilled(after=2), FailsOnShort(), NeverLoads(), Level()])
    assert not (out / "summary.json").exists()
    kept = sorted(p.name for p in (out / "partial").glob("chunk-*.json"))
    assert kept == ["chunk-000000.json", "chunk-000001.json"]  # two of three scored before the kill

    again = _counting(cfg)
    resumed = _job(cfg, manifest, out, again, metrics())
    assert again.reconstructed == 1                      # only the utterance the kill interrupted
    assert resumed["resumed_utterances"] == 2 and whole["resumed_utterances"] == 0
    assert _comparable(resumed) == _comparable(whole)   # scores, failures, measured bitrate, provenance
    pd.testing.assert_frame_equal(pd.read_parquet(out / "scores.parquet"),
                                  pd.read_parquet(tmp_path / "whole" / "scores.parquet"))
    assert sorted(p.name for p in (out / "audio").iterdir()) == sorted(p.name for p in (tmp_path / "whole" / "audio").iterdir())
    assert not (out / "partial").exists()                # cleaned once the outputs are written


def test_scores_of_a_killed_job_are_not_reused_when_the_scoring_changed(cfg, manifest, checkpoint, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr(runner, "RECONSTRUCT_CHUNK", 1)
    out = tmp_path / "killed"
    with pytest.raises(Killed):
        _job(cfg, manifest, out, _counting(cfg), [AbsDiffThenKilled(after=2), Level()])
    changed = {**cfg, "evaluation": {**cfg["evaluation"], "crepe_model": "tiny" if cfg["evaluation"].get(
        "crepe_model") == "full" else "full"}}
    again = _counting(changed)
    summary = _job(changed, manifest, out, again, [AbsDiff(), Level()])
    assert again.reconstructed == 3 and summary["resumed_utterances"] == 0


class AbsDiffThenHangs(AbsDiff):
    """`absdiff` that stalls on its `after`+1-th utterance, so the job can be SIGKILLed mid-way."""

    def __init__(self, after: int) -> None:
        self.after, self.calls = after, 0

    def score(self, ref, deg):
        self.calls += 1
        if self.calls > self.after:
            import time

            time.sleep(600)
        return super().score(ref, deg)


KILLED_JOB = """
import json, sys
sys.path.insert(0, {tests!r})
from test_evaluate_runner import AbsDiffThenHangs, FailsOnShort, NeverLoads, Level, _counting, runner
runner.RECONSTRUCT_CHUNK = 1
cfg = json.loads(open({cfg!r}).read())
runner.evaluate(cfg, _counting(cfg), "librispeech_test", {out!r}, system="ds_codec_vq", stage=2, kind="dscodec",
                manifest={manifest!r}, metrics=[AbsDiffThenHangs(2), FailsOnShort(), NeverLoads(), Level()],
                log_mlflow=True)
"""


def test_a_sigkilled_evaluation_process_resumes_to_the_uninterrupted_result(cfg, manifest, checkpoint, tmp_path,
                                                                            monkeypatch):
    """A real kill (SIGKILL of the process while it scores the third utterance), then a restart."""
    import os
    import signal
    import subprocess
    import sys
    import time

    monkeypatch.setattr(runner, "RECONSTRUCT_CHUNK", 1)
    metrics = [AbsDiff(), FailsOnShort(), NeverLoads(), Level()]
    whole = _job(cfg, manifest, tmp_path / "whole", _counting(cfg), metrics)
    out = tmp_path / "killed"
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(cfg, default=str))
    script = KILLED_JOB.format(tests=str(Path(__file__).parent), cfg=str(cfg_file), out=str(out), manifest=str(manifest))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not (out / "partial" / "chunk-000001.json").exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the job never finished its second utterance"
            time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (out / "summary.json").exists()

    again = _counting(cfg)
    resumed = runner.evaluate(cfg, again, "librispeech_test", out, system="ds_codec_vq", stage=2, kind="dscodec",
                              manifest=manifest, metrics=[AbsDiff(), FailsOnShort(), NeverLoads(), Level()],
                              log_mlflow=True)
    assert again.reconstructed == 1 and resumed["resumed_utterances"] == 2
    assert _comparable({k: v for k, v in resumed.items() if k != "mlflow_run_id"}) == _comparable(whole)
    # MLflow: the killed attempt's run is closed (not RUNNING for ever), naming the run that replaced it
    import mlflow

    mlflow.set_tracking_uri(cfg["mlflow"]["tracking_uri"])
    runs = mlflow.search_runs(experiment_names=[cfg["experiment"]], filter_string="tags.job = 'eval'")
    assert len(runs) == 2
    finished = runs[runs["status"] == "FINISHED"]
    killed = runs[runs["status"] == "KILLED"]
    assert list(finished["run_id"]) == [resumed["mlflow_run_id"]] and len(killed) == 1
    assert killed.iloc[0]["tags.replaced_by"] == resumed["mlflow_run_id"]
    assert finished.iloc[0]["metrics.absdiff"] == pytest.approx(whole["metrics"]["absdiff"]["mean"])
    pd.testing.assert_frame_equal(pd.read_parquet(out / "scores.parquet"),
                                  pd.read_parquet(tmp_path / "whole" / "scores.parquet"))
