"""The .dsc bitstream: DS-Codec tokens in a compact, self-checking file.

Layout of format version 2 (all integers little-endian):

    offset  size  field
    0       4     magic  b"DSC\\x00"
    4       1     version (2)
    5       1     bits per token  b = ceil(log2 codebook_size)
    6       4     sample rate of the decoded audio (Hz)          uint32
    10      4     hop length (samples per token)                 uint32
    14      4     codebook size K (distinct tokens)              uint32
    18      4     frame count N (tokens)                         uint32
    22      4     number of audio samples at the sample rate     uint32
                  (to trim the decoder's N * hop output back to the input length)
    26      1     quantizer kind: 1 = vq, 2 = pq, 0 = not recorded
    27      8     model fingerprint: the first 8 bytes of SHA-256 over the quantizer's
                  parameters (codebooks and projections, float32, sorted by name);
                  zeros when not recorded
    35      P     payload: the N tokens, each as b bits, most significant bit first,
                  concatenated and zero-padded to a whole byte: P = ceil(N * b / 8)
    35+P    4     CRC-32 (zlib) of every byte before it          uint32

The header costs 39 bytes in all, so a file of N tokens has 39 + ceil(N b / 8) bytes;
`bitrate_bps` reports the payload rate (N b bits over the duration), and reports can
also quote the file rate. `read` raises BitstreamError for a foreign, truncated,
corrupt or inconsistent file.

Why the fingerprint: tokens are indices into one model's codebook, so a stream decoded
by another checkpoint of the same rate, hop and codebook size is garbage without any
error. Decoding checks it (`check_identity`): a mismatch is refused, naming both. The
decoder does not enter it, so stage-1 and stage-2 checkpoints of one system (encoder and
quantizer frozen in stage 2) share it. Version 1 files (the same layout without bytes
26-34, a 30-byte header) are still read; they carry no identity and decode with a warning.
"""
from __future__ import annotations

import math
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from dscodec.errors import BitstreamError
from dscodec.fileio import sha256_chunks

MAGIC = b"DSC\x00"
VERSION = 2
_HEADER_V1 = struct.Struct("<4sBBIIIII")
_IDENTITY = struct.Struct("<B8s")  # quantizer kind, fingerprint (version 2 on)
_HEADERS = {1: _HEADER_V1.size, 2: _HEADER_V1.size + _IDENTITY.size}
_CRC = struct.Struct("<I")
HEADER_BYTES = _HEADERS[VERSION] + _CRC.size
FINGERPRINT_BYTES = 8
QUANTIZER_CODES = {"vq": 1, "pq": 2}


@dataclass(frozen=True)
class Bitstream:
    tokens: torch.Tensor  # Long [N]
    sample_rate: int
    hop_length: int
    codebook_size: int
    num_samples: int
    quantizer: str | None = None      # "vq" | "pq"; None when the file does not record it
    fingerprint: bytes | None = None  # FINGERPRINT_BYTES identifying the model's quantizer

    @property
    def identity(self) -> str | None:
        """`kind:hex fingerprint`, as error messages print it; None without a fingerprint."""
        return None if self.fingerprint is None else _identity(self.quantizer, self.fingerprint)

    @property
    def bits_per_token(self) -> int:
        return bits_for(self.codebook_size)

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate

    @property
    def bitrate_bps(self) -> float:
        """Token payload rate: bits per token x tokens per second."""
        return self.bits_per_token * self.sample_rate / self.hop_length


def _identity(quantizer: str | None, fingerprint: bytes) -> str:
    return f"{quantizer or '?'}:{fingerprint.hex()}"


def quantizer_fingerprint(quantizer: nn.Module) -> bytes:
    """First 8 bytes of SHA-256 over the quantizer's parameters (name, shape, float32 values).

    Parameters only: buffers such as code-usage statistics do not change what a token means.
    Converted to float32 on the CPU, so the same weights give the same fingerprint on any device.
    """
    def parts() -> Iterator[bytes]:
        for name, param in sorted(quantizer.named_parameters()):
            values = param.detach().to("cpu", torch.float32).contiguous()
            yield f"{name}:{tuple(values.shape)};".encode()
            yield values.numpy().tobytes()

    return bytes.fromhex(sha256_chunks(parts()))[:FINGERPRINT_BYTES]


def check_identity(stream: Bitstream, quantizer: str, fingerprint: bytes, source: str = "bitstream") -> None:
    """Refuse a stream made by another model; warn when the stream records no model (version 1)."""
    if stream.fingerprint is None:
        warnings.warn(f"{source}: no model fingerprint in this file (format version 1); decoding it on trust — "
                      "the result is garbage if another checkpoint made it", UserWarning, stacklevel=2)
        return
    if (stream.quantizer, stream.fingerprint) != (quantizer, fingerprint):
        raise BitstreamError(
            f"{source}: made by another model (fingerprint {stream.identity}); the checkpoint's is "
            f"{_identity(quantizer, fingerprint)}. Decode it with the checkpoint that encoded it"
        )


def bits_for(codebook_size: int) -> int:
    return max(1, math.ceil(math.log2(codebook_size)))


def pack(tokens: np.ndarray, bits: int) -> bytes:
    """Tokens (each < 2**bits) -> bytes, `bits` per token, MSB first."""
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint64)
    bit_matrix = (tokens.astype(np.uint64)[:, None] >> shifts) & np.uint64(1)
    return np.packbits(bit_matrix.astype(np.uint8).reshape(-1)).tobytes()


def unpack(payload: bytes, count: int, bits: int) -> np.ndarray:
    bit_array = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))[: count * bits]
    weights = (np.uint64(1) << np.arange(bits - 1, -1, -1, dtype=np.uint64))
    return (bit_array.reshape(count, bits).astype(np.uint64) * weights).sum(axis=1).astype(np.int64)


def to_bytes(stream: Bitstream) -> bytes:
    """Serialise in the current format version (see the module docstring)."""
    tokens = stream.tokens.detach().cpu().reshape(-1).numpy()
    if tokens.size and (tokens.min() < 0 or tokens.max() >= stream.codebook_size):
        raise BitstreamError(f"tokens out of range for a codebook of {stream.codebook_size}")
    bits = stream.bits_per_token
    header = _HEADER_V1.pack(
        MAGIC, VERSION, bits, stream.sample_rate, stream.hop_length, stream.codebook_size,
        tokens.size, stream.num_samples,
    ) + _identity_bytes(stream)
    body = header + pack(tokens, bits)
    return body + _CRC.pack(zlib.crc32(body))


def _identity_bytes(stream: Bitstream) -> bytes:
    if stream.fingerprint is None:
        return _IDENTITY.pack(0, bytes(FINGERPRINT_BYTES))
    if len(stream.fingerprint) != FINGERPRINT_BYTES or stream.quantizer not in QUANTIZER_CODES:
        raise BitstreamError(f"model identity must be a quantizer in {sorted(QUANTIZER_CODES)} and "
                             f"{FINGERPRINT_BYTES} fingerprint bytes, got {stream.quantizer!r}, {stream.fingerprint!r}")
    return _IDENTITY.pack(QUANTIZER_CODES[stream.quantizer], stream.fingerprint)


def _read_identity(data: bytes, version: int, source: str) -> tuple[str | None, bytes | None]:
    """(quantizer, fingerprint) from a version-2 header; (None, None) when not recorded."""
    if version < 2:
        return None, None
    code, fingerprint = _IDENTITY.unpack_from(data, _HEADER_V1.size)
    if code == 0:
        return None, None
    kinds = {v: k for k, v in QUANTIZER_CODES.items()}
    if code not in kinds:
        raise BitstreamError(f"{source}: inconsistent header (unknown quantizer code {code})")
    return kinds[code], fingerprint


def from_bytes(data: bytes, source: str = "bitstream") -> Bitstream:
    """Parse a version 1 or 2 file; raise BitstreamError naming `source` for anything else."""
    if len(data) < _HEADERS[1] + _CRC.size or data[:4] != MAGIC:
        raise BitstreamError(f"{source}: not a DS-Codec bitstream (bad magic or too short)")
    magic, version, bits, sr, hop, k, count, num_samples = _HEADER_V1.unpack_from(data)
    if version not in _HEADERS:
        raise BitstreamError(f"{source}: unsupported bitstream version {version} (this reader: "
                             f"{', '.join(map(str, sorted(_HEADERS)))})")
    header_size = _HEADERS[version]
    payload_len = math.ceil(count * bits / 8)
    expected = header_size + payload_len + _CRC.size
    if len(data) != expected:
        raise BitstreamError(f"{source}: {len(data)} bytes, expected {expected} for {count} tokens (truncated?)")
    body, (crc,) = data[:-_CRC.size], _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(body) != crc:
        raise BitstreamError(f"{source}: checksum mismatch (corrupt file)")
    if bits != bits_for(k) or hop == 0 or sr == 0:
        raise BitstreamError(f"{source}: inconsistent header (bits {bits}, codebook {k}, hop {hop}, rate {sr})")
    quantizer, fingerprint = _read_identity(data, version, source)
    tokens = unpack(body[header_size:], count, bits)
    if count and tokens.max() >= k:
        raise BitstreamError(f"{source}: token out of range for a codebook of {k}")
    return Bitstream(torch.from_numpy(tokens), sr, hop, k, num_samples, quantizer, fingerprint)


def write(path: str | Path, stream: Bitstream) -> int:
    """Write a .dsc file; returns its size in bytes."""
    data = to_bytes(stream)
    Path(path).write_bytes(data)
    return len(data)


def read(path: str | Path) -> Bitstream:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BitstreamError(f"{path}: cannot read ({err.strerror})") from err
    return from_bytes(data, source=str(path))
