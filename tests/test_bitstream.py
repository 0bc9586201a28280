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
