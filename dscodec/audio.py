"""Audio I/O for DS-Codec: 16 kHz mono float tensors, whatever the file holds.

DS-Codec works on 16 kHz speech (paper, Section 2), so every reader returns mono float32
at `target_sr`: multi-channel files are down-mixed (channel mean) and other rates are
resampled with `torchaudio.functional.resample` on the fly. Manifests keep the *original*
file, so a corpus is never rewritten on disk. All I/O goes through soundfile (libsndfile);
torchaudio's own loader needs torchcodec, which this environment does not ship.

Training reads random crops with `read_crop`, which seeks into the file and decodes only
the frames it needs (no full-file decode per 1 s crop, paper Section 3.1 "random 1 s crops").
`AudioFileReader` gives the same random access to any region of a long file at `target_sr`,
equal to the matching slice of `load_audio` (resampled regions up to float rounding), so
`dscodec encode` holds a chunk of a long file in memory, never the whole of it.
"""
from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from dscodec.errors import AudioError

TARGET_SR = 16000

# [ours] level normalisation for training crops (the paper does not specify one): crops are
# scaled to an RMS level drawn uniformly from this range (dBFS), with the gain capped so that
# near-silent crops are not blown up into noise and the peak limited to stay inside [-1, 1].
# The range brackets the levels of LibriSpeech/LJSpeech speech (~-30 .. -16 dBFS RMS), so the
# codec sees the levels it meets at evaluation time, where audio is used as-is.
LEVEL_DBFS_RANGE = (-30.0, -16.0)
MAX_GAIN_DB = 20.0
PEAK_LIMIT = 0.99


def _open(path: str | Path) -> sf.SoundFile:
    path = Path(path)
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        return sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from err


def to_mono(wav: np.ndarray) -> np.ndarray:
    """[frames, channels] -> [frames] by averaging channels (down-mix)."""
    return wav.mean(axis=1) if wav.ndim == 2 else wav


def resample(wav: torch.Tensor, orig_sr: int, target_sr: int = TARGET_SR) -> torch.Tensor:
    """Band-limited resampling (torchaudio's windowed sinc); identity when the rates match."""
    if orig_sr == target_sr:
        return wav
    import torchaudio.functional as AF

    return AF.resample(wav, orig_sr, target_sr)


def frames_at(num_frames: int, orig_sr: int, target_sr: int = TARGET_SR) -> int:
    """Length after resampling `num_frames` from `orig_sr` to `target_sr` (torchaudio's rule)."""
    return int(math.ceil(num_frames * target_sr / orig_sr))


def _finite_mono(data: np.ndarray, path: str | Path) -> np.ndarray:
    """[frames, channels] as decoded -> [frames] float32 mono; AudioError on NaN or inf."""
    mono = np.ascontiguousarray(to_mono(data), dtype=np.float32)
    if not np.isfinite(mono).all():
        raise AudioError(f"{path}: contains NaN or infinite samples")
    return mono


def _finish(data: np.ndarray, sr: int, target_sr: int, path: str | Path) -> torch.Tensor:
    wav = torch.from_numpy(_finite_mono(data, path)).unsqueeze(0)
    return resample(wav, sr, target_sr).clamp_(-1.0, 1.0)


class AudioFileReader:
    """Regions of an audio file as float32 [1, n] mono at `target_sr`, read on demand.

    `read(start, stop)` counts samples at `target_sr` and equals `load_audio(path)[:, start:stop]`
    (zeros past the end). Other rates are resampled region by region with the same windowed
    sinc as `load_audio`: regions start on the rates' common period and carry `margin_blocks`
    of such periods on each side (more than the filter's half-width), so each output sample
    sees the input a whole-file resample sees. Raises AudioError for what `load_audio` refuses
    (missing, empty, corrupt, truncated, non-finite), a region's faults when that region is read.
    """

    def __init__(self, path: str | Path, target_sr: int = TARGET_SR) -> None:
        self.path, self.target_sr = path, target_sr
        self._file = _open(path)
        self.file_sr, self.file_frames = self._file.samplerate, self._file.frames
        try:
            if self.file_frames <= 0:
                raise AudioError(f"{path}: no audio frames")
            check_wav_complete(path)
        except AudioError:
            self._file.close()
            raise
        self.num_samples = frames_at(self.file_frames, self.file_sr, target_sr)
        g = math.gcd(self.file_sr, target_sr)
        self._in_step, self._out_step = self.file_sr // g, target_sr // g
        self.margin_blocks = _resample_margin_blocks(self._in_step, self._out_step)

    def __enter__(self) -> "AudioFileReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def seekable(self) -> bool:
        """False for the few formats libsndfile cannot seek in: read those whole (`load_audio`)."""
        return bool(self._file.seekable())

    def _read_frames(self, start: int, stop: int) -> np.ndarray:
        """File frames [start, stop) clipped to the file, mono float32."""
        start, stop = max(0, start), min(stop, self.file_frames)
        if stop <= start:
            return np.zeros(0, dtype=np.float32)
        try:
            self._file.seek(start)
            data = self._file.read(stop - start, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise AudioError(f"{self.path}: decoding failed at frame {start} ({err})") from err
        if data.shape[0] < stop - start:
            raise AudioError(
                f"{self.path}: truncated (header says {self.file_frames} frames, "
                f"decoding stopped at {start + data.shape[0]})"
            )
        return _finite_mono(data, self.path)

    def read(self, start: int, stop: int) -> torch.Tensor:
        """Samples [start, stop) at `target_sr` as [1, stop - start]; zeros past the end."""
        if start < 0 or stop < start:
            raise ValueError(f"AudioFileReader.read: need 0 <= start <= stop, got {start}, {stop}")
        if self.file_sr == self.target_sr:
            wav = torch.from_numpy(self._read_frames(start, stop))[None]
        else:  # whole blocks of the common period, with margins, then the slice asked for
            b0 = max(0, start // self._out_step - self.margin_blocks)
            b1 = -(-stop // self._out_step) + self.margin_blocks
            chunk = torch.from_numpy(self._read_frames(b0 * self._in_step, b1 * self._in_step))[None]
            wav = resample(chunk, self.file_sr, self.target_sr)[:, start - b0 * self._out_step :]
            wav = wav[:, : max(0, min(stop, self.num_samples) - start)]
        wav = wav.clamp_(-1.0, 1.0)
        return fit_length(wav, stop - start)


def _resample_margin_blocks(in_step: int, out_step: int, lowpass_filter_width: int = 6, rolloff: float = 0.99) -> int:
    """Common periods of margin that cover torchaudio's resampling filter (its defaults), plus two."""
    if in_step == out_step:
        return 0
    half_width_in = math.ceil(lowpass_filter_width * in_step / (min(in_step, out_step) * rolloff))
    return -(-half_width_in // in_step) + 2


def load_audio(path: str | Path, target_sr: int = TARGET_SR) -> torch.Tensor:
    """Whole file as FloatTensor [1, T] at `target_sr`, mono, in [-1, 1].

    Raises AudioError naming the file when it is missing, empty, corrupt or truncated
    (fewer decodable frames than its header announces).
    """
    with _open(path) as f:
        expected = f.frames
        try:
            data = f.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise AudioError(f"{path}: decoding failed ({err})") from err
        sr = f.samplerate
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no audio frames")
    if expected > 0 and data.shape[0] < expected:
        raise AudioError(f"{path}: truncated (header says {expected} frames, only {data.shape[0]} decodable)")
    check_wav_complete(path)
    return _finish(data, sr, target_sr, path)


def wav_declared_bytes(path: str | Path) -> tuple[int, int] | None:
    """(declared, present) byte counts of a RIFF/WAVE `data` chunk, or None if not a plain WAV.

    libsndfile silently shortens a WAV whose data chunk is cut off, so truncation has to be
    read from the header. Streaming placeholders (0xFFFFFFFF / 0x7FFFFFFF sizes) give None.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = path.stat().st_size
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            cid, clen = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                if clen in (0xFFFFFFFF, 0x7FFFFFFF, 0):
                    return None
                return clen, size - fh.tell()
            fh.seek(clen + (clen & 1), 1)


def check_wav_complete(path: str | Path) -> None:
    """Raise AudioError when a WAV file holds less audio data than its header declares."""
    if Path(path).suffix.lower() != ".wav":
        return
    sizes = wav_declared_bytes(path)
    if sizes is not None and sizes[1] < sizes[0]:
        raise AudioError(f"{path}: truncated (header declares {sizes[0]} data bytes, file holds {sizes[1]})")


def read_crop(
    path: str | Path, start_frame: int, num_frames: int, target_sr: int = TARGET_SR
) -> torch.Tensor:
    """Partial read: `num_frames` frames from `start_frame`, both counted at the *file's* rate.

    Returns [1, frames_at(num_frames, file_sr, target_sr)], mono, resampled; frames past the
    end of the file are zero (so a crop always has the requested length). Only the requested
    region is decoded (`SoundFile.seek`), which keeps 1 s training crops cheap on long files.
    """
    if start_frame < 0 or num_frames <= 0:
        raise ValueError(f"read_crop: need start_frame >= 0 and num_frames > 0, got {start_frame}, {num_frames}")
    with _open(path) as f:
        sr = f.samplerate
        if start_frame >= max(f.frames, 1):
            raise AudioError(f"{path}: crop start {start_frame} is past the end ({f.frames} frames)")
        try:
            f.seek(start_frame)
            data = f.read(num_frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise AudioError(f"{path}: decoding failed at frame {start_frame} ({err})") from err
    if data.shape[0] < num_frames:
        data = np.pad(data, ((0, num_frames - data.shape[0]), (0, 0)))
    wav = _finish(data, sr, target_sr, path)
    return fit_length(wav, frames_at(num_frames, sr, target_sr))


def fit_length(wav: torch.Tensor, length: int) -> torch.Tensor:
    """Trim or zero-pad the last axis to exactly `length` samples."""
    if wav.shape[-1] >= length:
        return wav[..., :length]
    return torch.nn.functional.pad(wav, (0, length - wav.shape[-1]))


def save_audio(path: str | Path, wav: torch.Tensor | np.ndarray, sample_rate: int) -> None:
    """Write [1, T] or [T] audio as 16-bit FLAC or WAV (chosen by the suffix)."""
    path = Path(path)
    fmt = {".flac": "FLAC", ".wav": "WAV"}.get(path.suffix.lower())
    if fmt is None:
        raise AudioError(f"{path}: unsupported suffix (use .flac or .wav)")
    data = wav.detach().cpu().numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav)
    if data.ndim == 2:
        if data.shape[0] != 1:
            raise AudioError(f"{path}: save_audio expects mono [1, T] or [T], got shape {tuple(data.shape)}")
        data = data[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(data.astype(np.float32), -1.0, 1.0), int(sample_rate), format=fmt, subtype="PCM_16")


def rms_dbfs(wav: torch.Tensor) -> float:
    rms = float(wav.pow(2).mean().sqrt())
    return 20.0 * math.log10(max(rms, 1e-10))


def normalize_level(
    wav: torch.Tensor, target_dbfs: float, max_gain_db: float = MAX_GAIN_DB, peak_limit: float = PEAK_LIMIT
) -> torch.Tensor:
    """Scale to an RMS of `target_dbfs` (gain capped at `max_gain_db`, peak kept <= `peak_limit`)."""
    gain_db = min(target_dbfs - rms_dbfs(wav), max_gain_db)
    out = wav * (10.0 ** (gain_db / 20.0))
    peak = float(out.abs().max()) if out.numel() else 0.0
    if peak > peak_limit:
        out = out * (peak_limit / peak)
    return out
