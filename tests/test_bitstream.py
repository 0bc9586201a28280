"""The .dsc bitstream: exact round trip, documented size, and clear errors for bad files."""
from __future__ import annotations

import math

import pytest
import torch

from dscodec import bitstream
from dscodec.errors import BitstreamError


@pytest.mark.parametrize("codebook_size", [2, 64, 1000, 8192, 65536])
@pytest.mark.parametrize("count", [0, 1, 7, 801])
def test_round_trip_and_size(codebook_size, count):
    torch.manual_seed(count)
    tokens = torch.randint(0, codebook_size, (count,))
    if count:
        tokens[0] = codebook_size - 1  # the largest index must survive packing
    stream = bitstream.Bitstream(tokens, 16000, 200, codebook_size, count * 200 - 17 if count else 0)
    data = bitstream.to_bytes(stream)
    bits = math.ceil(math.log2(codebook_size))
    assert len(data) == bitstream.HEADER_BYTES + math.ceil(count * bits / 8)
    back = bitstream.from_bytes(data)
    assert torch.equal(back.tokens, tokens)
    assert (back.sample_rate, back.hop_length, back.codebook_size, back.num_samples) == (
        16000, 200, codebook_size, stream.num_samples
    )


def test_bitrate_matches_the_paper():
    vq = bitstream.Bitstream(torch.zeros(80, dtype=torch.long), 16000, 200, 8192, 16000)
    pq = bitstream.Bitstream(torch.zeros(80, dtype=torch.long), 16000, 200, 65536, 16000)
    assert vq.bitrate_bps == 1040 and pq.bitrate_bps == 1280  # 1.04 and 1.28 kbps


def _valid(tmp_path):
    stream = bitstream.Bitstream(torch.randint(0, 8192, (100,)), 16000, 200, 8192, 20000)
    path = tmp_path / "x.dsc"
    bitstream.write(path, stream)
    return path, path.read_bytes()


def test_truncated_file_is_rejected(tmp_path):
    path, data = _valid(tmp_path)
    for cut in (3, 20, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(BitstreamError):
            bitstream.read(path)


def test_foreign_file_is_rejected(tmp_path):
    path = tmp_path / "foreign.dsc"
    path.write_bytes(b"RIFF" + bytes(100))
    with pytest.raises(BitstreamError, match="not a DS-Codec bitstream"):
        bitstream.read(path)
    with pytest.raises(BitstreamError, match="cannot read"):
        bitstream.read(tmp_path / "missing.dsc")


def test_corrupt_byte_fails_the_checksum(tmp_path):
    path, data = _valid(tmp_path)
    corrupt = bytearray(data)
    corrupt[40] ^= 0x10
    path.write_bytes(bytes(corrupt))
    with pytest.raises(BitstreamError, match="checksum"):
        bitstream.read(path)


def test_unknown_version_is_rejected(tmp_path):
    path, data = _valid(tmp_path)
    path.write_bytes(data[:4] + bytes([9]) + data[5:])
    with pytest.raises(BitstreamError, match="version"):
        bitstream.read(path)


def test_out_of_range_tokens_cannot_be_written():
    with pytest.raises(BitstreamError):
        bitstream.to_bytes(bitstream.Bitstream(torch.tensor([64]), 16000, 200, 64, 200))


def _version1_bytes(tokens: torch.Tensor, sr: int, hop: int, k: int, num_samples: int) -> bytes:
    """A .dsc file as format version 1 wrote it (no model identity), built by hand."""
    import struct
    import zlib

    bits = bitstream.bits_for(k)
    header = struct.pack("<4sBBIIIII", b"DSC\x00", 1, bits, sr, hop, k, tokens.numel(), num_samples)
    body = header + bitstream.pack(tokens.numpy(), bits)
    return body + struct.pack("<I", zlib.crc32(body))


def test_the_model_identity_round_trips():
    tokens = torch.randint(0, 1024, (50,))
    fp = bytes.fromhex("0123456789abcdef")
    stream = bitstream.Bitstream(tokens, 16000, 200, 1024, 9999, quantizer="pq", fingerprint=fp)
    data = bitstream.to_bytes(stream)
    assert data[4] == bitstream.VERSION == 2
    back = bitstream.from_bytes(data)
    assert (back.quantizer, back.fingerprint) == ("pq", fp) and torch.equal(back.tokens, tokens)
    assert back.identity == "pq:0123456789abcdef"


def test_version_1_files_stay_readable_without_identity():
    tokens = torch.randint(0, 8192, (33,))
    back = bitstream.from_bytes(_version1_bytes(tokens, 16000, 200, 8192, 6543))
    assert torch.equal(back.tokens, tokens) and back.num_samples == 6543
    assert back.fingerprint is None and back.quantizer is None and back.identity is None


def test_identity_check_refuses_a_mismatch_and_warns_when_absent():
    stream = bitstream.Bitstream(torch.zeros(3, dtype=torch.long), 16000, 200, 64, 600, quantizer="vq",
                                 fingerprint=bytes(8))
    bitstream.check_identity(stream, "vq", bytes(8), source="x.dsc")  # same model: silent
    with pytest.raises(BitstreamError, match=r"x\.dsc.*vq:0000000000000000.*vq:ffffffffffffffff"):
        bitstream.check_identity(stream, "vq", b"\xff" * 8, source="x.dsc")
    with pytest.raises(BitstreamError, match=r"pq:0000000000000000"):
        bitstream.check_identity(stream, "pq", bytes(8), source="x.dsc")
    old = bitstream.Bitstream(torch.zeros(3, dtype=torch.long), 16000, 200, 64, 600)
    with pytest.warns(UserWarning, match=r"x\.dsc.*no model fingerprint"):
        bitstream.check_identity(old, "vq", bytes(8), source="x.dsc")
