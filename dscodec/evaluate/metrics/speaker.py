"""Speaker similarity: cosine of speaker-verification embeddings of reference and reconstruction.

Asked for by the users beside the paper's Sec. 3.2 metrics (paper.md, "Evaluation"). Codec papers
use WavLM-TDNN or ECAPA-TDNN embeddings; which model produced the column matters (values are
not comparable across models), so :attr:`SpeakerSimilarity.model` names the one actually used
and the table footers quote it. Backends (``evaluation.speaker_model``):

``ecapa``
    SpeechBrain ECAPA-TDNN trained on VoxCeleb (``speechbrain/spkrec-ecapa-voxceleb``). Loaded
    from ``evaluation.speaker_checkpoint`` (a local copy of that Hugging Face repo: a folder with
    ``hyperparams.yaml`` and the ``*.ckpt`` files), else from our cache
    (``<torch hub dir>/speechbrain/spkrec-ecapa-voxceleb``) or the Hugging Face cache, else
    downloaded into our cache when huggingface.co answers within 3 s.
``wavlm``
    WavLM + x-vector TDNN head (``microsoft/wavlm-base-plus-sv`` through ``transformers``'
    ``WavLMForXVector``), from ``speaker_checkpoint`` (a folder with ``config.json``) or the hub.
    Needs the ``transformers`` package, which this project does not install by default.
``resemblyzer``
    The GE2E speaker encoder whose weights ship inside the ``resemblyzer`` wheel: always
    available offline, but a weaker verification model than the two above.
``auto``
    The first of ecapa, wavlm, resemblyzer that loads. A configured ``speaker_checkpoint`` is
    given to the backend its files belong to; if it does not load, the metric is unavailable
    (an explicitly configured model is never silently replaced by another one).

Local loads never touch the network: SpeechBrain's ``hyperparams.yaml`` names its weights by
hub id (``pretrained_path: speechbrain/...``), so that key is overridden with the local folder.
"""
from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from dscodec.errors import ConfigError
from dscodec.evaluate.metrics._common import (MetricInputError, TransientState, check_pair, check_signal,
                                              is_silent, package_version)
from dscodec.evaluate.metrics.base import SAMPLE_RATE, Metric, MetricUnavailable
from dscodec.netprobe import unreachable

log = logging.getLogger(__name__)

BACKENDS = ("ecapa", "wavlm", "resemblyzer")
ECAPA_REPO = "speechbrain/spkrec-ecapa-voxceleb"
WAVLM_REPO = "microsoft/wavlm-base-plus-sv"
HF_HOST = "huggingface.co"
MIN_SAMPLES = SAMPLE_RATE // 4     # 250 ms: below that no backend gives a meaningful embedding


@dataclass
class Backend:
    """A loaded speaker encoder: ``embed`` maps equal-length mono 16 kHz signals to [N, D] embeddings."""

    name: str
    description: str
    embed: Callable[[list[np.ndarray]], np.ndarray]
    module: Any = None          # the underlying model, for inspection


def _ecapa_cache() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "speechbrain" / ECAPA_REPO.split("/")[-1]


def _hf_cached_snapshot(repo: str) -> Path | None:
    """The repo's folder in the Hugging Face cache, if it was downloaded before (no network).

    Why the folder test first: without the repo's cache folder there is nothing to find, and
    importing the hub's downloader costs ~0.3 s in every evaluation job."""
    try:
        from huggingface_hub import constants

        sep = constants.REPO_ID_SEPARATOR  # the hub's own folder naming (file_download.repo_folder_name: +0.2 s)
        if not (Path(constants.HF_HUB_CACHE) / f"models{sep}{repo.replace('/', sep)}").is_dir():
            return None
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (LocalEntryNotFoundError) or no huggingface_hub
        return None


def _speechbrain() -> tuple[Any, Any, Any]:
    """(EncoderClassifier, FetchConfig, LocalStrategy), imported only when there is a model to load:
    speechbrain's import costs ~0.2 s, paid by every job that finds no ECAPA model otherwise."""
    try:
        from speechbrain.inference.classifiers import EncoderClassifier
        from speechbrain.utils.fetching import FetchConfig, LocalStrategy
    except ImportError as err:
        raise MetricUnavailable(f"ECAPA: speechbrain cannot be imported ({err})") from err
    return EncoderClassifier, FetchConfig, LocalStrategy


def load_ecapa(checkpoint: Path | None) -> Backend:
    import torch

    def from_folder(folder: Path) -> Any:
        EncoderClassifier, FetchConfig, _ = _speechbrain()  # noqa: N806 - classes
        if not (folder / "hyperparams.yaml").is_file():
            raise MetricUnavailable(f"ECAPA: {folder} has no hyperparams.yaml (expected a local copy of "
                                    f"the {ECAPA_REPO} repo)")
        with tempfile.TemporaryDirectory(prefix="dscodec-ecapa-") as savedir:  # links only; folder may be read-only
            try:
                return EncoderClassifier.from_hparams(
                    source=str(folder), savedir=savedir, overrides={"pretrained_path": str(folder)},
                    overrides_must_match=False, fetch_config=FetchConfig(allow_network=False),
                    run_opts={"device": "cpu"})
            except Exception as err:  # noqa: BLE001 - missing .ckpt, bad yaml, shape mismatch: all "cannot load"
                raise MetricUnavailable(f"ECAPA: cannot load {folder}: {type(err).__name__}: {err}") from err

    if checkpoint is not None:
        classifier, where = from_folder(checkpoint), str(checkpoint)
    else:
        cache = _ecapa_cache()
        folder = cache if (cache / "embedding_model.ckpt").is_file() else _hf_cached_snapshot(ECAPA_REPO)
        if folder is not None:
            classifier, where = from_folder(folder), ECAPA_REPO
        else:
            why = unreachable(HF_HOST)
            if why:
                raise MetricUnavailable(f"ECAPA: evaluation.speaker_checkpoint is not set, {ECAPA_REPO} is not "
                                        f"cached ({cache} or the Hugging Face cache) and {why}")
            EncoderClassifier, _, LocalStrategy = _speechbrain()  # noqa: N806 - classes
            try:
                classifier = EncoderClassifier.from_hparams(source=ECAPA_REPO, savedir=str(cache),
                                                            local_strategy=LocalStrategy.COPY,
                                                            run_opts={"device": "cpu"})
            except Exception as err:  # noqa: BLE001
                raise MetricUnavailable(f"ECAPA: downloading {ECAPA_REPO} failed: {type(err).__name__}: {err}") from err
            where = ECAPA_REPO
    classifier.eval()

    def embed(wavs: list[np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            batch = torch.from_numpy(np.stack(wavs).astype(np.float32))
            return classifier.encode_batch(batch).reshape(len(wavs), -1).numpy()

    return Backend("ecapa", f"ECAPA-TDNN ({where}, speechbrain {package_version('speechbrain')})", embed, classifier)


def load_wavlm(checkpoint: Path | None) -> Backend:
    try:
        import torch
        from transformers import AutoFeatureExtractor, WavLMForXVector
    except ImportError as err:
        raise MetricUnavailable(f"WavLM-TDNN: the `transformers` package is not installed ({err}); it is needed "
                                f"for {WAVLM_REPO} (WavLMForXVector)") from err

    def from_source(source: str, local_only: bool) -> tuple[Any, Any]:
        extractor = AutoFeatureExtractor.from_pretrained(source, local_files_only=local_only)
        return extractor, WavLMForXVector.from_pretrained(source, local_files_only=local_only)

    if checkpoint is not None:
        if not (checkpoint / "config.json").is_file():
            raise MetricUnavailable(f"WavLM-TDNN: {checkpoint} has no config.json (expected a local copy of {WAVLM_REPO})")
        try:
            extractor, model = from_source(str(checkpoint), True)
        except Exception as err:  # noqa: BLE001
            raise MetricUnavailable(f"WavLM-TDNN: cannot load {checkpoint}: {type(err).__name__}: {err}") from err
        where = str(checkpoint)
    else:
        where = WAVLM_REPO
        try:
            extractor, model = from_source(WAVLM_REPO, True)
        except Exception:  # noqa: BLE001 - not in the Hugging Face cache: download if the hub answers
            why = unreachable(HF_HOST)
            if why:
                raise MetricUnavailable(f"WavLM-TDNN: evaluation.speaker_checkpoint is not set, {WAVLM_REPO} is "
                                        f"not in the Hugging Face cache and {why}") from None
            try:
                extractor, model = from_source(WAVLM_REPO, False)
            except Exception as err:  # noqa: BLE001
                raise MetricUnavailable(f"WavLM-TDNN: downloading {WAVLM_REPO} failed: {type(err).__name__}: {err}") from err
    model.eval()

    def embed(wavs: list[np.ndarray]) -> np.ndarray:
        inputs = extractor(list(wavs), sampling_rate=SAMPLE_RATE, return_tensors="pt", padding=True)
        with torch.no_grad():
            return model(**inputs).embeddings.numpy()

    return Backend("wavlm", f"WavLM-TDNN ({where}, WavLMForXVector, transformers {package_version('transformers')})",
                   embed, model)


def load_resemblyzer(checkpoint: Path | None = None) -> Backend:
    try:
        with warnings.catch_warnings():  # webrtcvad imports the deprecated pkg_resources
            warnings.simplefilter("ignore")
            from resemblyzer import VoiceEncoder, preprocess_wav
    except ImportError as err:
        raise MetricUnavailable(f"resemblyzer cannot be imported ({type(err).__name__}: {err})") from err
    encoder = VoiceEncoder("cpu", verbose=False)

    def embed(wavs: list[np.ndarray]) -> np.ndarray:
        out = []
        for wav in wavs:
            # resemblyzer's own preprocessing: volume to -30 dBFS, long silences removed (webrtcvad)
            speech = preprocess_wav(wav, source_sr=SAMPLE_RATE)
            if speech.size == 0:
                raise MetricInputError("speaker similarity: no speech left after resemblyzer's voice activity "
                                       "detection")
            out.append(encoder.embed_utterance(speech))
        return np.stack(out)

    return Backend("resemblyzer", f"resemblyzer GE2E (VoiceEncoder, resemblyzer {package_version('resemblyzer')})",
                   embed, encoder)


LOADERS: dict[str, Callable[[Path | None], Backend]] = {
    "ecapa": load_ecapa, "wavlm": load_wavlm, "resemblyzer": load_resemblyzer}


def checkpoint_backend(folder: Path) -> str | None:
    """Which backend a local checkpoint folder belongs to, by its files."""
    if (folder / "hyperparams.yaml").is_file():
        return "ecapa"
    if (folder / "config.json").is_file():
        return "wavlm"
    return None


class SpeakerSimilarity(TransientState, Metric):
    """Cosine similarity of speaker embeddings, in [-1, 1] (1 = same voice as far as the encoder can tell)."""

    name = "speaker_sim"
    columns = ("speaker_sim",)
    version = "1"
    has_reference_features = True
    _transient = ("_backend",)

    def __init__(self, eval_cfg: Mapping[str, Any] | None = None) -> None:
        cfg = dict(eval_cfg or {})
        self.backend_name = str(cfg.get("speaker_model") or "auto")
        if self.backend_name not in ("auto", *BACKENDS):
            raise ConfigError(f"evaluation.speaker_model: one of auto, {', '.join(BACKENDS)}; "
                              f"got {self.backend_name!r}")
        checkpoint = cfg.get("speaker_checkpoint")
        self.checkpoint = Path(checkpoint).expanduser() if checkpoint else None
        self.skipped: dict[str, str] = {}      # auto mode: backend -> why it did not load
        self._backend: Backend | None = None

    def _candidates(self) -> list[tuple[str, Path | None]]:
        if self.checkpoint is not None and not self.checkpoint.is_dir():
            raise MetricUnavailable(f"evaluation.speaker_checkpoint {self.checkpoint} is not a folder")
        if self.backend_name != "auto":
            if self.backend_name == "resemblyzer" and self.checkpoint is not None:
                raise MetricUnavailable("evaluation.speaker_checkpoint is set but speaker_model is resemblyzer, "
                                        "whose weights ship with the package; unset one of them")
            return [(self.backend_name, self.checkpoint)]
        if self.checkpoint is not None:
            owner = checkpoint_backend(self.checkpoint)
            if owner is None:
                raise MetricUnavailable(f"evaluation.speaker_checkpoint {self.checkpoint}: neither a SpeechBrain "
                                        "folder (hyperparams.yaml) nor a transformers one (config.json)")
            return [(owner, self.checkpoint)]
        return [(name, None) for name in BACKENDS]

    def load(self) -> None:
        self.skipped = {}
        candidates = self._candidates()
        for name, checkpoint in candidates:
            try:
                self._backend = LOADERS[name](checkpoint)
                return
            except MetricUnavailable as err:
                if len(candidates) == 1:
                    raise
                self.skipped[name] = str(err)
                log.info("speaker_sim: %s unavailable (%s), trying the next backend", name, err)
        raise MetricUnavailable("no speaker encoder loads: " + "; ".join(self.skipped.values()))

    @property
    def model(self) -> str:
        if self._backend is None:
            return f"speaker similarity ({self.backend_name}; not loaded)"
        return self._backend.description

    def _embed_one(self, signal: np.ndarray) -> np.ndarray:
        if self._backend is None:
            self.load()
        assert self._backend is not None
        return np.asarray(self._backend.embed([signal]), dtype=np.float64)[0]

    def reference_features(self, ref: np.ndarray) -> dict[str, np.ndarray]:
        """The reference's speaker embedding: the same for every system scored against it.

        Each signal is embedded on its own (resemblyzer always did; ECAPA/WavLM used to embed
        the pair as a batch of two, which agrees to float rounding)."""
        ref = check_signal(ref, "reference", MIN_SAMPLES)
        if is_silent(ref):
            raise MetricInputError("speaker similarity: the reference is digital silence (no voice to embed)")
        return {"embedding": self._embed_one(ref)}

    def score(self, ref: np.ndarray, deg: np.ndarray, ref_features: Any = None) -> dict[str, float]:
        ref, deg = check_pair(ref, deg, MIN_SAMPLES)
        for signal, what in ((ref, "reference"), (deg, "reconstruction")):
            if is_silent(signal):
                raise MetricInputError(f"speaker similarity: the {what} is digital silence (no voice to embed)")
        features = ref_features if ref_features is not None else self.reference_features(ref)
        emb = np.stack([np.asarray(features["embedding"], dtype=np.float64), self._embed_one(deg)])
        # one norm per vector, as the embeddings were always scored: `norm(emb, axis=1)` sums in
        # another order than the 1-D norm and can differ in the last bit on some CPUs
        norms = np.array([np.linalg.norm(emb[0]), np.linalg.norm(emb[1])])
        if not np.all(norms > 0):
            raise MetricInputError("speaker similarity: the encoder returned a zero embedding")
        return {"speaker_sim": float(emb[0] @ emb[1] / (norms[0] * norms[1]))}
