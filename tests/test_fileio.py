"""File I/O written once (issue 13 item 4): dscodec.fileio (digests, atomic writes, the checkpoint
reader) and dscodec.netprobe (the one reachability probe), and a scan of the package that keeps
them the only copies."""
from __future__ import annotations

import ast
import hashlib
import json
import os
import socket
from pathlib import Path

import pytest

from dscodec import fileio, netprobe

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "dscodec"


def test_digests_are_plain_sha256(tmp_path: Path) -> None:
    data = os.urandom(3 * fileio.CHUNK + 17)  # several blocks and a partial one
    path = tmp_path / "blob"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert fileio.sha256_file(path) == fileio.sha256_bytes(data) == expected
    assert fileio.sha256_chunks([data[:5], data[5:]]) == expected


def test_atomic_writes_leave_the_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.json"  # parent folders are created
    fileio.atomic_write_json(target, {"a": 1}, indent=2)
    assert target.read_text() == json.dumps({"a": 1}, indent=2) + "\n"
    fileio.atomic_write_json(target, {"b": 2}, newline=False)
    assert target.read_text() == '{"b": 2}'
    fileio.atomic_write_text(target, "é\n")
    assert target.read_bytes() == "é\n".encode()
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # the usual mode, not mkstemp's 0600


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path: Path) -> None:
    target = tmp_path / "last.pt"
    fileio.atomic_write_bytes(target, b"old")
    seen: list[str] = []

    def broken(handle: object) -> None:
        seen.extend(p.name for p in tmp_path.iterdir() if p.name != "last.pt")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        fileio.atomic_write(target, broken, fsync=True)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    # the temporary a kill would leave is the one the cleanup pattern recognises (and only it)
    assert len(seen) == 1 and fileio.temp_pattern("last.pt").fullmatch(seen[0])
    assert not fileio.temp_pattern("last.pt").fullmatch(".ckpt.pt.abcdefgh.tmp")


def test_read_checkpoint_reads_what_torch_saves_with_and_without_mmap(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = fileio.atomic_write(tmp_path / "ckpt.pt", lambda handle: torch.save({"step": 3, "w": torch.ones(2)}, handle))
    for mmap in (False, True):
        blob = fileio.read_checkpoint(path, "cpu", mmap=mmap)
        assert blob["step"] == 3 and torch.equal(blob["w"], torch.ones(2))


def test_the_probe_sees_a_listening_port_and_names_a_closed_one() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert netprobe.unreachable("127.0.0.1", port, timeout=2) is None
        netprobe.probe(f"http://127.0.0.1:{port}/weights.pt", timeout=2)
    why = netprobe.unreachable("127.0.0.1", port, timeout=2)
    assert why is not None and why.startswith(f"127.0.0.1:{port} unreachable (")
    with pytest.raises(OSError):
        netprobe.probe(f"http://127.0.0.1:{port}/weights.pt", timeout=2)


# Calls that belong to fileio / netprobe only. encode/decode stream their output into a visible
# partial file (commands/_paths.partial_path) that the CLI cleans up itself: that rename stays there.
WRITTEN_ONCE = {
    ("hashlib", "sha256"): {"fileio.py"},
    ("torch", "load"): {"fileio.py"},
    ("socket", "create_connection"): {"netprobe.py"},
    ("tempfile", "mkstemp"): {"fileio.py"},
    ("os", "replace"): {"fileio.py", "commands/encode.py", "commands/decode.py"},
}


def test_digests_atomic_writes_checkpoint_reads_and_probes_are_written_once() -> None:
    found: dict[tuple[str, str], set[str]] = {key: set() for key in WRITTEN_ONCE}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)):
                key = (node.func.value.id, node.func.attr)
                if key in found:
                    found[key].add(path.relative_to(PACKAGE).as_posix())
    assert found == WRITTEN_ONCE
