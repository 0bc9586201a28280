"""The .dsc bitstream: DS-Codec tokens in a compact, self-checking file.

Layout (all integers little-endian):

    offset  size  field
    0       4     magic  b"DSC\\x00"
    4       1     version (1)
    5       1     bits per token  b = ceil(log2 codebook_size)
    6       4     sample rate of the decoded audio (Hz)          uint32
    10      4     hop length (samples per token)                 uint32
    14      4     codebook size K (distinct tokens)              uint32
    18      4     frame count N (tokens)                         uint32
    22      4     number of audio samples at the sample rate     uint32
                  (to trim the decoder's N * hop output back to the input length)
    26      P     payload: the N tokens, each as b bits, most significant bit first,
                  concatenated and zero-padded to a whole byte: P = ceil(N * b / 8)
    26+P    4     CRC-32 (zlib) of every byte before it          uint32

The header costs 30 bytes in all, so a file of N tokens has 30 + ceil(N b / 8) bytes;
`bitrate_bps` reports the payload rate (N b bits over the duration), and reports can
also quote the file rate. `read` raises BitstreamError for a foreign, truncated,
corrupt or inconsistent file.
"""
from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dscodec.errors import BitstreamError

MAGIC = b"DSC\x00"
VERSION = 1
_HEADER = struct.Struct("<4sBBIIIII")
_CRC = struct.Struct("<I")
HEADER_BYTES = _HEADER.size + _CRC.size


@dataclass(frozen=True)
class Bitstream:
    tokens: torch.Tensor  # Long [N]
    sample_rate: int
    hop_length: int
    codebook_size: int
    num_samples: int

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
    tokens = stream.tokens.detach().cpu().reshape(-1).numpy()
    if tokens.size and (tokens.min() < 0 or tokens.max() >= stream.codebook_size):
        raise BitstreamError(f"tokens out of range for a codebook of {stream.codebook_size}")
    bits = stream.bits_per_token
    header = _HEADER.pack(
        MAGIC, VERSION, bits, stream.sample_rate, stream.hop_length, stream.codebook_size,
        tokens.size, stream.num_samples,
    )
    body = header + pack(tokens, bits)
    return body + _CRC.pack(zlib.crc32(body))


def from_bytes(data: bytes, source: str = "bitstream") -> Bitstream:
    if len(data) < HEADER_BYTES or data[:4] != MAGIC:
        raise BitstreamError(f"{source}: not a DS-Codec bitstream (bad magic or too short)")
    magic, version, bits, sr, hop, k, count, num_samples = _HEADER.unpack_from(data)
    if version != VERSION:
        raise BitstreamError(f"{source}: unsupported bitstream version {version} (this reader: {VERSION})")
    payload_len = math.ceil(count * bits / 8)
    expected = _HEADER.size + payload_len + _CRC.size
    if len(data) != expected:
        raise BitstreamError(f"{source}: {len(data)} bytes, expected {expected} for {count} tokens (truncated?)")
    body, (crc,) = data[:-_CRC.size], _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(body) != crc:
        raise BitstreamError(f"{source}: checksum mismatch (corrupt file)")
    if bits != bits_for(k) or hop == 0 or sr == 0:
        raise BitstreamError(f"{source}: inconsistent header (bits {bits}, codebook {k}, hop {hop}, rate {sr})")
    tokens = unpack(body[_HEADER.size :], count, bits)
    if count and tokens.max() >= k:
        raise BitstreamError(f"{source}: token out of range for a codebook of {k}")
    return Bitstream(torch.from_numpy(tokens), sr, hop, k, num_samples)


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
