"""DSCodec: the codec as a library, independent of the training pipeline.

    codec = DSCodec.from_checkpoint("results/models/ds_codec_vq/stage2/ckpt.pt")
    tokens = codec.encode(wav, sample_rate)     # Long [B, frames], 80 frames/s
    audio = codec.decode(tokens)                # Float [B, 1, frames * 200] at 16 kHz

Input handling: float audio in [-1, 1] (louder input is clipped, with a warning) or integer
PCM (int16, int32, int8 scaled to [-1, 1); uint8 centred on 128), any sample rate (resampled
to 16 kHz with torchaudio), any channel count (averaged to mono; soundfile's [T, C] layout
with C <= 8 is recognised and transposed), any length (zero-padded to a multiple of the 200-sample hop; pass
`length=` to `decode` to trim back), batches. Long inputs are run through the model in
chunks of `chunk_seconds` with exact context handling (dscodec.models.streaming): the
result equals a single pass, without seams, and model memory does not grow with length.
`encode_file` reads a file chunk by chunk and `decode_stream` looks tokens up chunk by chunk,
so `dscodec encode` / `decode` hold no whole-file waveform or latent at all.

Speed: weight norm is folded into plain weights when the codec is built (the training-time
model's outputs are kept within the tolerance tests/test_inference.py states), and
`backend="onnx"` runs graphs written by `dscodec export` in onnxruntime (one pass per call).
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio

from dscodec import bitstream
from dscodec.audio import AudioFileReader, load_audio
from dscodec.errors import DSCodecError
from dscodec.models.checkpoint import load_codec
from dscodec.models.codec import CodecModel
from dscodec.models.inference import for_inference
from dscodec.onnx_export import OnnxCodecGraphs
from dscodec.models.streaming import Reader, decode_latents, encode_latents


class CodecInputError(DSCodecError, ValueError):
    """Audio or tokens given to the codec have the wrong shape, type or range."""


# integer PCM -> (offset, full scale): the float sample is (x - offset) / scale, in [-1, 1)
_PCM_SCALE: dict[torch.dtype, tuple[int, int]] = {
    torch.int16: (0, 2**15),
    torch.int32: (0, 2**31),
    torch.int8: (0, 2**7),
    torch.uint8: (2**7, 2**7),
}
MAX_CHANNELS = 8  # a 2-D array [T, C] with at most this many columns (and more rows) is soundfile's layout


def pcm_to_float(wav: torch.Tensor) -> torch.Tensor:
    """Integer PCM -> float32 in [-1, 1); float input passes through as float32.

    Why: a plain cast would feed int16 samples of +-32767 to a model trained on [-1, 1].
    """
    if wav.dtype.is_floating_point:
        return wav.to(torch.float32)
    if wav.dtype not in _PCM_SCALE:
        raise CodecInputError(
            f"audio of dtype {wav.dtype} has no PCM scale; give float samples in [-1, 1] or integer PCM "
            "(int16, int32, int8 or uint8)"
        )
    offset, scale = _PCM_SCALE[wav.dtype]
    return (wav.to(torch.float64) - offset).div_(scale).to(torch.float32)


def channels_first(wav: torch.Tensor) -> torch.Tensor:
    """A 2-D [T, C] array (soundfile's layout: few columns, many rows) -> [C, T]; others unchanged.

    Why: taken as [C, T], a [T, 2] array is thousands of two-sample channels and encodes to one token.
    """
    if wav.dim() == 2 and wav.shape[1] <= MAX_CHANNELS < wav.shape[0]:
        return wav.T
    return wav


def clip_to_unit_range(wav: torch.Tensor) -> torch.Tensor:
    """Clip to [-1, 1] as a file write would, warning when samples exceed it (the model never saw louder)."""
    low, high = torch.aminmax(wav)  # no |wav| temporary: a long input is not copied to be checked
    peak = max(-float(low), float(high))
    if peak > 1.0:
        warnings.warn(
            f"audio samples exceed 1.0 in magnitude (peak {peak:.3g}) and were clipped to [-1, 1]; "
            "scale float input into [-1, 1] (or pass integer PCM) to avoid distortion",
            UserWarning, stacklevel=5,  # the caller of DSCodec.encode
        )
        wav = wav.clamp(-1.0, 1.0)
    return wav


class DSCodec:
    """Audio <-> tokens with a trained codec; `backend` "torch" (chunked, bounded memory) or "onnx".

    The PyTorch backend folds weight norm into plain weights (dscodec.models.inference) *in
    place* on the model it is given: inference no longer recomputes every filter per call.
    Pass `fold_weight_norm=False` to keep the training-time module as it is.
    """

    def __init__(
        self, model: CodecModel | OnnxCodecGraphs, chunk_seconds: float = 10.0, fold_weight_norm: bool = True
    ) -> None:
        self.backend = "onnx" if isinstance(model, OnnxCodecGraphs) else "torch"
        self.sample_rate: int = model.sample_rate
        self.hop_length: int = model.hop_length
        self.codebook_size: int = model.codebook_size
        self.frame_rate: float = self.sample_rate / self.hop_length
        self.chunk_frames = max(1, round(chunk_seconds * self.frame_rate))
        if isinstance(model, OnnxCodecGraphs):
            self.graphs: OnnxCodecGraphs | None = model
            self._quantizer_kind, self._fingerprint = model.quantizer_kind, model.fingerprint
            self.num_parameters: dict[str, int] | None = None
            return
        self.graphs = None
        self.model = model.eval()
        # recorded before folding: the training-time parameter count and the tokens' identity
        self.num_parameters = model.num_parameters()
        self._quantizer_kind = str(model.quantizer_kind)
        self._fingerprint = bitstream.quantizer_fingerprint(model.quantizer)
        if fold_weight_norm:
            for_inference(model)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device = "cpu", chunk_seconds: float = 10.0,
        backend: str = "torch", threads: int | None = None,
    ) -> "DSCodec":
        """`backend="torch"`: `path` is a checkpoint; `backend="onnx"`: `path` is a folder from `dscodec export`."""
        if backend == "onnx":
            if str(device) != "cpu":
                raise CodecInputError("the onnx backend runs on the CPU only (device='cpu')")
            return cls(OnnxCodecGraphs(path, threads=threads), chunk_seconds)
        if backend != "torch":
            raise CodecInputError(f"unknown backend {backend!r}; expected 'torch' or 'onnx'")
        return cls(load_codec(path, device), chunk_seconds)

    @property
    def device(self) -> torch.device:
        if self.graphs is not None:
            return torch.device("cpu")
        return next(self.model.parameters()).device

    @property
    def quantizer_kind(self) -> str:
        """"vq" or "pq": recorded in .dsc files with the fingerprint."""
        return self._quantizer_kind

    @property
    def fingerprint(self) -> bytes:
        """8 bytes identifying the quantizer's weights: a .dsc file made by another model is refused."""
        return self._fingerprint

    @property
    def bits_per_token(self) -> int:
        return max(1, math.ceil(math.log2(self.codebook_size)))

    # -- input preparation ------------------------------------------------------------------
    def prepare(self, wav: torch.Tensor | np.ndarray, sample_rate: int) -> torch.Tensor:
        """[T] | [C, T] | [T, C] | [B, C, T], float or integer PCM, at any rate -> float [B, 1, T'] mono at 16 kHz.

        Not padded. Float samples beyond [-1, 1] are clipped with a warning.
        """
        if isinstance(wav, np.ndarray):
            wav = torch.from_numpy(wav)
        if not isinstance(wav, torch.Tensor):
            raise CodecInputError(f"audio must be a torch.Tensor or numpy array, got {type(wav).__name__}")
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise CodecInputError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        wav = channels_first(pcm_to_float(wav))
        if wav.dim() == 1:
            wav = wav[None, None]
        elif wav.dim() == 2:
            wav = wav[None]
        elif wav.dim() != 3:
            raise CodecInputError(f"audio must be [T], [C, T], [T, C] or [B, C, T], got shape {tuple(wav.shape)}")
        if wav.shape[-1] == 0 or wav.shape[1] == 0:
            raise CodecInputError("audio is empty")
        if not torch.isfinite(wav).all():
            raise CodecInputError("audio contains NaN or infinite samples")
        wav = clip_to_unit_range(wav.to(self.device))
        if wav.shape[1] > 1:  # per channel, then down-mix (a mono input is not copied)
            wav = wav.mean(dim=1, keepdim=True)
        if sample_rate != self.sample_rate:
            wav = torchaudio.functional.resample(wav, int(sample_rate), self.sample_rate)
        return wav

    def num_samples(self, num_input_samples: int, sample_rate: int) -> int:
        """Length at 16 kHz that `decode(..., length=)` should trim back to."""
        return math.ceil(num_input_samples * self.sample_rate / sample_rate)

    # -- encode / decode --------------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, wav: torch.Tensor | np.ndarray, sample_rate: int) -> torch.Tensor:
        """Audio -> tokens Long [B, ceil(T_16k / hop)]."""
        x = self.prepare(wav, sample_rate)
        if self.graphs is not None:  # one pass: the exported graph holds no chunking loop
            return self.graphs.encode(F.pad(x, (0, -x.shape[-1] % self.hop_length)))
        return self._encode_chunked(x, x.shape[-1])  # the last chunk is padded to the hop, not a copy of x

    def _encode_chunked(self, source: torch.Tensor | Reader, num_samples: int) -> torch.Tensor:
        """Tokens chunk by chunk into one tensor allocated once. Why not a list joined at the end:
        a small tensor kept per chunk pins freed chunk memory in the heap, and a 30-minute file's
        encode then grew by ~3.5 MB per 10 s chunk on 2 threads (benchmarks/bench_codec.py --long-only)."""
        n_frames = math.ceil(num_samples / self.hop_length)
        tokens: torch.Tensor | None = None
        done = 0
        for z in encode_latents(self.model.encoder, source, self.chunk_frames, num_samples):
            codes = self.model.quantizer.encode(z)
            if tokens is None:  # the batch size is known from the first chunk
                tokens = codes.new_empty(codes.shape[0], n_frames)
            tokens[:, done : done + codes.shape[-1]] = codes
            done += codes.shape[-1]
        if tokens is None or done != n_frames:  # an invariant of encode_latents
            raise RuntimeError(f"chunked encoding produced {done} frames, expected {n_frames}")
        return tokens

    @torch.inference_mode()
    def encode_file(self, path: str | Path) -> tuple[torch.Tensor, int]:
        """An audio file -> (tokens Long [1, frames], its length in samples at 16 kHz).

        The PyTorch backend reads the file chunk by chunk (`AudioFileReader`): memory does not
        grow with the file's length. The tokens equal `encode(load_audio(path), 16000)` (exactly
        for 16 kHz files; resampled files up to float rounding). The ONNX graphs run in one
        pass, so that backend reads the whole file, as does a format libsndfile cannot seek in."""
        with AudioFileReader(path, target_sr=self.sample_rate) as reader:
            if self.graphs is None and reader.seekable:
                def read(a: int, b: int) -> torch.Tensor:
                    return reader.read(a, b)[None].to(self.device)

                return self._encode_chunked(read, reader.num_samples), reader.num_samples
        wav = load_audio(path, target_sr=self.sample_rate)
        return self.encode(wav, self.sample_rate), wav.shape[-1]

    def decode(self, tokens: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Tokens [B, F] (or [F]) -> float [B, 1, F * hop] at 16 kHz, trimmed to `length` if given."""
        wav = torch.cat(list(self.decode_stream(tokens)), dim=-1)
        return wav[..., :length] if length is not None else wav

    @torch.inference_mode()
    def decode_stream(self, tokens: torch.Tensor) -> Iterator[torch.Tensor]:
        """Yield consecutive waveform pieces [B, 1, n]; their concatenation is `decode(tokens)`."""
        tokens = self._check_tokens(tokens)
        if self.graphs is not None:
            yield self.graphs.decode(tokens)
            return
        def lookup(a: int, b: int) -> torch.Tensor:  # frames [a, b) only: no whole-file latent
            return self.model.quantizer.decode(tokens[:, a:b])  # a per-frame lookup and 1x1 projection

        yield from decode_latents(self.model.decoder, lookup, self.chunk_frames, tokens.shape[-1])

    def _check_tokens(self, tokens: torch.Tensor | np.ndarray) -> torch.Tensor:
        tokens = torch.as_tensor(tokens)
        if tokens.dim() == 1:
            tokens = tokens[None]
        if tokens.dim() != 2 or tokens.shape[-1] == 0:
            raise CodecInputError(f"tokens must be a non-empty [B, frames] tensor, got shape {tuple(tokens.shape)}")
        if tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
            raise CodecInputError(f"tokens must be integers, got {tokens.dtype}")
        if int(tokens.min()) < 0 or int(tokens.max()) >= self.codebook_size:
            raise CodecInputError(f"tokens must lie in [0, {self.codebook_size}); got {int(tokens.min())}..{int(tokens.max())}")
        return tokens.to(device=self.device, dtype=torch.long)
