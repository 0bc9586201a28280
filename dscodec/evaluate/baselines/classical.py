"""Classical speech codecs as offline reference points: Opus (libopus) and Codec2.

Issue 5 ("Baselines") asks for codecs that work without any download, so that every run, even
offline, has real points on the bitrate-quality plane next to the neural codecs of Table 1.

Why the reference command-line tools and not Python bindings: ``opusenc``/``opusdec``/``opusinfo``
(Xiph's opus-tools) expose every encoder setting we need (bitrate, frame size, CBR/VBR, speech
tuning), write a standard Ogg Opus file whose header carries the pre-skip, and their decoder
trims pre-skip and end padding itself; ``opuslib`` (the only libopus binding on PyPI with any
use) has been unmaintained since 2018 and has no container. For Codec2, ``c2enc``/``c2dec`` are
the codec2 project's own reference programs; the ``pycodec2`` wheel would also work but adds a
dependency for no gain here. Both tool sets come from Debian (``make system-deps`` installs the
``opus-tools`` and ``codec2`` packages); without them ``load()`` raises
:class:`BaselineUnavailable` and the reports list the codec as *not run*.

Delays, measured on speech with the tools above (libopus 1.3.1, opus-tools 0.2, codec2 1.0.5),
declared in ``CodecInfo.nominal_delay_samples`` so that the runner searches around them:
* Opus: none. The encoder's look-ahead is stored as pre-skip in the Ogg header and ``opusdec``
  drops it (and the end padding, via the final granule position): output and input have the
  same length and a waveform cross-correlation lag of 0-1 samples.
* Codec2: about 20 ms (320 samples at 16 kHz) that the decoder does not remove; we pad the
  input by one frame so that nothing is cut off. Codec2 resynthesises the phase, so its
  waveform cross-correlation has no real peak (normalised maxima 0.1-0.3 at random lags);
  spectral-envelope alignment (dscodec/evaluate/align.py) measures 289-346 samples on flite
  and espeak-ng speech (9 voices) in both modes.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import threading
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import soundfile as sf
import torch

from dscodec.errors import AudioError, ConfigError, DSCodecError
from dscodec.evaluate.baselines.base import SAMPLE_RATE, BaselineUnavailable, CodecInfo, Reconstructor


class CodecToolError(DSCodecError):
    """An external codec program failed on one utterance (the message carries its stderr)."""


@dataclass(frozen=True)
class BitrateMeasurement:
    """Bits actually spent on one utterance, over the utterance's duration (not the padded one).

    ``payload_bits`` counts codec packets only (what Table 1's bitrates mean; ``None`` when it
    could not be read); ``file_bits`` is the whole file, i.e. for Opus including the Ogg pages
    and the two header packets, which weigh a lot on a 3 s utterance (about 1.4 kbps on top of
    6 kbps).
    """

    payload_bits: float | None
    file_bits: int
    duration_s: float

    @property
    def payload_kbps(self) -> float | None:
        return None if self.payload_bits is None else self.payload_bits / self.duration_s / 1000

    @property
    def file_kbps(self) -> float:
        return self.file_bits / self.duration_s / 1000


@dataclass(frozen=True)
class Transcoded:
    audio: np.ndarray              # float32 [T'] at 16 kHz
    bitrate: BitrateMeasurement


def _require(tool: str, apt_package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise BaselineUnavailable(
            f"`{tool}` not found on PATH; install the Debian package `{apt_package}` "
            f"(`make system-deps`, or `apt-get install {apt_package}`)")
    return path


def _run(cmd: list[str]) -> str:
    """Run one codec program; a non-zero exit becomes a CodecToolError with its stderr."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CodecToolError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return proc.stdout


def _check_input(wav: np.ndarray) -> np.ndarray:
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1 or wav.size == 0:
        raise AudioError(f"expected a non-empty mono waveform [T], got shape {wav.shape}")
    if not np.isfinite(wav).all():
        raise AudioError("waveform contains NaN or infinite samples")
    return wav


def _resample(wav: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    import torchaudio.functional as AF

    return AF.resample(torch.from_numpy(wav), orig_sr, target_sr).numpy()


class _ToolCodec(Reconstructor):
    """Shared plumbing: ``transcode`` does the work; ``reconstruct`` also adds up the bits spent.

    The totals give the measured bitrate over everything reconstructed so far, with the same
    attribute names as DS-Codec's reconstructor (``measured_bitrate_kbps`` = payload,
    ``measured_file_bitrate_kbps`` = whole files, ``nominal_bitrate_kbps``).
    """

    def __init__(self, name: str, spec: Mapping[str, Any], cache_dir: str | Path | None = None) -> None:
        self.name = name
        self.spec = dict(spec)
        self.last_bitrate: BitrateMeasurement | None = None
        self._lock = threading.Lock()
        self._payload_bits: float | None = 0.0
        self._file_bits = 0
        self._seconds = 0.0

    def _key(self, key: str) -> str:
        return f"evaluation.baselines.{self.name}.{key}"

    @abstractmethod
    def transcode(self, wav: np.ndarray) -> Transcoded:
        """Encode and decode one utterance with the external tools, measuring the bits spent."""

    def reconstruct(self, wav: np.ndarray) -> np.ndarray:
        result = self.transcode(wav)
        with self._lock:
            self.last_bitrate = result.bitrate
            if self._payload_bits is not None and result.bitrate.payload_bits is not None:
                self._payload_bits += result.bitrate.payload_bits
            else:
                self._payload_bits = None  # one unreadable utterance makes the total unknown, not smaller
            self._file_bits += result.bitrate.file_bits
            self._seconds += result.bitrate.duration_s
        return result.audio

    def accounting(self) -> dict[str, Any]:
        with self._lock:
            return {"payload_bits": self._payload_bits, "file_bits": self._file_bits, "seconds": self._seconds}

    def restore_accounting(self, state: Mapping[str, Any]) -> None:
        with self._lock:
            payload = state["payload_bits"]
            self._payload_bits = None if payload is None else float(payload)
            self._file_bits = int(state["file_bits"])
            self._seconds = float(state["seconds"])

    @property
    def nominal_bitrate_kbps(self) -> float | None:
        return self.info.bitrate_kbps

    @property
    def measured_bitrate_kbps(self) -> float | None:
        """Codec payload bits of every utterance reconstructed so far over their seconds."""
        with self._lock:
            if self._seconds <= 0 or self._payload_bits is None:
                return None
            return self._payload_bits / self._seconds / 1000

    @property
    def measured_file_bitrate_kbps(self) -> float | None:
        """Same with whole files (for Opus: Ogg container and headers included)."""
        with self._lock:
            return None if self._seconds <= 0 else self._file_bits / self._seconds / 1000


class OpusCodec(_ToolCodec):
    """Opus through opusenc/opusdec; ``spec``: ``bitrate`` (bit/s, 6000-256000),
    optional ``framesize_ms`` (default 20) and ``bitrate_mode`` (default ``vbr``).

    Settings, for a fair point at Opus's lowest speech bitrate: ``--speech`` (SILK tuning for
    voice instead of automatic music/speech detection), 20 ms frames (Opus's default and the
    usual VoIP setting), complexity 10, and *VBR*, opusenc's default and how Opus is run for
    speech: the target is an average, each frame spends what its content needs. Hard CBR (issue
    11: the earlier default) gives every frame the same size whatever it holds; on espeak-ng
    speech at 6 kbps it spent 6.0 kbps for a waveform correlation of 0.52-0.73 with the input,
    VBR 5.7-6.0 kbps for 0.70-0.82. The bitrate in the tables is still measured, from the packet
    payload (``opusinfo``), so a VBR utterance that spends 5.8 or 6.1 kbps is reported as such;
    the mode is in ``info.settings`` and hence the table footers. ``--serial 1`` makes the
    bitstream reproducible; ``--float`` on decoding avoids opusdec's random dither.
    """

    FRAME_SIZES_MS = (2.5, 5, 10, 20, 40, 60)
    BITRATE_MODES = ("hard-cbr", "cvbr", "vbr")
    _PAYLOAD = re.compile(r"w/o overhead:\s*([0-9.]+)\s*kbit/s")

    def __init__(self, name: str, spec: Mapping[str, Any], cache_dir: str | Path | None = None) -> None:
        super().__init__(name, spec, cache_dir)
        bitrate = self.spec.get("bitrate")
        if isinstance(bitrate, bool) or not isinstance(bitrate, (int, float)) or not 6000 <= bitrate <= 256000:
            raise ConfigError(f"{self._key('bitrate')}: Opus bitrate in bit/s between 6000 and 256000, got {bitrate!r}")
        self.bitrate = float(bitrate)
        self.framesize_ms = self.spec.get("framesize_ms", 20)
        if self.framesize_ms not in self.FRAME_SIZES_MS:
            raise ConfigError(f"{self._key('framesize_ms')}: one of {self.FRAME_SIZES_MS}, got {self.framesize_ms!r}")
        self.bitrate_mode = self.spec.get("bitrate_mode", "vbr")
        if self.bitrate_mode not in self.BITRATE_MODES:
            raise ConfigError(f"{self._key('bitrate_mode')}: one of {self.BITRATE_MODES}, got {self.bitrate_mode!r}")

    @property
    def info(self) -> CodecInfo:
        kbps = self.bitrate / 1000
        # Ogg Opus runs on a 48 kHz clock (RFC 7845); opusenc/opusdec convert from/to 16 kHz.
        mode = {"vbr": "VBR", "cvbr": "constrained VBR", "hard-cbr": "hard CBR"}[self.bitrate_mode]
        return CodecInfo(label=f"Opus ({kbps:g} kbps)", bitrate_kbps=kbps, tokens_per_second=None,
                         n_codebooks=None, native_sample_rate=48000, nominal_delay_samples=0,
                         settings=(f"{mode} (opusenc --{self.bitrate_mode}), {self.framesize_ms:g} ms frames, "
                                   "--speech, complexity 10"))

    def load(self) -> None:
        for tool in ("opusenc", "opusdec", "opusinfo"):
            _require(tool, "opus-tools")

    def encode_command(self, wav_in: Path, opus_out: Path) -> list[str]:
        return [_require("opusenc", "opus-tools"), "--quiet", "--bitrate", f"{self.bitrate / 1000:g}",
                "--framesize", f"{self.framesize_ms:g}", f"--{self.bitrate_mode}", "--speech", "--comp", "10",
                "--serial", "1", "--discard-comments", "--padding", "0", str(wav_in), str(opus_out)]

    def decode_command(self, opus_in: Path, wav_out: Path) -> list[str]:
        return [_require("opusdec", "opus-tools"), "--quiet", "--rate", str(SAMPLE_RATE), "--float",
                str(opus_in), str(wav_out)]

    def transcode(self, wav: np.ndarray) -> Transcoded:
        wav = _check_input(wav)
        with tempfile.TemporaryDirectory(prefix="dscodec-opus-") as tmp:
            src, coded, out = Path(tmp, "in.wav"), Path(tmp, "coded.opus"), Path(tmp, "out.wav")
            sf.write(str(src), wav, SAMPLE_RATE, subtype="FLOAT")
            _run(self.encode_command(src, coded))
            _run(self.decode_command(coded, out))
            audio, sr = sf.read(str(out), dtype="float32")
            file_bits = coded.stat().st_size * 8
            match = self._PAYLOAD.search(_run([_require("opusinfo", "opus-tools"), str(coded)]))
        if sr != SAMPLE_RATE:
            raise CodecToolError(f"opusdec wrote {sr} Hz instead of {SAMPLE_RATE} Hz")
        duration = wav.size / SAMPLE_RATE
        # opusinfo's packet-only rate ("w/o overhead", 3 decimals) over the playback length, which
        # opusdec makes equal to the input duration
        payload_bits = float(match.group(1)) * 1000 * duration if match else None
        return Transcoded(audio, BitrateMeasurement(payload_bits, file_bits, duration))


class Codec2Codec(_ToolCodec):
    """Codec2 through c2enc/c2dec at 8 kHz; ``spec``: ``mode`` (e.g. 1200 or 3200 bit/s).

    Codec2 is a narrow-band (8 kHz) sinusoidal vocoder: we resample 16 -> 8 kHz with
    torchaudio's band-limited resampler, write raw signed 16-bit PCM, and resample the decoded
    speech back to 16 kHz. The bit file is written headerless (c2enc adds a 7-byte mode header
    only when the file name ends in ``.c2``), so its size is exactly the codec payload.
    c2enc drops a trailing partial frame, so the input is zero-padded to whole frames plus one
    frame, which also flushes the codec's ~20 ms delay; the output is therefore a little longer
    than the input and delayed (see the module docstring), and the runner aligns it on the
    spectral envelope around the declared 320 samples.
    """

    # mode -> frame duration in ms (codec2 1.0 `c2enc` usage; 450/450PWB need special builds)
    FRAME_MS = {"3200": 20, "2400": 20, "1600": 40, "1400": 40, "1300": 40, "1200": 40, "700C": 40}
    RATE = 8000
    DELAY_SAMPLES = 320   # 20 ms at 16 kHz, every mode (see the module docstring)

    def __init__(self, name: str, spec: Mapping[str, Any], cache_dir: str | Path | None = None) -> None:
        super().__init__(name, spec, cache_dir)
        mode = str(self.spec.get("mode")).upper()
        if mode not in self.FRAME_MS:
            raise ConfigError(f"{self._key('mode')}: one of {', '.join(self.FRAME_MS)}, got {self.spec.get('mode')!r}")
        self.mode = mode
        self.frame_samples = self.FRAME_MS[mode] * self.RATE // 1000

    @property
    def info(self) -> CodecInfo:
        kbps = int(self.mode.rstrip("C")) / 1000
        return CodecInfo(label=f"Codec2 ({kbps:g} kbps)", bitrate_kbps=kbps, tokens_per_second=None,
                         n_codebooks=None, native_sample_rate=self.RATE, nominal_delay_samples=self.DELAY_SAMPLES,
                         settings=f"mode {self.mode} at 8 kHz (c2enc/c2dec), fixed rate")

    def load(self) -> None:
        for tool in ("c2enc", "c2dec"):
            _require(tool, "codec2")

    def transcode(self, wav: np.ndarray) -> Transcoded:
        wav = _check_input(wav)
        narrow = _resample(wav, SAMPLE_RATE, self.RATE)
        frames = -(-narrow.size // self.frame_samples) + 1
        pcm = np.zeros(frames * self.frame_samples, dtype="<i2")
        pcm[: narrow.size] = np.round(np.clip(narrow, -1.0, 1.0) * 32767).astype("<i2")
        with tempfile.TemporaryDirectory(prefix="dscodec-codec2-") as tmp:
            raw_in, bits, raw_out = Path(tmp, "in.raw"), Path(tmp, "coded.bin"), Path(tmp, "out.raw")
            pcm.tofile(raw_in)
            _run([_require("c2enc", "codec2"), self.mode, str(raw_in), str(bits)])
            _run([_require("c2dec", "codec2"), self.mode, str(bits), str(raw_out)])
            n_bytes = bits.stat().st_size
            decoded = np.fromfile(raw_out, dtype="<i2").astype(np.float32) / 32768.0
        if decoded.size == 0:
            raise CodecToolError("c2dec produced no samples")
        audio = _resample(decoded, self.RATE, SAMPLE_RATE).astype(np.float32)
        return Transcoded(audio, BitrateMeasurement(n_bytes * 8, n_bytes * 8, wav.size / SAMPLE_RATE))
