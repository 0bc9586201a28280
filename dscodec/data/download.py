"""Fetch, verify and extract the public corpora: resumable HTTP downloads with checksums.

Checksums are SHA-256 of the published archives, the same values torchaudio's dataset
classes verify against (torchaudio/datasets/librispeech.py and ljspeech.py). An interrupted
download resumes from `<archive>.part` with an HTTP Range request; a server that ignores the
range restarts it from the beginning. A checksum mismatch deletes the file and fails, so a
rerun fetches a clean copy instead of extracting a broken archive.
"""
from __future__ import annotations

import http.client
import json
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dscodec.errors import DataError
from dscodec.fileio import sha256_file
from dscodec.progress import Progress

OPENSLR_12 = "https://www.openslr.org/resources/12"


@dataclass(frozen=True)
class Archive:
    name: str        # file name of the archive
    url: str
    sha256: str
    extracts_to: str  # path (relative to the extraction folder) that exists once extracted


def _libri(subset: str, sha256: str) -> Archive:
    return Archive(f"{subset}.tar.gz", f"{OPENSLR_12}/{subset}.tar.gz", sha256, f"LibriSpeech/{subset}")


LIBRISPEECH: dict[str, Archive] = {
    a.name.removesuffix(".tar.gz"): a
    for a in (
        _libri("dev-clean", "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3"),
        _libri("dev-other", "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365"),
        _libri("test-clean", "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23"),
        _libri("test-other", "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29"),
        _libri("train-clean-100", "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2"),
        _libri("train-clean-360", "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf"),
        _libri("train-other-500", "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2"),
    )
}
LJSPEECH = Archive(
    "LJSpeech-1.1.tar.bz2",
    "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2",
    "be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5",
    "LJSpeech-1.1",
)


def _expected_total(resp, have: int) -> int | None:  # noqa: ANN001 (http response)
    """Full size of the file from Content-Range (206) or Content-Length (200), if the server says."""
    content_range = resp.headers.get("Content-Range", "")
    if resp.status == 206 and "/" in content_range and not content_range.endswith("*"):
        return int(content_range.rsplit("/", 1)[1])
    length = resp.headers.get("Content-Length")
    return int(length) + (have if resp.status == 206 else 0) if length else None


def _copy(resp, out, tick: Callable[[float], None] = lambda n: None) -> None:  # noqa: ANN001 (http response, binary file)
    """Copy the body in blocks, keeping whatever arrived before a dropped connection (for resuming)."""
    while True:
        try:
            block = resp.read(1 << 16)
        except http.client.IncompleteRead as err:
            out.write(err.partial)
            raise
        if not block:
            return
        out.write(block)
        tick(len(block))


def download(url: str, dest: Path, sha256: str, timeout: float = 60.0,
             log: Callable[[str], None] = print) -> Path:
    """Download `url` to `dest`, resuming `dest.part` if present, and verify its SHA-256.

    An existing `dest` with the right checksum is kept (idempotent reruns).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        if sha256_file(dest) == sha256:
            return dest
        log(f"{dest}: checksum differs from the published one; downloading again")
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            if have and resp.status != 206:
                log(f"{url}: server ignored the range request; restarting the download")
                have = 0
            log(f"downloading {url} -> {dest}" + (f" (resuming at {have} bytes)" if have else ""))
            total = _expected_total(resp, have)
            ticker = Progress(f"download {dest.name}", total, "B", done=have, emit=log)
            with open(part, "ab" if have else "wb") as out:
                _copy(resp, out, ticker.update)
            ticker.close()
        if total is not None and part.stat().st_size < total:
            raise DataError(f"download of {url} stopped at {part.stat().st_size} of {total} bytes; "
                            f"{part} is kept, rerun to resume")
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # range past the end: the .part is already complete
            pass
        else:
            raise DataError(f"download of {url} failed: HTTP {err.code} {err.reason}") from err
    except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as err:
        raise DataError(f"download of {url} failed ({err}); {part} is kept, rerun to resume") from err
    got = sha256_file(part)
    if got != sha256:
        part.unlink()
        raise DataError(
            f"{url}: SHA-256 mismatch (expected {sha256}, got {got}); the broken download was deleted, rerun to fetch it again"
        )
    part.replace(dest)
    return dest


def extract(archive: Path, into: Path, expect: str, log: Callable[[str], None] = print) -> Path:
    """Extract a tar archive into `into` once (a stamp file records a finished extraction)."""
    target = into / expect
    stamp = into / f".{archive.name}.extracted"
    if stamp.is_file() and target.exists():
        return target
    log(f"extracting {archive} -> {into}")
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(f"{archive}: extraction failed ({err}); delete it and rerun to download it again") from err
    if not target.exists():
        raise DataError(f"{archive}: extracted, but {target} is not there (not the expected archive?)")
    stamp.write_text(json.dumps({"archive": archive.name}) + "\n")
    return target


def fetch(archives: list[Archive], root: Path, log: Callable[[str], None] = print) -> list[dict]:
    """Download + verify + extract each archive into `root`; returns what was done, for the stamp file."""
    done = []
    for arc in archives:
        path = root / arc.name
        if not ((root / f".{arc.name}.extracted").is_file() and (root / arc.extracts_to).exists()):
            download(arc.url, path, arc.sha256, log=log)
            extract(path, root, arc.extracts_to, log=log)
        done.append({"archive": str(path), "url": arc.url, "sha256": arc.sha256, "extracted": str(root / arc.extracts_to)})
    return done
