"""The arithmetic the benchmarks report from: the roofline probe's FLOP and LSTM accounting
(benchmarks/probe_roofline.py), the learning-curve extrapolation (benchmarks/bench_learning.py), the
seed-to-seed contrasts (benchmarks/seed_spread.py), the harmonic-source diagnostic's excitation
(benchmarks/diag_harmonic_source.py), the harmonic contrast (benchmarks/harmonics.py) and the PESQ
ceiling diagnostic's signals (benchmarks/diag_pesq_ceiling.py).

Why: these numbers go into benchmarks/RESULTS.md as evidence for issues 10 and 14 (how far the
codec is from the hardware's floor; how many CPU-minutes a target needs); a wrong count there
would mislead without any test failing elsewhere.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_learning  # noqa: E402
import diag_harmonic_source  # noqa: E402
import diag_pesq_ceiling  # noqa: E402
import harmonics  # noqa: E402
import probe_roofline  # noqa: E402
import seed_spread  # noqa: E402
import spectra  # noqa: E402
from dscodec.losses import MelReconstructionLoss  # noqa: E402


def test_conv_flops_are_two_per_multiply_add() -> None:
    conv = nn.Conv1d(4, 6, kernel_size=3, padding=1)
    x = torch.randn(1, 4, 50)
    flops, by_op = probe_roofline.counted_flops(conv, x)
    assert flops == 2 * 4 * 6 * 3 * 50
    assert set(by_op) == {"convolution"}


def test_lstm_is_counted_by_hand_not_by_the_flop_counter() -> None:
    """The probe adds the LSTM's input projections itself; it must not be counted twice."""
    lstm = nn.LSTM(3, 5, num_layers=2, batch_first=True)
    flops, _ = probe_roofline.counted_flops(lambda x: lstm(x)[0], torch.randn(1, 7, 3))
    assert flops == 0
    layers = probe_roofline.lstm_layers(lstm)
    assert layers == [(3, 5), (5, 5)]
    assert probe_roofline.input_projection_flops(layers, frames=7) == 8 * 5 * (3 + 5) * 7


def test_activation_elements_counts_every_snake_input() -> None:
    from dscodec.nn.activations import SnakeBeta

    model = nn.Sequential(SnakeBeta(2), nn.Conv1d(2, 3, 1), SnakeBeta(3))
    assert probe_roofline.activation_elements(model, model, torch.randn(1, 2, 10)) == 2 * 10 + 3 * 10


def test_crossing_minutes_inverts_a_logarithmic_curve() -> None:
    rows = [{"cpu_min": m, "pesq_wb": 1.0 + 0.1 * math.log(m)} for m in (5, 10, 20, 40)]
    a, b, minutes = bench_learning.crossing_minutes(rows, "pesq_wb", 1.5, from_min=10)
    assert a == pytest.approx(1.0) and b == pytest.approx(0.1)
    assert minutes == pytest.approx(math.exp(5.0), rel=1e-6)


def test_crossing_minutes_extends_a_straight_line() -> None:
    rows = [{"cpu_min": m, "stoi": 0.5 + 0.01 * m} for m in (5, 10, 20, 30)]
    a, b, minutes = bench_learning.crossing_minutes(rows, "stoi", 0.85, from_min=10, form="linear")
    assert (a, b) == (pytest.approx(0.5), pytest.approx(0.01))
    assert minutes == pytest.approx(35.0)


@pytest.mark.parametrize("form", ["log", "linear"])
def test_crossing_minutes_is_infinite_for_a_flat_or_falling_curve(form: str) -> None:
    rows = [{"cpu_min": m, "stoi": 0.7 - 0.01 * m} for m in (10, 20, 30)]
    assert bench_learning.crossing_minutes(rows, "stoi", 0.85, from_min=10, form=form)[2] == math.inf


def test_harmonic_source_excites_the_f0_and_fits_every_decoder_rate() -> None:
    """Voiced: the excitation's strongest bin is a harmonic of the F0 that drives it, at the F0
    given; unvoiced: weak noise. Each per-rate conv yields exactly that decoder block's length."""
    from dscodec.models.sizes import PRESETS

    torch.manual_seed(0)
    size = PRESETS["small"]
    source = diag_harmonic_source.HarmonicSource(size.decoder_channels_list, size.strides)
    sr = diag_harmonic_source.SR
    f0 = torch.full((1, sr), 125.0)
    f0[:, sr // 2:] = 0.0                                          # second half unvoiced
    x = source.excitation(f0)[0, 0].detach()
    spectrum = torch.fft.rfft(x[: sr // 2] * torch.hann_window(sr // 2)).abs()   # 2 Hz bins
    peak_hz = float(spectrum.argmax()) * 2.0
    assert peak_hz % 125.0 == pytest.approx(0.0, abs=2.0) or peak_hz % 125.0 == pytest.approx(125.0, abs=2.0)
    assert x[sr // 2:].abs().mean() < x[: sr // 2].abs().mean()
    lengths = [conv(x[None, None]).shape[-1] for conv in source.convs]
    assert lengths == [sr // math.prod(size.strides[:len(size.strides) - 1 - i]) for i in range(len(size.strides))]


def test_ddsp_head_puts_its_harmonics_at_the_given_f0_and_is_silent_when_unvoiced() -> None:
    """With all weight on harmonic 1 and the noise turned down, the head emits a sine at the F0 it is
    given (frames of 200 samples, 125 Hz); on unvoiced frames only the (weak) noise remains."""
    torch.manual_seed(0)
    head = diag_harmonic_source.HarmonicPlusNoise(in_ch=4, hop=diag_harmonic_source.HOP, harmonics=8, bands=4)
    with torch.no_grad():
        head.proj.weight.zero_()
        head.proj.bias.copy_(torch.tensor([5.0, 20.0] + [0.0] * 7 + [-30.0] * 4))   # level, harmonics, noise bands
    frames = 80
    f0 = torch.full((1, frames), 125.0)
    f0[:, frames // 2:] = 0.0
    y = head(torch.zeros(1, 4, frames), f0, frames * diag_harmonic_source.HOP)[0, 0].detach()
    half = y.numel() // 2
    spectrum = torch.fft.rfft(y[:half] * torch.hann_window(half)).abs()        # 2 Hz bins
    assert float(spectrum.argmax()) * 2.0 == pytest.approx(125.0, abs=2.0)
    assert y[half + 400:].abs().max() < 1e-3 * y[:half].abs().max()


def test_harmonic_contrast_separates_harmonics_at_the_reference_pitch_from_noise() -> None:
    sr, f0_hz = diag_harmonic_source.SR, 110.0
    t = torch.arange(sr, dtype=torch.float64) / sr
    harmonic = sum(torch.sin(2 * math.pi * k * f0_hz * t) / k for k in range(1, 15)).numpy()
    noise = torch.randn(sr, generator=torch.Generator().manual_seed(0), dtype=torch.float64).numpy()
    f0 = torch.full((sr,), f0_hz).numpy()
    assert harmonics.harmonic_contrast_db(harmonic, f0) > 20.0
    assert abs(harmonics.harmonic_contrast_db(noise, f0)) < 1.5
    detuned = torch.full((sr,), f0_hz * 1.25).numpy()           # the right kind of signal at another pitch
    assert harmonics.harmonic_contrast_db(harmonic, detuned) < 5.0
    assert math.isnan(harmonics.harmonic_contrast_db(harmonic, 0 * f0))   # nothing voiced


def test_learning_table_shows_the_contrast_and_marks_points_without_it() -> None:
    base = {"recipe": "r", "step": 10, "cpu_min": 1.0, "wall_min": 1.2, "mel": 0.5, "pesq_wb": 1.1, "stoi": 0.7}
    lines = bench_learning.table([base, {**base, "step": 20, "harmonic_contrast_db": 4.781},
                                  {**base, "step": 30, "harmonic_contrast_db": 4.0, "pesq_wb_magnitude": 1.2345}]
                                 ).splitlines()
    assert lines[0].endswith("| harmonic contrast (dB) | PESQ-WB, magnitude + reference phase |")
    assert lines[2].endswith("| 0.700 | - | - |") and lines[3].endswith("| 0.700 | 4.78 | - |")
    assert lines[4].endswith("| 4.00 | 1.234 |") or lines[4].endswith("| 4.00 | 1.235 |")


def test_rephased_score_separates_the_magnitude_from_the_phase() -> None:
    """The reference re-phased with itself is the reference; noise with the reference's spectrum and
    random phase scores low as it is and near the reference once re-phased (its magnitude is right)."""
    x, f0 = _voiced_tone()
    x = x * np.hanning(len(x)) ** 0.1 + 0.002 * np.random.default_rng(1).standard_normal(len(x))
    assert np.max(np.abs(spectra.with_reference_phase(x, x) - x)) < 1e-9
    mel = MelReconstructionLoss(16000)
    scrambled = diag_pesq_ceiling.with_phase(spectra.stft(x).abs(), "random-phase", x, f0, np.random.default_rng(0))
    s = bench_learning.score_utterance(mel, torch.from_numpy(x), torch.from_numpy(scrambled), f0)
    assert s["pesq_wb_magnitude"] is not None and s["pesq_wb"] is not None
    assert s["pesq_wb_magnitude"] > s["pesq_wb"] + 0.5


def test_frame_targets_sample_each_token_frame_at_its_centre() -> None:
    hop = diag_harmonic_source.HOP
    f0 = torch.arange(4 * hop, dtype=torch.float32)[None]
    f0[:, :hop] = 0.0                                              # first frame unvoiced
    frames, voiced = diag_harmonic_source.frame_targets(f0)
    assert frames.tolist() == [[0.0] + [hop // 2 + k * hop for k in range(1, 4)]]
    assert voiced.tolist() == [[0.0, 1.0, 1.0, 1.0]]


@pytest.mark.parametrize("op", ["encode_file", "decode_file"])
def test_bench_codec_file_ops_run_the_cli_paths(op, tmp_path, monkeypatch) -> None:
    """The long-file rows time what `dscodec encode` / `decode` run, on an input of the asked length."""
    import soundfile as sf

    import bench_codec
    from dscodec import bitstream
    from dscodec.codec_api import DSCodec
    from dscodec.models import CodecModel, get_size

    monkeypatch.setattr("tempfile.mkdtemp", lambda prefix="": str(tmp_path))
    torch.manual_seed(0)
    codec = DSCodec(CodecModel(get_size("tiny"), "vq", "transformer"), chunk_seconds=0.5)
    fn, (source, target) = bench_codec._file_op(codec, op, 1.3)
    assert fn((source, target)) == pytest.approx(1.3)
    if op == "encode_file":
        assert sf.info(source).frames == 20800 and bitstream.read(target).num_samples == 20800
    else:
        assert bitstream.read(source).num_samples == 20800 and sf.info(target).frames == 20800


def test_bench_eval_prunes_todays_config_to_a_former_schema() -> None:
    """The `before` variant runs former code on today's run: keys its schema lacks are dropped,
    known keys kept (also under additionalProperties schemas), nothing else touched."""
    import bench_eval

    schema = {"type": "object", "additionalProperties": False, "properties": {
        "evaluation": {"type": "object", "additionalProperties": False,
                       "properties": {"max_utterances": {}, "baselines": {
                           "type": "object", "additionalProperties": {
                               "type": "object", "additionalProperties": False,
                               "properties": {"kind": {}}}}}},
        "free": {"type": "object"}}}
    cfg = {"evaluation": {"max_utterances": 24, "crepe_hop_ms": 10,
                          "baselines": {"opus": {"kind": "opus", "vbr": True}}},
           "free": {"anything": 1}, "new_section": {"x": 1}}
    assert bench_eval.prune_to_schema(cfg, schema) == {
        "evaluation": {"max_utterances": 24, "baselines": {"opus": {"kind": "opus"}}},
        "free": {"anything": 1}}


def test_bench_eval_reads_a_former_runs_config_with_todays_defaults() -> None:
    """Today's code on a former run: a config that fails today's validation is rebuilt from today's
    defaults plus the run's data, systems and evaluation sections; a valid one is kept as it is."""
    import bench_eval
    from dscodec.config import default_config, validate

    today = default_config()
    assert bench_eval.today_config(today) == today
    former = default_config()
    del former["train"]["loss_reduction"]                    # a key today's schema requires
    former["evaluation"]["max_utterances"] = 6
    rebuilt = bench_eval.today_config(former)
    validate(rebuilt)
    assert rebuilt["evaluation"]["max_utterances"] == 6
    assert rebuilt["train"]["loss_reduction"] == today["train"]["loss_reduction"]


def test_seed_contrast_needs_one_sign_in_every_run(tmp_path: Path) -> None:
    """An ablation difference 'holds' only when every seed has it with the same sign."""
    import json

    def run(name: str, vq: float, pq: float | None) -> tuple[str, Path]:
        for entity, value in (("ds_codec_vq-stage2", vq), ("ds_codec_pq-stage2", pq)):
            if value is None:
                continue
            folder = tmp_path / name / "eval" / entity / "librispeech_test"
            folder.mkdir(parents=True)
            (folder / "summary.json").write_text(json.dumps({"metrics": {"stoi": {"mean": value, "ci95": 0.01}}}))
        return name, tmp_path / name

    args = ("ds_codec_vq-stage2", "ds_codec_pq-stage2", "librispeech_test", "stoi")
    same_sign = [run("a", 0.70, 0.60), run("b", 0.65, 0.64)]
    diffs, same = seed_spread.contrast(same_sign, *args)
    assert diffs == pytest.approx([0.10, 0.01]) and same
    assert not seed_spread.contrast(same_sign + [run("c", 0.60, 0.62)], *args)[1]   # one seed flips it
    assert not seed_spread.contrast(same_sign + [run("d", 0.70, None)], *args)[1]   # one seed lacks a row


def test_bench_eval_sums_one_test_sets_jobs_as_a_run_pays_them() -> None:
    """--per-testset: the former code pays every job as measured; today's first stage-1 job is cold,
    the other stage-1 jobs warm, stage-2 jobs on shared tokens, classical baselines warm."""
    import bench_eval

    cfg = {"systems": {"vq": {}, "pq": {}, "pq_2t": {"stage1_from": "pq"}, "ap": {}},
           "evaluation": {"baselines": {"opus": {"kind": "opus"}, "c2": {"kind": "codec2"},
                                        "enc": {"kind": "encodec"}, "dac": {"kind": "dac"}}}}
    jobs = bench_eval.testset_jobs(cfg)
    assert jobs == {"stage1": 3, "stage2": 4, "classical": ["c2", "opus"], "neural": 2, "ground_truth": 1}
    walls = {("vq-stage1", "before"): 40, ("vq-stage2", "before"): 41, ("baseline-opus", "before"): 30,
             ("baseline-c2", "before"): 31, ("ground-truth", "before"): 9, ("baseline-enc", "before"): 2,
             ("vq-stage1", "cold"): 70, ("vq-stage1", "warm"): 50, ("vq-stage1", "shared"): 45,
             ("vq-stage2", "cold"): 60, ("vq-stage2", "warm"): 48, ("vq-stage2", "shared"): 43,
             ("baseline-opus", "cold"): 50, ("baseline-opus", "warm"): 36, ("baseline-c2", "cold"): 49,
             ("baseline-c2", "warm"): 35, ("ground-truth", "cold"): 8, ("baseline-enc", "cold"): 3}
    rows = [{"job": job, "variant": variant, "wall_s": wall} for (job, variant), wall in walls.items()]
    totals = bench_eval.per_testset(rows, jobs)
    assert totals["before"] == {"ds_codec": 3 * 40 + 4 * 41, "classical": 61, "ground_truth": 9, "not_run": 4,
                                "total": 284 + 61 + 9 + 4}
    assert totals["today"] == {"ds_codec": 70 + 2 * 50 + 4 * 43, "classical": 71, "ground_truth": 8, "not_run": 6,
                               "total": 342 + 71 + 8 + 6}
    assert f"{427 / 358:.2f}x" in bench_eval.per_testset_table(totals, jobs)
    # without a `shared` measurement the stage-2 jobs count as `warm`; a missing kind of job is an error
    no_shared = [r for r in rows if r["variant"] != "shared"]
    assert bench_eval.per_testset(no_shared, jobs)["today"]["ds_codec"] == 70 + 2 * 50 + 4 * 48
    with pytest.raises(SystemExit, match="ground-truth"):
        bench_eval.per_testset([r for r in rows if r["job"] != "ground-truth"], jobs)


def test_bench_eval_runs_the_former_code_once_and_shares_tokens_only_for_ds_codec_jobs() -> None:
    import bench_eval

    jobs = ["system:vq:2", "baseline:opus"]
    # today's default style: the former code at the first count, today's variants at every count
    assert bench_eval.planned_runs(jobs, ["before", "cold", "shared"], [6, 24], None, True) == [
        (6, "system:vq:2", "before"), (6, "system:vq:2", "cold"), (6, "system:vq:2", "shared"),
        (6, "baseline:opus", "before"), (6, "baseline:opus", "cold"),
        (24, "system:vq:2", "cold"), (24, "system:vq:2", "shared"), (24, "baseline:opus", "cold")]
    # --before-utterances: the former code at its own count only, today's variants not there
    assert bench_eval.planned_runs(jobs, ["before", "warm"], [24], 6, True) == [
        (6, "system:vq:2", "before"), (6, "baseline:opus", "before"),
        (24, "system:vq:2", "warm"), (24, "baseline:opus", "warm")]
    # no former checkout: no `before` run
    assert bench_eval.planned_runs(jobs, ["before", "cold"], [24], 6, False) == [
        (24, "system:vq:2", "cold"), (24, "baseline:opus", "cold")]


def _voiced_tone(f0: float = 120.0, seconds: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A 16 kHz harmonic tone (decaying harmonics) and its per-sample F0."""
    n = np.arange(int(16000 * seconds))
    x = sum(np.sin(2 * np.pi * k * f0 * n / 16000) / k for k in range(1, 20))
    return 0.1 * x, np.full(len(n), f0)


def test_ceiling_harmonic_excitation_has_unit_power_and_the_tracked_pitch() -> None:
    _, f0 = _voiced_tone(150.0)
    f0[:4000] = 0.0                                             # a quarter unvoiced: noise there
    e = diag_pesq_ceiling.harmonic_excitation(f0, np.random.default_rng(0))
    assert abs(np.mean(e[6000:] ** 2) - 1.0) < 0.05 and abs(np.mean(e[:4000] ** 2) - 1.0) < 0.1
    assert harmonics.harmonic_contrast_db(e, f0) > 20.0           # harmonics at 150 Hz, not elsewhere
    assert abs(harmonics.harmonic_contrast_db(e, np.full(len(f0), 220.0))) < 5.0


def test_ceiling_phases_keep_the_reference_only_with_its_own_phase() -> None:
    x, f0 = _voiced_tone()
    mag = spectra.stft(x).abs()
    rng = np.random.default_rng(0)
    same = diag_pesq_ceiling.with_phase(mag, "reference-phase", x, f0, rng)
    assert np.max(np.abs(same - x)) < 1e-9
    noisy = diag_pesq_ceiling.with_phase(mag, "random-phase", x, f0, rng)
    assert np.corrcoef(noisy, x)[0, 1] < 0.2
    assert harmonics.harmonic_contrast_db(noisy, f0) < harmonics.harmonic_contrast_db(x, f0) - 3.0


def test_ceiling_spectral_error_has_the_asked_rms_and_band_bias_reads_a_known_gain() -> None:
    x, _ = _voiced_tone()
    mag = spectra.stft(x).abs()
    off = diag_pesq_ceiling.perturb_magnitude(mag, 4.0, np.random.default_rng(0))
    rms = (20 * torch.log10(off / mag)).pow(2).mean().sqrt().item()
    assert abs(rms - 4.0) < 0.1
    gain = diag_pesq_ceiling.equaliser(np.array([0.0, 0.0, 0.0, -6.0, -6.0, 0.0]))
    y = spectra.istft(spectra.stft(x) * torch.from_numpy(gain)[:, None], len(x))
    bias = diag_pesq_ceiling.band_bias_db(x, y)
    assert abs(bias[0]) < 0.5 and -7.0 < bias[3] < -4.0
