"""UTMOS (utmos22_strong): predicted naturalness MOS, non-intrusive (paper Sec. 3.2, Tables 1-3).

Codec papers (Vocos, WavTokenizer, BigCodec, DS-Codec) report the UTMOS22 "strong learner"
(Saeki et al., 2022) at 16 kHz. We use the standalone port in tarepan/SpeechMOS (tag v1.2.0),
which re-implements the sarulab-speech/UTMOS22 inference model without fairseq and loads the
official weights converted to a plain state dict (``utmos22_strong_step7459_v1.pt``, released
with SpeechMOS v1.0.0). Its ``hubconf.py`` builds ``UTMOS22Strong()`` and loads that file.

Where the model comes from, in order (nothing is ever replaced by a number):

1. ``evaluation.utmos_checkpoint`` set:
   * a folder = a checkout of tarepan/SpeechMOS (has ``hubconf.py``); the weights are
     ``<folder>/utmos22_strong_step7459_v1.pt`` if present, else the torch hub cache's copy;
   * a file = the weights ``utmos22_strong_step7459_v1.pt`` (any name); the model code then comes
     from torch hub's cached checkout ``<hub dir>/tarepan_SpeechMOS_v1.2.0``.
2. Not set: torch hub's cache (checkout + ``<hub dir>/checkpoints/utmos22_strong_step7459_v1.pt``),
   exactly what ``torch.hub.load("tarepan/SpeechMOS:v1.2.0", "utmos22_strong")`` leaves behind.
3. Otherwise that ``torch.hub.load`` call downloads both - tried only when github.com answers
   within 3 s; offline, :class:`MetricUnavailable` says "utmos22_strong not available: <reason>".

Name clash handled here: the SpeechMOS checkout and the pip package that ships DNSMOS are both
called ``speechmos``; the checkout is imported in isolation so both metrics work in one process.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from dscodec.evaluate.metrics._common import (MetricInputError, TransientState, check_signal, is_silent,
                                              isolated_package)
from dscodec.evaluate.metrics.base import SAMPLE_RATE, Metric, MetricUnavailable
from dscodec.fileio import read_checkpoint, sha256_file
from dscodec.netprobe import unreachable

HUB_REPO = "tarepan/SpeechMOS"
HUB_REF = "v1.2.0"
ENTRY = "utmos22_strong"
WEIGHTS_NAME = "utmos22_strong_step7459_v1.pt"
WEIGHTS_URL = f"https://github.com/{HUB_REPO}/releases/download/v1.0.0/{WEIGHTS_NAME}"  # hubconf.py URLS
CLASHING_PACKAGE = "speechmos"
MIN_SAMPLES = 400            # one wav2vec 2.0 frame (25 ms receptive field)


def hub_checkout() -> Path:
    """Where torch.hub keeps tarepan/SpeechMOS:v1.2.0 (``<owner>_<repo>_<ref>``)."""
    import torch

    return Path(torch.hub.get_dir()) / f"{HUB_REPO.replace('/', '_')}_{HUB_REF}"


def hub_weights() -> Path:
    """Where ``torch.hub.load_state_dict_from_url`` keeps the released weights."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_NAME


class Utmos(TransientState, Metric):
    """utmos22_strong MOS prediction (about 1-5, higher is better) of the reconstruction alone."""

    name = "utmos"
    columns = ("utmos",)
    intrusive = False
    _transient = ("_model",)

    def __init__(self, eval_cfg: Mapping[str, Any] | None = None) -> None:
        cfg = dict(eval_cfg or {})
        checkpoint = cfg.get("utmos_checkpoint")
        self.checkpoint = Path(checkpoint).expanduser() if checkpoint else None
        self.source = ""             # where code and weights came from, for the footer
        self._model: Any = None

    # ------------------------------------------------------------------ locating code and weights
    def _locate(self) -> tuple[Path, Path] | None:
        """(checkout folder, weights file) available locally, or None when a download is needed.

        Raises MetricUnavailable for a configured path that cannot be used."""
        if self.checkpoint is not None:
            path = self.checkpoint
            if path.is_dir():
                if not (path / "hubconf.py").is_file():
                    raise MetricUnavailable(f"utmos22_strong not available: evaluation.utmos_checkpoint {path} is a "
                                            f"folder without hubconf.py (expected a checkout of {HUB_REPO})")
                for weights in (path / WEIGHTS_NAME, hub_weights()):
                    if weights.is_file():
                        return path, weights
                raise MetricUnavailable(f"utmos22_strong not available: no {WEIGHTS_NAME} in {path} or {hub_weights()}")
            if path.is_file():
                if not (hub_checkout() / "hubconf.py").is_file():
                    raise MetricUnavailable(
                        f"utmos22_strong not available: {path} holds weights only and the model code "
                        f"({HUB_REPO}:{HUB_REF}) is not in the torch hub cache ({hub_checkout()}); set "
                        f"evaluation.utmos_checkpoint to a {HUB_REPO} checkout folder containing {WEIGHTS_NAME}")
                return hub_checkout(), path
            raise MetricUnavailable(f"utmos22_strong not available: evaluation.utmos_checkpoint {path} does not exist")
        if (hub_checkout() / "hubconf.py").is_file() and hub_weights().is_file():
            return hub_checkout(), hub_weights()
        return None

    def load(self) -> None:
        try:
            import torch
        except ImportError as err:  # pragma: no cover - torch is a hard dependency
            raise MetricUnavailable(f"utmos22_strong not available: torch cannot be imported ({err})") from err
        located = self._locate()
        if located is None:
            why = unreachable("github.com")
            if why:
                raise MetricUnavailable(
                    f"utmos22_strong not available: evaluation.utmos_checkpoint is not set, {HUB_REPO}:{HUB_REF} and "
                    f"{WEIGHTS_NAME} are not in the torch hub cache ({torch.hub.get_dir()}), and {why}")
            try:
                with isolated_package(CLASHING_PACKAGE):
                    model = torch.hub.load(f"{HUB_REPO}:{HUB_REF}", ENTRY, trust_repo=True, progress=False)
            except Exception as err:  # noqa: BLE001 - HTTP errors, a changed repo: the reason goes in the table
                raise MetricUnavailable(f"utmos22_strong not available: torch.hub.load({HUB_REPO}:{HUB_REF}) "
                                        f"failed: {type(err).__name__}: {err}") from err
            weights, self.source = hub_weights(), f"{HUB_REPO}:{HUB_REF} via torch.hub"
        else:
            checkout, weights = located
            try:
                with isolated_package(CLASHING_PACKAGE):
                    model = torch.hub.load(str(checkout), ENTRY, source="local", pretrained=False)
                state = read_checkpoint(weights, "cpu", weights_only=True)
                model.load_state_dict(state)  # strict: a wrong file fails here, not with silent garbage
            except Exception as err:  # noqa: BLE001
                raise MetricUnavailable(f"utmos22_strong not available: cannot load {ENTRY} from {checkout} with "
                                        f"{weights}: {type(err).__name__}: {err}") from err
            self.source = f"{HUB_REPO} code from {checkout}"
        self.source += f", weights {weights.name} sha256:{sha256_file(weights)[:12]}" if weights.is_file() else ""
        self._model = model.eval()

    @property
    def model(self) -> str:
        return f"UTMOS22 strong learner, utmos22_strong ({self.source or 'not loaded'})"

    def score(self, ref: np.ndarray, deg: np.ndarray, ref_features: Any = None) -> dict[str, float]:
        """Scores ``deg`` only (non-intrusive); ``ref`` is ignored."""
        import torch

        deg = check_signal(deg, "reconstruction", MIN_SAMPLES)
        if is_silent(deg):  # out of the predictor's domain: a counted failure, not a made-up MOS
            raise MetricInputError("UTMOS: the signal is digital silence")
        if self._model is None:
            self.load()
        with torch.no_grad():
            value = self._model(torch.from_numpy(np.ascontiguousarray(deg))[None], SAMPLE_RATE)
        value = float(value.reshape(-1)[0])
        if not np.isfinite(value):
            raise MetricInputError("UTMOS: the model returned a non-finite score")
        return {"utmos": value}
