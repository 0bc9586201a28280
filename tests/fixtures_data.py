"""Helpers that build small corpora in the real on-disk formats (good and bad files) and a local
HTTP server with Range support, for the data tests. Import from tests: `from fixtures_data import ...`.
"""
from __future__ import annotations

import contextlib
import http.server
import io
import tarfile
import threading
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf


def speechlike(seconds: float, sr: int, seed: int = 0, channels: int = 1) -> np.ndarray:
    """A voiced-speech-like test signal: harmonics of a wobbling f0 under a syllable-rate envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    sig = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = 0.5 * (1 + np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)))
    x = 0.25 * sig * env + 0.003 * rng.standard_normal(t.size)
    x = x.astype(np.float32)
    if channels > 1:
        x = np.stack([x * (1.0 - 0.2 * c) for c in range(channels)], axis=1)
    return x


def write_truncated(path: Path, data: np.ndarray, sr: int, keep: float = 0.5) -> None:
    """Write a valid file, then cut it to `keep` of its bytes (like an interrupted copy)."""
    fmt = "FLAC" if path.suffix == ".flac" else "WAV"
    buf = io.BytesIO()
    sf.write(buf, data, sr, format=fmt, subtype="PCM_16")
    blob = buf.getvalue()
    path.write_bytes(blob[: int(len(blob) * keep)])


def write_corrupt(path: Path, data: np.ndarray, sr: int) -> None:
    """Keep the header, scramble the body (a FLAC decoder loses sync)."""
    fmt = "FLAC" if path.suffix == ".flac" else "WAV"
    buf = io.BytesIO()
    sf.write(buf, data, sr, format=fmt, subtype="PCM_16")
    blob = bytearray(buf.getvalue())
    rng = np.random.default_rng(7)
    blob[200:] = rng.integers(0, 256, len(blob) - 200, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(blob))


def build_librispeech(root: Path, subset: str, speakers: dict[str, dict[str, int]], seed: int = 0,
                      seconds: float = 1.5) -> list[Path]:
    """root/LibriSpeech/<subset>/<spk>/<chap>/<spk>-<chap>-<utt>.flac + .trans.txt; returns the FLAC paths."""
    paths = []
    for spk, chapters in speakers.items():
        for chap, n in chapters.items():
            d = root / "LibriSpeech" / subset / spk / chap
            d.mkdir(parents=True, exist_ok=True)
            lines = []
            for u in range(n):
                utt = f"{spk}-{chap}-{u:04d}"
                p = d / f"{utt}.flac"
                sf.write(p, speechlike(seconds, 16000, seed=zlib.crc32(f"{spk}-{chap}-{u}".encode()) + seed), 16000,
                         format="FLAC", subtype="PCM_16")
                lines.append(f"{utt} TEST UTTERANCE NUMBER {u} OF {spk}")
                paths.append(p)
            (d / f"{spk}-{chap}.trans.txt").write_text("\n".join(lines) + "\n")
    return paths


def add_bad_librispeech_files(root: Path, subset: str) -> dict[str, str]:
    """Add one chapter with every kind of problem; returns {utterance id: expected outcome}."""
    spk, chap = "9999", "100"
    d = root / "LibriSpeech" / subset / spk / chap
    d.mkdir(parents=True, exist_ok=True)
    x = speechlike(1.5, 16000, seed=99)
    ids = {f"{spk}-{chap}-{i:04d}": kind for i, kind in enumerate(
        ["empty", "corrupt", "truncated", "garbage", "stereo", "rate44k", "missing", "good"])}
    inv = {v: k for k, v in ids.items()}
    (d / f"{inv['empty']}.flac").write_bytes(b"")
    write_corrupt(d / f"{inv['corrupt']}.flac", x, 16000)
    write_truncated(d / f"{inv['truncated']}.flac", x, 16000)
    (d / f"{inv['garbage']}.flac").write_bytes(b"this is not audio at all " * 40)
    sf.write(d / f"{inv['stereo']}.flac", speechlike(1.5, 16000, seed=5, channels=2), 16000, format="FLAC")
    sf.write(d / f"{inv['rate44k']}.flac", speechlike(1.5, 44100, seed=6), 44100, format="FLAC")
    sf.write(d / f"{inv['good']}.flac", x, 16000, format="FLAC")
    # "missing" is listed in the transcript but has no audio file
    (d / f"{spk}-{chap}.trans.txt").write_text("".join(f"{utt} SOME WORDS\n" for utt in ids))
    return ids


def build_ljspeech(root: Path, n: int, seconds: float = 1.2, bad: bool = False) -> Path:
    """root/LJSpeech-1.1/{metadata.csv, wavs/LJ001-0001.wav ...} at 22,050 Hz (like the real corpus)."""
    d = root / "LJSpeech-1.1"
    (d / "wavs").mkdir(parents=True, exist_ok=True)
    lines = []
    for k in range(n):
        utt = f"LJ001-{k + 1:04d}"
        sf.write(d / "wavs" / f"{utt}.wav", speechlike(seconds, 22050, seed=k), 22050, subtype="PCM_16")
        lines.append(f"{utt}|Text number {k + 1}, in 1850.|Text number {k + 1}, in eighteen fifty.")
    if bad:
        (d / "wavs" / "LJ002-0001.wav").write_bytes(b"")
        write_truncated(d / "wavs" / "LJ002-0002.wav", speechlike(seconds, 22050, seed=1), 22050)
        lines += ["LJ002-0001|empty|empty", "LJ002-0002|truncated|truncated"]
    (d / "metadata.csv").write_text("\n".join(lines) + "\n")
    return d


def make_tarball(src_root: Path, member: str, dest: Path) -> Path:
    """A .tar.gz of `src_root/member` with `member` as top-level folder (like the OpenSLR archives)."""
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(src_root / member, arcname=member)
    return dest


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support; can drop the connection after `cut_after` bytes once."""

    cut_after: int | None = None
    honour_range = True
    requests: list[str] = []

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        path = Path(self.translate_path(self.path))
        type(self).requests.append(self.headers.get("Range") or "")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        rng = self.headers.get("Range")
        if rng and self.honour_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = type(self).cut_after
        if cut is not None:
            type(self).cut_after = None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@contextlib.contextmanager
def http_server(directory: Path, cut_after: int | None = None, honour_range: bool = True) -> Iterator[tuple[str, type]]:
    """Serve `directory` on 127.0.0.1 (random port); yields (base URL, handler class for inspection)."""
    handler = type("Handler", (_RangeHandler,), {"cut_after": cut_after, "honour_range": honour_range, "requests": []})

    def factory(*args, **kwargs):
        return handler(*args, directory=str(directory), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), factory)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
