"""What an evaluation job costs, so a cluster job asks for a runtime it can finish in.

Seconds per utterance on one CPU core, measured on the sample corpus' test-clean (7.8 s per
utterance on average, longer than LibriSpeech test-clean's ~7.4 s and LJSpeech's ~6.6 s, so the
figures bound both test sets from above). Sources, all in benchmarks/RESULTS.md:

- metrics: "Evaluation cost" (benchmarks/bench_eval.py), warm reference cache (the reference's
  own pitch track and speaker embedding come from R/eval/_reference);
- V/UV F1 with `crepe_model: full`: the Vocos protocol's CREPE, ~6 s of CPU per second of audio
  and signal (dscodec/evaluate/metrics/pitch.py), i.e. ~47 s for the degraded track;
- DS-Codec reconstruction on a CPU: "Evaluation cost" for the default (`small`) size; `paper`
  size from the codec benchmark's RTF (encode 0.72 + decode 0.86 on one thread);
- not measured (labelled in RUNTIME_SOURCES): UTMOS and reconstruction on a GPU. The runtime is
  a limit, not a result: a job that outlives it is resubmitted and resumes from the utterances it
  already scored (runner.py), so an estimate that is short costs a resubmission, not the work.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

METRIC_SECONDS: dict[str, float] = {
    "pesq_wb": 0.3, "pesq_nb": 0.3, "stoi": 0.1, "speaker_sim": 0.2, "dnsmos": 2.7,
    "wer": 8.9,            # PocketSphinx, "Evaluation cost" (WER/CER paragraph)
    "utmos": 3.0,          # not measured: an assumption for a wav2vec2-base sized model on one core
}
# at the protocol's 10 ms hop, scaling with 10 / crepe_hop_ms: the reconstruction's track through
# crepe_cpu.CrepeCPU + banded_viterbi. tiny: 0.51 s measured on a fast day (RESULTS "Evaluation cost",
# 2026-12-03), x2 for the slow days' machine (1.8 s then for what took 0.95 s on the fast day);
# full: its forward pass measured at 17 s for an 8.4 s utterance on the fast day, x2
VUV_F1_SECONDS = {"tiny": 1.0, "full": 34.0}
DNSMOS_WINDOW_SECONDS = 0.8  # one 9.01 s window (dnsmos_max_windows: 1), measured on 10 s clips (RESULTS.md)
RECONSTRUCT_CPU_SECONDS = {"tiny": 1.4, "small": 1.4, "paper": 12.6}
RECONSTRUCT_CUDA_SECONDS = 1.0   # not measured (no GPU here): an upper bound for a forward pass + copies
BASELINE_RECONSTRUCT_SECONDS = 1.0  # classical codecs measured ~0.2 s; neural baselines on a CPU: assumed
JOB_FIXED_SECONDS = 120          # process start, imports, model loads (~8 s measured), slack for a slow node
SAFETY = 1.5                     # shared nodes, longer utterances than the mean
RUNTIME_SOURCES = "dscodec/evaluate/cost.py (measured: benchmarks/RESULTS.md; UTMOS and CUDA assumed)"
INTRUSIVE = ("pesq_wb", "pesq_nb", "stoi", "vuv_f1", "speaker_sim")
# Test-set sizes when the config does not cap them: LibriSpeech test-clean [paper], LJSpeech subset
TESTSET_SIZES = {"librispeech_test": 2620}


def evaluates_on_cuda(cfg: Mapping[str, Any], kind: str) -> bool:
    """Only a DS-Codec job reconstructs on `device`; metrics and baselines always run on the CPU.
    `auto` counts as CPU: on a CPU node it resolves to the CPU, so no GPU is worth reserving."""
    return kind == "dscodec" and cfg.get("device") == "cuda"


def reconstruct_seconds(cfg: Mapping[str, Any], kind: str) -> float:
    """Seconds to reconstruct one utterance in the job's main process (none for the references)."""
    if kind == "dscodec":
        if evaluates_on_cuda(cfg, kind):
            return RECONSTRUCT_CUDA_SECONDS
        return RECONSTRUCT_CPU_SECONDS.get(cfg["model"]["size"], max(RECONSTRUCT_CPU_SECONDS.values()))
    return BASELINE_RECONSTRUCT_SECONDS if kind == "baseline" else 0.0


def scoring_seconds(cfg: Mapping[str, Any], kind: str) -> float:
    """One core's seconds to score one utterance with every configured metric."""
    evaluation = cfg["evaluation"]
    total = 0.0
    for name in evaluation["metrics"]:
        if kind == "ground_truth" and name in INTRUSIVE:
            continue  # not computed for the references (runner.py)
        if name == "vuv_f1":
            hop_ms = evaluation.get("crepe_hop_ms") or 10
            total += VUV_F1_SECONDS[evaluation.get("crepe_model") or "full"] * 10 / hop_ms
        elif name == "dnsmos" and evaluation.get("dnsmos_max_windows"):
            total += min(METRIC_SECONDS[name], DNSMOS_WINDOW_SECONDS * evaluation["dnsmos_max_windows"])
        else:
            total += METRIC_SECONDS[name]
    return total


def expected_utterances(cfg: Mapping[str, Any], testset: str, manifest_rows: int | None = None) -> int:
    """The utterances a job scores: the cap, else the manifest's rows (when it exists), else the
    nominal size of the test set."""
    cap = cfg["evaluation"].get("max_utterances")
    full = manifest_rows
    if full is None:
        full = (TESTSET_SIZES.get(testset, 0) if testset != "ljspeech_eval"
                else int(cfg["data"]["ljspeech"]["eval_utterances"]))
    return min(int(cap), int(full)) if cap and full else int(cap or full)


def runtime_minutes(cfg: Mapping[str, Any], kind: str, n_utterances: int, workers: int) -> int:
    """Wall-clock limit for one job. Reconstruction runs in the main process while `workers`
    processes score, so the slower of the two pipelines paces the job."""
    per_utt = max(reconstruct_seconds(cfg, kind), scoring_seconds(cfg, kind) / max(1, int(workers)))
    return int(math.ceil((JOB_FIXED_SECONDS + SAFETY * n_utterances * per_utt) / 60))
