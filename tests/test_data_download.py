"""Downloader against a local HTTP server: resume with Range, checksum mismatch, extraction, prepare."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dscodec.config import load_config
from dscodec.data import download
from dscodec.data.manifest import read_manifest
from dscodec.data.prepare import prepare
from dscodec.errors import DataError
from fixtures_data import build_librispeech, http_server, make_tarball


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def served(tmp_path: Path) -> Path:
    """A dev-clean-like archive, as OpenSLR lays it out (LibriSpeech/dev-clean/... inside)."""
    src = tmp_path / "src"
    build_librispeech(src, "dev-clean", {"84": {"121123": 3}, "174": {"50561": 2}}, seconds=2.0)
    www = tmp_path / "www"
    www.mkdir()
    make_tarball(src, "LibriSpeech", www / "dev-clean.tar.gz")
    return www


def test_interrupted_download_resumes_with_range(served: Path, tmp_path: Path) -> None:
    archive = served / "dev-clean.tar.gz"
    dest = tmp_path / "dl" / "dev-clean.tar.gz"
    cut = archive.stat().st_size // 3
    with http_server(served, cut_after=cut) as (url, handler):
        with pytest.raises(DataError, match="rerun to resume"):
            download.download(f"{url}/dev-clean.tar.gz", dest, _sha(archive), log=lambda _: None)
        part = dest.with_name(dest.name + ".part")
        assert part.stat().st_size == cut and not dest.exists()
        download.download(f"{url}/dev-clean.tar.gz", dest, _sha(archive), log=lambda _: None)
        assert handler.requests == ["", f"bytes={cut}-"]  # the second request resumed
    assert dest.read_bytes() == archive.read_bytes() and not part.exists()
    with http_server(served) as (url, handler):  # already there and verified: no request at all
        download.download(f"{url}/dev-clean.tar.gz", dest, _sha(archive), log=lambda _: None)
        assert handler.requests == []


def test_server_without_range_support_restarts_cleanly(served: Path, tmp_path: Path) -> None:
    archive = served / "dev-clean.tar.gz"
    dest = tmp_path / "dev-clean.tar.gz"
    dest.with_name(dest.name + ".part").write_bytes(b"stale bytes from another attempt")
    with http_server(served, honour_range=False) as (url, _):
        download.download(f"{url}/dev-clean.tar.gz", dest, _sha(archive), log=lambda _: None)
    assert _sha(dest) == _sha(archive)


def test_checksum_mismatch_fails_and_removes_the_file(served: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dev-clean.tar.gz"
    with http_server(served) as (url, _):
        with pytest.raises(DataError, match="SHA-256 mismatch"):
            download.download(f"{url}/dev-clean.tar.gz", dest, "0" * 64, log=lambda _: None)
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()
    with http_server(served) as (url, _):
        with pytest.raises(DataError, match="HTTP 404"):
            download.download(f"{url}/nope.tar.gz", dest, "0" * 64, log=lambda _: None)


def test_prepare_with_source_download_fetches_extracts_and_reads(served: Path, tmp_path: Path, monkeypatch) -> None:
    archive = served / "dev-clean.tar.gz"
    root = tmp_path / "librispeech"
    with http_server(served) as (url, _):
        fake = download.Archive("dev-clean.tar.gz", f"{url}/dev-clean.tar.gz", _sha(archive), "LibriSpeech/dev-clean")
        # every configured subset is served by the same small archive
        monkeypatch.setattr(download, "LIBRISPEECH", {s: fake for s in download.LIBRISPEECH})
        cfg = load_config(overrides={"results_dir": str(tmp_path / "results"), "data": {"librispeech": {
            "source": "download", "root": str(root), "train_subsets": ["train-clean-100"],
            "dev_subset": "dev-clean", "test_subset": "test-clean"}}})
        with pytest.raises(DataError, match="test-clean"):  # the archive held dev-clean only
            prepare(cfg, "librispeech", tmp_path / "data")
    stamp = json.loads((tmp_path / "data" / "download.json").read_text())
    assert stamp["archives"][0]["sha256"] == _sha(archive)
    assert (root / "LibriSpeech" / "dev-clean" / "84" / "121123" / "84-121123.trans.txt").is_file()
    cfg["data"]["librispeech"].update(train_subsets=["train-clean-100"], test_subset="test-clean")
    # point train/test at dev-clean's tree to finish the flow (same files, three manifests)
    for subset in ("train-clean-100", "test-clean"):
        (root / "LibriSpeech" / subset).symlink_to(root / "LibriSpeech" / "dev-clean")
    prepare(cfg, "librispeech", tmp_path / "data")
    assert len(read_manifest(tmp_path / "data" / "dev.tsv")) == 5


def test_known_archives_have_sha256_checksums() -> None:
    assert set(download.LIBRISPEECH) >= {"train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "test-clean"}
    for arc in [*download.LIBRISPEECH.values(), download.LJSPEECH]:
        assert len(arc.sha256) == 64 and int(arc.sha256, 16) >= 0
        assert arc.url.startswith("https://")
