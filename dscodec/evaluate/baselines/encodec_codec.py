"""EnCodec 24 kHz (Défossez et al., 2022) at 1.5 and 6 kbps, the Table 1 baselines of the paper.

The model code is the official ``encodec`` package; only the weights are handled here, so that
a missing file fails fast with a reason instead of hanging on a download:

1. ``spec.checkpoint``: a local copy of the released ``encodec_24khz-d7cc33bc.th`` (the
   state dict of ``EncodecModel.encodec_model_24khz``). If its name embeds a hash prefix in
   the official ``<name>-<sha256 prefix>.th`` pattern, the file is verified against it.
2. Otherwise the released file in ``cache_dir`` or in the torch hub cache
   (``<torch.hub.get_dir()>/checkpoints``, where ``encodec`` itself downloads it), verified
   against the sha256 prefix in its name.
3. Otherwise a download into ``cache_dir`` (checksum-verified by ``torch.hub``), attempted only
   when the host answers within a few seconds; offline, :class:`BaselineUnavailable` says so.

Table 1 conventions (paper.md): EnCodec 24 kHz runs at 75 frames/s with 1024-entry codebooks
(10 bits), so ``bandwidth`` kbps uses Nq = bandwidth / 0.75 codebooks (1.5 -> 2, 6 -> 8) and the
table counts every codebook's tokens: tokens/s = 75 x Nq (150 and 600).
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from dscodec.errors import ConfigError
from dscodec.evaluate.baselines.base import SAMPLE_RATE, BaselineUnavailable, CodecInfo
from dscodec.evaluate.baselines.official_weights import OfficialWeightsBaseline
from dscodec.fileio import read_checkpoint, sha256_file
from dscodec.netprobe import probe  # TCP probe with a timeout: torch.hub's downloader has none

CHECKPOINT_NAME = "encodec_24khz-d7cc33bc.th"       # as in encodec.EncodecModel.encodec_model_24khz
CHECKPOINT_URL = "https://dl.fbaipublicfiles.com/encodec/v0/" + CHECKPOINT_NAME  # encodec.model.ROOT_URL
NATIVE_RATE = 24000
FRAME_RATE = 75                                     # 24000 Hz / hop 320 (strides 8*5*4*2)
BITS_PER_CODEBOOK = 10                              # 1024 codes
BANDWIDTHS = (1.5, 3.0, 6.0, 12.0, 24.0)            # the 24 kHz model's target bandwidths
_HASHED_NAME = re.compile(r"-([0-9a-f]{8,64})\.th$")


def sha256_prefix_of(path: Path) -> str | None:
    """The sha256 prefix embedded in an official checkpoint name, e.g. ``d7cc33bc``."""
    match = _HASHED_NAME.search(path.name)
    return match.group(1) if match else None


def verify_checksum(path: Path, prefix: str) -> None:
    """Raise BaselineUnavailable when the file's sha256 does not start with ``prefix``."""
    actual = sha256_file(path)
    if not actual.startswith(prefix):
        raise BaselineUnavailable(
            f"{path}: sha256 {actual[:len(prefix)]}... does not match the expected {prefix} "
            "(corrupt or incomplete download; delete the file to fetch it again)")


class EncodecBaseline(OfficialWeightsBaseline):
    """EnCodec 24 kHz (causal, mono); ``spec``: ``bandwidth`` (kbps), optional ``checkpoint``.

    Same base as the DAC, BigCodec and WavTokenizer loaders (spec, cache folder, lazy load with
    ``checkpoint_path`` as the loaded flag, checked input); only finding the file differs: the
    official name carries its own sha256 prefix, and torch.hub's cache is searched too.
    """

    def __init__(self, name: str, spec: Mapping[str, Any], cache_dir: str | Path) -> None:
        super().__init__(name, spec, cache_dir)
        bandwidth = self.spec.get("bandwidth")
        if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)) or float(bandwidth) not in BANDWIDTHS:
            raise ConfigError(f"evaluation.baselines.{name}.bandwidth: one of {BANDWIDTHS} (kbps), got {bandwidth!r}")
        self.bandwidth = float(bandwidth)
        self.n_codebooks = int(self.bandwidth * 1000 // (FRAME_RATE * BITS_PER_CODEBOOK))
        self.model: Any = None

    @property
    def info(self) -> CodecInfo:
        return CodecInfo(label=f"EnCodec ({self.bandwidth:g} kbps)", bitrate_kbps=self.bandwidth,
                         tokens_per_second=float(FRAME_RATE * self.n_codebooks), n_codebooks=self.n_codebooks,
                         native_sample_rate=NATIVE_RATE)

    def _find_weights(self) -> Path:
        configured = self.spec.get("checkpoint")
        if configured:
            path = Path(configured).expanduser()
            if not path.is_file():
                raise BaselineUnavailable(f"EnCodec checkpoint {path} (evaluation.baselines.{self.name}.checkpoint) "
                                          "does not exist")
            prefix = sha256_prefix_of(path)
            if prefix:
                verify_checksum(path, prefix)
            return path
        prefix = sha256_prefix_of(Path(CHECKPOINT_NAME))
        assert prefix is not None
        for folder in (self.cache_dir, Path(torch.hub.get_dir()) / "checkpoints"):
            candidate = folder / CHECKPOINT_NAME
            if candidate.is_file():
                verify_checksum(candidate, prefix)
                return candidate
        target = self.cache_dir / CHECKPOINT_NAME
        try:
            probe(CHECKPOINT_URL)
        except OSError as err:
            raise BaselineUnavailable(
                f"{CHECKPOINT_NAME} is neither configured (evaluation.baselines.{self.name}.checkpoint) nor cached "
                f"in {self.cache_dir} or {Path(torch.hub.get_dir()) / 'checkpoints'}, and {CHECKPOINT_URL} "
                f"is unreachable ({err})") from err
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        try:  # writes to a temporary file and renames it only after the hash check
            torch.hub.download_url_to_file(CHECKPOINT_URL, str(target), hash_prefix=prefix, progress=False)
        except (OSError, RuntimeError) as err:
            raise BaselineUnavailable(f"downloading {CHECKPOINT_URL} failed: {err}") from err
        return target

    def load(self) -> None:
        try:
            from encodec import EncodecModel
        except ImportError as err:
            raise BaselineUnavailable(f"the `encodec` package is not installed ({err}); pip install encodec") from err
        path = self._find_weights()
        try:
            state = read_checkpoint(path, "cpu", weights_only=True)
        except Exception as err:  # torch.load raises many types (pickle, zip, EOF) for a damaged file
            raise BaselineUnavailable(f"{path}: not a readable EnCodec checkpoint "
                                      f"({type(err).__name__}: {err})") from err
        if not isinstance(state, dict):
            raise BaselineUnavailable(f"{path}: expected a state dict, found {type(state).__name__}")
        with warnings.catch_warnings():  # encodec uses torch.nn.utils.weight_norm (deprecated, same keys)
            warnings.simplefilter("ignore", FutureWarning)
            model = EncodecModel.encodec_model_24khz(pretrained=False)
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise BaselineUnavailable(f"{path}: not an EnCodec 24 kHz state dict ({str(err)[:400]})") from err
        if model.frame_rate != FRAME_RATE or model.bits_per_codebook != BITS_PER_CODEBOOK:
            raise BaselineUnavailable(f"encodec package changed: {model.frame_rate} frames/s, "
                                      f"{model.bits_per_codebook} bits per codebook")
        model.set_target_bandwidth(self.bandwidth)
        self.model = model.eval()
        self.checkpoint_path = path

    @torch.inference_mode()
    def reconstruct(self, wav: np.ndarray) -> np.ndarray:
        import torchaudio.functional as AF

        x = self.loaded_and_checked(wav)
        x24 = AF.resample(x, SAMPLE_RATE, NATIVE_RATE)[None, None]
        frames = self.model.encode(x24)  # [(codes [1, Nq, frames], scale=None)]: one segment, no normalisation
        y24 = self.model.decode(frames)[0, 0, : x24.shape[-1]]
        y = AF.resample(y24, NATIVE_RATE, SAMPLE_RATE)
        return y[: x.numel()].numpy().astype(np.float32)
