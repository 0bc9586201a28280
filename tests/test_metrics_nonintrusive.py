"""Non-intrusive metrics (DNSMOS, UTMOS) and the metric registry.

UTMOS weights cannot be downloaded here, so its tests check (a) that offline it reports
*unavailable* with the reason, fast and without touching the network, and (b) the local-checkout
loading path with a stand-in SpeechMOS repo (same hubconf entry point and package name, tiny model).
"""
from __future__ import annotations

import pickle
import socket
import sys
import time
from math import gcd

import numpy as np
import pytest
import torch
from scipy.signal import resample_poly

from dscodec.config import load_config
from dscodec.errors import ConfigError
from dscodec.evaluate.metrics import METRICS, build_metric, build_metrics
from dscodec.evaluate.metrics._common import MetricInputError
from dscodec.evaluate.metrics.base import Metric, MetricUnavailable
from dscodec.evaluate.metrics.dnsmos import Dnsmos
from dscodec.evaluate.metrics.utmos import WEIGHTS_NAME, Utmos

SR = 16000
torch.set_num_threads(1)


def tts(text: str, voice: str = "en-us+m3") -> np.ndarray:
    from dscodec.data.tts import EspeakLibEngine, Voice

    wav, rate = EspeakLibEngine().synth(text, Voice("espeakng-loader", voice, "m"), 1.0, 50)
    g = gcd(rate, SR)
    return resample_poly(wav, SR // g, rate // g).astype(np.float32)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return tts("The quick brown fox jumps over the lazy dog near the quiet river bank.")


@pytest.fixture(scope="module")
def dnsmos() -> Dnsmos:
    metric = Dnsmos({})
    metric.load()
    return metric


def _block_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


# ------------------------------------------------------------------------------------ DNSMOS
@pytest.fixture(scope="module")
def clean_scores(dnsmos, speech) -> dict[str, float]:
    return dnsmos.score(speech, speech)


def test_dnsmos_scores_speech_within_the_mos_scale(dnsmos, clean_scores):
    assert set(clean_scores) == set(dnsmos.columns) == {"dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak"}
    assert all(1.0 <= v <= 5.0 for v in clean_scores.values())
    assert dnsmos.intrusive is False and "P.835" in dnsmos.model


def test_dnsmos_background_score_drops_with_noise(dnsmos, speech, clean_scores):
    rng = np.random.default_rng(0)
    noisy = speech + 0.05 * rng.standard_normal(speech.size).astype(np.float32)
    degraded = dnsmos.score(speech, noisy)
    assert degraded["dnsmos_bak"] < clean_scores["dnsmos_bak"] - 0.5
    assert degraded["dnsmos_ovrl"] < clean_scores["dnsmos_ovrl"]


def test_dnsmos_ignores_the_reference_and_tolerates_overshoot(dnsmos, speech, clean_scores):
    assert dnsmos.score(np.zeros(1, np.float32), speech) == clean_scores
    loud = 1.6 * speech / np.abs(speech).max()           # peaks at 1.6: clipped as a 16-bit file would be
    assert all(1.0 <= v <= 5.0 for v in dnsmos.score(speech, loud).values())


def test_dnsmos_p835_only_equals_speechmos_full_call(dnsmos, speech):
    """Issue 11: skipping the unreported P.808 model changes no P.835 number (short clips are
    repeated, long ones hopped: both paths checked against speechmos' own __call__)."""
    import os

    import speechmos.dnsmos as dm

    base = os.path.dirname(dm.__file__)
    full = dm.DNSMOS(os.path.join(base, "dnsmos_models", "sig_bak_ovr.onnx"),
                     os.path.join(base, "dnsmos_models", "model_v8.onnx"))
    for clip in (speech, np.concatenate([speech, speech, speech])):
        expected = full(np.clip(clip, -1, 1).astype(np.float32), SR, False)
        got = dnsmos.score(clip, clip)
        assert got == {"dnsmos_ovrl": float(expected["ovrl_mos"]), "dnsmos_sig": float(expected["sig_mos"]),
                       "dnsmos_bak": float(expected["bak_mos"])}


def test_dnsmos_first_window_only_scores_the_first_window(dnsmos, speech):
    """`dnsmos_max_windows: 1` [ours]: the mean over windows is replaced by the first window's
    score; equal to the reference script on a clip that has exactly one window, and named in the
    column's model description."""
    import speechmos.dnsmos as dm

    one = Dnsmos({"dnsmos_max_windows": 1})
    one.load()
    assert "first 1" in one.model and "first" not in dnsmos.model
    long_clip = np.concatenate([speech] * 6)                       # several 9.01 s windows
    assert dnsmos._dnsmos.p835(np.clip(long_clip, -1, 1), SR) != one._dnsmos.p835(np.clip(long_clip, -1, 1), SR)
    first = np.clip(long_clip, -1, 1)[: int(dm.INPUT_LENGTH * SR)]  # exactly one window
    assert one.score(first, first) == dnsmos.score(first, first)
    assert one.score(long_clip, long_clip) == dnsmos.score(first, first)
    with pytest.raises(ConfigError, match="dnsmos_max_windows"):
        Dnsmos({"dnsmos_max_windows": 0})


def test_dnsmos_refuses_silence_and_empty(dnsmos):
    with pytest.raises(MetricInputError, match="silence"):
        dnsmos.score(np.zeros(SR, np.float32), np.zeros(SR, np.float32))
    with pytest.raises(MetricInputError, match="samples"):
        dnsmos.score(np.zeros(0, np.float32), np.zeros(0, np.float32))


# ------------------------------------------------------------------------------------ UTMOS
@pytest.fixture()
def empty_hub(tmp_path, monkeypatch):
    """An empty torch hub directory, so no cached repo or weights exist."""
    hub = tmp_path / "hub"
    hub.mkdir()
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub


def test_utmos_offline_without_checkpoint_is_unavailable_with_reason(empty_hub, monkeypatch):
    import dscodec.evaluate.metrics.utmos as utmos

    monkeypatch.setattr(utmos, "unreachable", lambda host, **kw: f"{host}:443 unreachable (test: offline)")

    def no_download(*args, **kwargs):
        raise AssertionError("torch.hub.load must not be attempted offline")

    monkeypatch.setattr(torch.hub, "load", no_download)
    _block_network(monkeypatch)
    metric = Utmos({"utmos_checkpoint": None})
    start = time.monotonic()
    with pytest.raises(MetricUnavailable) as info:
        metric.load()
    assert time.monotonic() - start < 5.0
    message = str(info.value)
    assert message.startswith("utmos22_strong not available: ")
    assert "github.com:443 unreachable (test: offline)" in message and str(empty_hub) in message


def test_utmos_configured_path_that_is_missing_or_incomplete(tmp_path, empty_hub):
    with pytest.raises(MetricUnavailable, match="does not exist"):
        Utmos({"utmos_checkpoint": str(tmp_path / "nowhere")}).load()
    weights_only = tmp_path / WEIGHTS_NAME
    weights_only.write_bytes(b"not used")
    with pytest.raises(MetricUnavailable, match="model code"):
        Utmos({"utmos_checkpoint": str(weights_only)}).load()
    checkout = tmp_path / "SpeechMOS"
    checkout.mkdir()
    with pytest.raises(MetricUnavailable, match="hubconf.py"):
        Utmos({"utmos_checkpoint": str(checkout)}).load()


# A stand-in for a tarepan/SpeechMOS checkout: same entry point, same top-level package name
# (`speechmos`, which clashes with the pip package that ships DNSMOS), a tiny deterministic model.
STANDIN_HUBCONF = """\
dependencies = ["torch"]
from speechmos.utmos22.strong.model import UTMOS22Strong

def utmos22_strong(progress: bool = True, pretrained: bool = True):
    assert not pretrained, "the metric loads the weights itself"
    return UTMOS22Strong().eval()
"""
STANDIN_MODEL = """\
import torch
from torch import nn

class UTMOS22Strong(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, wave, sr):
        rms = wave.pow(2).mean(dim=1).sqrt()
        return self.bias + self.scale * rms
"""


@pytest.fixture()
def standin_checkout(tmp_path):
    root = tmp_path / "SpeechMOS"
    package = root / "speechmos" / "utmos22" / "strong"
    package.mkdir(parents=True)
    (root / "hubconf.py").write_text(STANDIN_HUBCONF)
    for folder in (root / "speechmos", root / "speechmos" / "utmos22", package):
        (folder / "__init__.py").write_text("")
    (package / "model.py").write_text(STANDIN_MODEL)
    torch.save({"scale": torch.tensor([10.0]), "bias": torch.tensor([2.0])}, root / WEIGHTS_NAME)
    return root


def test_utmos_loads_a_local_checkout_without_clobbering_dnsmos(standin_checkout, empty_hub, monkeypatch, speech):
    import speechmos.dnsmos  # noqa: F401 - the pip package is imported first, as in a worker

    _block_network(monkeypatch)
    metric = Utmos({"utmos_checkpoint": str(standin_checkout)})
    metric.load()
    expected = 2.0 + 10.0 * float(np.sqrt(np.mean(speech.astype(np.float64) ** 2)))
    assert metric.score(np.zeros(1), speech)["utmos"] == pytest.approx(expected, rel=1e-5)
    assert WEIGHTS_NAME in metric.model and "sha256:" in metric.model
    assert sys.modules["speechmos"].__file__ is not None and "dnsmos" in dir(sys.modules["speechmos"])
    assert pickle.loads(pickle.dumps(metric))._model is None     # workers load their own copy
    with pytest.raises(MetricInputError, match="silence"):
        metric.score(speech, np.zeros_like(speech))


def test_utmos_rejects_weights_that_do_not_fit(standin_checkout, empty_hub):
    torch.save({"something_else": torch.zeros(3)}, standin_checkout / WEIGHTS_NAME)
    with pytest.raises(MetricUnavailable, match="cannot load utmos22_strong"):
        Utmos({"utmos_checkpoint": str(standin_checkout)}).load()


def test_utmos_weights_file_uses_the_hub_cached_code(standin_checkout, empty_hub, speech):
    import shutil

    shutil.copytree(standin_checkout, empty_hub / "tarepan_SpeechMOS_v1.2.0")
    weights = standin_checkout.parent / "my-utmos.pt"
    torch.save({"scale": torch.tensor([0.0]), "bias": torch.tensor([3.5])}, weights)
    metric = Utmos({"utmos_checkpoint": str(weights)})
    metric.load()
    assert metric.score(speech, speech)["utmos"] == pytest.approx(3.5)


# ------------------------------------------------------------------------------------ registry
def test_every_registered_metric_builds_from_the_default_config():
    eval_cfg = load_config()["evaluation"]
    metrics = build_metrics(list(METRICS), eval_cfg)
    for name, metric in zip(METRICS, metrics):
        assert isinstance(metric, Metric) and metric.name == name
        assert metric.columns and all(isinstance(c, str) for c in metric.columns)
        pickle.loads(pickle.dumps(metric))      # shipped unloaded to spawned workers
    columns = [c for m in metrics for c in m.columns]
    assert len(columns) == len(set(columns))
    assert {m.name for m in metrics if not m.intrusive} == {"utmos", "dnsmos", "wer"}


def test_unknown_metric_name_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown metric 'mcd'"):
        build_metric("mcd", {})


# the metrics whose load() loads a model (CREPE, a speaker encoder, UTMOS, DNSMOS, the ASR)
MODEL_METRICS = {"vuv_f1", "speaker_sim", "utmos", "dnsmos", "wer"}


def test_building_a_metric_loads_no_model():
    """Building (not loading) a metric is cheap: models load in load(), inside each worker.

    The attributes checked are the ones each metric declares as holding its loaded model (its
    `_transient`, which pickling drops), not a list of names kept here: a renamed attribute or a
    metric that declares none fails this test instead of leaving it with nothing to check."""
    declared: dict[str, tuple[str, ...]] = {}
    for name in METRICS:
        metric = build_metric(name, {})
        declared[name] = tuple(getattr(metric, "_transient", ()))
        for attr in declared[name]:
            assert attr in vars(metric), f"{name} declares {attr!r} as its model but has no such attribute"
            assert vars(metric)[attr] is None, f"{name}: {attr} was loaded at build time"
    assert {name for name, attrs in declared.items() if attrs} == MODEL_METRICS
