"""Text-to-speech engines for the synthetic sample corpus: flite, espeak-ng, and espeak-ng via ctypes.

Why three: flite's voices (awb, rms, slt, kal16) sound most natural but need a system
package; the espeak-ng program has dozens of English accents and voice variants; and the
pip package `espeakng-loader` ships libespeak-ng with its data, so the pipeline can always
synthesise speech without root. Each engine turns (text, voice, speed, pitch) into a mono
float32 waveform at the engine's native rate.
"""
from __future__ import annotations

import ctypes
import io
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from dscodec.errors import DataError


@dataclass(frozen=True)
class Voice:
    engine: str   # engine name, as in `data.sample_corpus.engines`
    name: str     # flite voice name, or espeak-ng "language+variant"
    gender: str   # "f" | "m": only used to give the LJSpeech-style corpus a female voice like LJ's

    @property
    def key(self) -> str:
        """Engine-independent identity: espeak-ng CLI and library share voices."""
        family = "espeak" if self.engine.startswith("espeak") else self.engine
        return f"{family}:{self.name}"


# flite's built-in voices at 16 kHz (`kal` is 8 kHz and `awb_time` a talking clock: not used).
FLITE_VOICES = [("awb", "m"), ("slt", "f"), ("rms", "m"), ("kal16", "m")]
# espeak-ng accents x voice variants, chosen to sound clearly different from one another.
ESPEAK_VOICES = [
    ("en-us+m3", "m"), ("en+f2", "f"), ("en-gb-scotland+m1", "m"), ("en-us+f4", "f"),
    ("en-gb-x-rp+m7", "m"), ("en-029+f3", "f"), ("en-gb-x-gbclan+m2", "m"), ("en-us-nyc+f1", "f"),
    ("en-gb-x-gbcwmd+m4", "m"), ("en-us+f5", "f"), ("en+m5", "m"), ("en-us+m6", "m"),
    ("en-gb-scotland+f2", "f"), ("en-us+m1", "m"), ("en-gb-x-rp+f4", "f"), ("en-029+m2", "m"),
]


class Engine:
    name: str = ""

    def available(self) -> bool:
        raise NotImplementedError

    def version(self) -> str:
        return ""

    def voices(self) -> list[Voice]:
        raise NotImplementedError

    def synth(self, text: str, voice: Voice, speed: float, pitch: int) -> tuple[np.ndarray, int]:
        """Waveform (float32, mono) and its sample rate. `speed` 1.0 = engine default, `pitch` 0..99."""
        raise NotImplementedError


class FliteEngine(Engine):
    name = "flite"

    def available(self) -> bool:
        return shutil.which("flite") is not None

    def version(self) -> str:
        out = subprocess.run(["flite", "--version"], capture_output=True, text=True).stdout
        return out.strip().splitlines()[-1] if out.strip() else "unknown"

    def voices(self) -> list[Voice]:
        listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout.split()
        return [Voice(self.name, v, g) for v, g in FLITE_VOICES if v in listed]

    def synth(self, text: str, voice: Voice, speed: float, pitch: int) -> tuple[np.ndarray, int]:
        # flite's clunit/cg voices do not follow an f0 target reliably, so only the rate varies.
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "out.wav"
            cmd = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={1.0 / speed:.4f}",
                   "-t", text, "-o", str(wav)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0 or not wav.is_file():
                raise DataError(f"flite failed for voice {voice.name}: {proc.stderr.strip()}")
            data, sr = sf.read(str(wav), dtype="float32")
        return data, sr


class EspeakCliEngine(Engine):
    name = "espeak-ng"

    def available(self) -> bool:
        return shutil.which("espeak-ng") is not None

    def version(self) -> str:
        return subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip()

    def voices(self) -> list[Voice]:
        return [Voice(self.name, v, g) for v, g in ESPEAK_VOICES]

    def synth(self, text: str, voice: Voice, speed: float, pitch: int) -> tuple[np.ndarray, int]:
        cmd = ["espeak-ng", "-b", "1", "-v", voice.name, "-s", str(int(round(175 * speed))), "-p", str(pitch),
               "--stdout", text]
        proc = subprocess.run(cmd, capture_output=True)
        if proc.returncode != 0 or not proc.stdout:
            raise DataError(f"espeak-ng failed for voice {voice.name}: {proc.stderr.decode(errors='replace').strip()}")
        data, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32")
        return data, sr


class EspeakLibEngine(Engine):
    """libespeak-ng from the `espeakng-loader` wheel, driven through its C API with ctypes."""

    name = "espeakng-loader"
    _lock = threading.Lock()
    _lib: ctypes.CDLL | None = None
    _rate = 0
    _chunks: list[np.ndarray] = []
    _CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
    _callback = None

    def available(self) -> bool:
        try:
            import espeakng_loader  # noqa: F401
        except ImportError:
            return False
        return True

    def version(self) -> str:
        from importlib.metadata import version

        return f"espeakng-loader {version('espeakng-loader')}"

    def voices(self) -> list[Voice]:
        return [Voice(self.name, v, g) for v, g in ESPEAK_VOICES]

    @classmethod
    def _init(cls) -> ctypes.CDLL:
        if cls._lib is None:
            import espeakng_loader

            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            # AUDIO_OUTPUT_SYNCHRONOUS = 2: espeak_Synth returns when done, samples come back through
            # the callback in the calling thread (no background thread, so forking is safe).
            rate = lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0)
            if rate <= 0:
                raise DataError("espeakng-loader: espeak_Initialize failed")

            def collect(wav, n, _events):  # noqa: ANN001 (ctypes callback)
                if wav and n > 0:
                    cls._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
                return 0

            cls._callback = cls._CALLBACK(collect)
            lib.espeak_SetSynthCallback(cls._callback)
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                         ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
            cls._lib, cls._rate = lib, rate
        return cls._lib

    def _synth_here(self, text: str, voice: Voice, speed: float, pitch: int) -> np.ndarray:
        lib = self._init()
        if hasattr(lib, "espeak_ng_SetRandSeed"):
            lib.espeak_ng_SetRandSeed(0)
        if lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise DataError(f"espeakng-loader: unknown voice {voice.name}")
        lib.espeak_SetParameter(1, int(round(175 * speed)), 0)  # espeakRATE (words per minute)
        lib.espeak_SetParameter(3, int(pitch), 0)  # espeakPITCH (0..99)
        self._chunks.clear()
        data = text.encode("utf-8")
        # position 0, POS_CHARACTER, no end, espeakCHARS_UTF8
        if lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 1, None, None) != 0:
            raise DataError(f"espeakng-loader: synthesis failed for {text[:40]!r}")
        lib.espeak_Synchronize()
        pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        self._chunks.clear()
        return pcm.astype(np.int16)

    def synth(self, text: str, voice: Voice, speed: float, pitch: int) -> tuple[np.ndarray, int]:
        """Synthesise in a forked child of an initialised-but-unused library.

        libespeak-ng carries state from one utterance into the next (the same call gives
        slightly different samples the second time), so for reproducible output every
        utterance starts from the same fresh state, exactly like one `espeak-ng` process per call.
        """
        with self._lock:  # the library keeps global state
            self._init()
            if not hasattr(os, "fork"):  # pragma: no cover - non-POSIX: in-process, not bit-reproducible
                return self._synth_here(text, voice, speed, pitch).astype(np.float32) / 32768.0, self._rate
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: synthesise once, send the samples back, exit without cleanup
                status = 0
                try:
                    os.close(read_fd)
                    payload = b"O" + self._synth_here(text, voice, speed, pitch).tobytes()
                except BaseException as err:  # noqa: BLE001 - reported to the parent as text
                    payload, status = b"E" + str(err).encode(), 1
                with os.fdopen(write_fd, "wb") as fh:
                    fh.write(payload)
                os._exit(status)
            os.close(write_fd)
            with os.fdopen(read_fd, "rb") as fh:
                payload = fh.read()
            os.waitpid(pid, 0)
        if not payload.startswith(b"O"):
            message = payload[1:].decode(errors="replace") or "worker process died"
            raise DataError(message if message.startswith("espeakng-loader") else f"espeakng-loader: {message}")
        pcm = np.frombuffer(payload[1:], dtype=np.int16)
        return pcm.astype(np.float32) / 32768.0, self._rate


ENGINES: dict[str, type[Engine]] = {e.name: e for e in (FliteEngine, EspeakCliEngine, EspeakLibEngine)}
