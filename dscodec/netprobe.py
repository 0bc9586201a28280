"""Is a host reachable? One TCP probe, with one timeout, before any download or hub lookup.

Why: torch.hub's downloader has no timeout and huggingface_hub retries for ~30 s, so an offline
machine would hang or stall every loader; a bare TCP connection answers within PROBE_TIMEOUT_S,
and the loader then reports its baseline or metric as not run, saying why.
"""
from __future__ import annotations

import socket
import urllib.parse

PROBE_TIMEOUT_S = 5.0


def connect(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Open and close a TCP connection to ``host:port``; OSError when it does not open in ``timeout`` s."""
    with socket.create_connection((host, port), timeout=timeout):
        pass


def probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """connect() to the URL's host and port (443 for https, else 80 unless the URL names one)."""
    parts = urllib.parse.urlsplit(url)
    connect(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), timeout)


def unreachable(host: str, port: int = 443, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when ``host:port`` answers, else the reason as text (for a "not run" note)."""
    try:
        connect(host, port, timeout)
        return None
    except OSError as err:
        return f"{host}:{port} unreachable ({err})"
