"""DSCodec API and the encode/decode commands, on a randomly initialised tiny model."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from dscodec import bitstream
from dscodec.cli import main
from dscodec.codec_api import CodecInputError, DSCodec
from dscodec.errors import BitstreamError, DSCodecError
from dscodec.models import CodecModel, get_size
from dscodec.models.checkpoint import load_codec, save_checkpoint_for_inference
from dscodec.models.streaming import decode_latents, encode_latents


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = CodecModel(get_size("tiny"), "vq", "transformer")
    return save_checkpoint_for_inference(model, tmp_path_factory.mktemp("ckpt") / "ckpt.pt", step=0)


@pytest.fixture(scope="module")
def codec(ckpt):
    return DSCodec.from_checkpoint(ckpt)


def test_attributes(codec):
    assert (codec.sample_rate, codec.hop_length, codec.frame_rate, codec.codebook_size) == (16000, 200, 80.0, 64)


def test_checkpoint_round_trip_is_exact(ckpt):
    model = load_codec(ckpt)
    raw = torch.load(ckpt, weights_only=False)
    assert raw["format"] == "dscodec-ckpt-v1" and raw["step"] == 0
    for key, value in raw["codec"].items():
        assert torch.equal(model.state_dict()[key], value)


def test_bad_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(DSCodecError):
        DSCodec.from_checkpoint(bad)
    torch.save({"format": "other"}, bad)
    with pytest.raises(DSCodecError, match="dscodec-ckpt-v1"):
        DSCodec.from_checkpoint(bad)


@pytest.mark.parametrize("length", [1, 199, 201, 3333])
def test_round_trip_odd_lengths(codec, length):
    wav = torch.randn(length) * 0.1
    tokens = codec.encode(wav, 16000)
    assert tokens.shape == (1, -(-length // 200)) and tokens.dtype == torch.long
    out = codec.decode(tokens, length=length)
    assert out.shape == (1, 1, length) and torch.isfinite(out).all()
    assert codec.decode(tokens).shape == (1, 1, tokens.shape[1] * 200)


def test_other_rates_channels_and_batches(codec):
    stereo_44k = torch.randn(2, 2, 44100) * 0.1  # [B, C, T] at 44.1 kHz, 1 s
    tokens = codec.encode(stereo_44k, 44100)
    assert tokens.shape == (2, 80)
    assert codec.num_samples(44100, 44100) == 16000
    # channels are averaged, batches are independent
    mono = codec.encode(stereo_44k[1].mean(0), 44100)
    assert torch.equal(tokens[1:], mono)
    assert codec.encode(np.zeros(8000, dtype=np.float32), 8000).shape == (1, 80)
    assert codec.decode(tokens).shape == (2, 1, 16000)


def test_bad_inputs_raise_codec_errors(codec):
    for bad in (torch.zeros(0), torch.zeros(1, 1, 1, 10), torch.full((100,), float("nan"))):
        with pytest.raises(CodecInputError):
            codec.encode(bad, 16000)
    with pytest.raises(CodecInputError):
        codec.encode(torch.zeros(100), 0)
    with pytest.raises(CodecInputError):
        codec.decode(torch.tensor([[0, 64]]))
    with pytest.raises(CodecInputError):
        codec.decode(torch.tensor([[0.5]]))


def _speechlike(n: int = 16000, channels: int = 1) -> np.ndarray:
    t = np.arange(n) / 16000
    rng = np.random.default_rng(0)
    wav = 0.4 * np.sin(2 * np.pi * 220 * t)[:, None] + 0.05 * rng.standard_normal((n, channels))
    return wav.astype(np.float32)  # [T, C] as soundfile returns it


@pytest.mark.parametrize("dtype, scale, offset", [(np.int16, 2**15, 0), (np.int32, 2**31, 0), (np.uint8, 2**7, 128)])
def test_integer_pcm_is_scaled_to_unit_range(codec, dtype, scale, offset):
    pcm = np.round(_speechlike()[:, 0] * (scale - 1) + offset).astype(dtype)
    as_float = ((pcm.astype(np.float64) - offset) / scale).astype(np.float32)
    expected = codec.encode(as_float, 16000)
    assert torch.equal(codec.encode(pcm, 16000), expected)
    assert torch.equal(codec.encode(torch.from_numpy(pcm), 16000), expected)


def test_integer_types_without_a_pcm_scale_are_refused(codec):
    for bad in (np.zeros(1600, dtype=np.int64), torch.zeros(1600, dtype=torch.bool)):
        with pytest.raises(CodecInputError, match="int16"):
            codec.encode(bad, 16000)


def test_soundfile_layout_time_by_channels_is_transposed(codec):
    stereo = _speechlike(channels=2)  # [T, 2]
    tokens = codec.encode(stereo, 16000)
    assert tokens.shape == (1, 80)
    assert torch.equal(tokens, codec.encode(stereo.T.copy(), 16000))  # same as [C, T]: down-mixed
    assert torch.equal(codec.encode(_speechlike()[:, :1], 16000), codec.encode(_speechlike()[:, 0], 16000))


def test_float_beyond_unit_range_warns_and_is_clipped(codec):
    loud = _speechlike()[:, 0] * 3
    with pytest.warns(UserWarning, match=r"exceed.*1\.0.*clipped"):
        tokens = codec.encode(loud, 16000)
    assert torch.equal(tokens, codec.encode(np.clip(loud, -1, 1), 16000))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        codec.encode(_speechlike()[:, 0], 16000)  # in range: no warning


def _wide_model(seed: int = 0, anti_aliased: bool = False, upsample: str = "transposed") -> CodecModel:
    """Tiny model with larger random weights (so signals are not ~0), in float64."""
    torch.manual_seed(seed)
    size = get_size("tiny", {"anti_aliased_activations": anti_aliased, "upsample": upsample})
    model = CodecModel(size, "vq", "transformer").double().eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.5 / p[0].numel() ** 0.5)
    return model


@pytest.mark.parametrize(("chunk", "anti_aliased"), [(1, False), (7, False), (40, False), (7, True), (40, True)])
def test_chunked_equals_one_pass(chunk, anti_aliased):
    """Also with BigCodec's anti-aliased activations (their filters widen the context; chunk 1
    is left out there: ~4 min on a shared CPU)."""
    model = _wide_model(anti_aliased=anti_aliased)
    wav = torch.randn(2, 1, 200 * 90, dtype=torch.float64) * 0.1
    with torch.no_grad():
        z = model.encoder(wav)
        y = model.decoder(model.quantizer.decode(model.quantizer.encode(z)))
        z_chunked = torch.cat(list(encode_latents(model.encoder, wav, chunk)), -1)
        q = model.quantizer.decode(model.quantizer.encode(z))
        y_chunked = torch.cat(list(decode_latents(model.decoder, q, chunk)), -1)
    assert y.abs().max() > 1e-4  # a signal, not numerical noise
    assert torch.allclose(z_chunked, z, rtol=0, atol=1e-10 * z.abs().max())
    assert torch.allclose(y_chunked, y, rtol=0, atol=1e-8 * y.abs().max())


def test_resize_upsampling_decodes_chunked_like_one_pass():
    """`upsample: resize` (a benchmarked alternative to transposed convs) keeps the decoder's
    context bound: chunked decoding equals one pass."""
    model = _wide_model(upsample="resize")
    assert any(isinstance(m, torch.nn.Upsample) for m in model.decoder.modules())
    z = torch.randn(1, model.decoder.stem.in_channels, 60, dtype=torch.float64)
    with torch.no_grad():
        y = model.decoder(z)
        y_chunked = torch.cat(list(decode_latents(model.decoder, z, 7)), -1)
    assert y.shape[-1] == 60 * model.decoder.hop_length and y.abs().max() > 1e-4
    assert torch.allclose(y_chunked, y, rtol=0, atol=1e-8 * y.abs().max())


@pytest.mark.parametrize("anti_aliased", [False, True])
def test_too_little_context_would_show_seams(anti_aliased):
    """The equality above is not vacuous: cutting the context produces seams."""
    model = _wide_model(anti_aliased=anti_aliased)
    wav = torch.randn(1, 1, 200 * 60, dtype=torch.float64) * 0.1
    with torch.no_grad():
        z = model.encoder(wav)
        y = model.decoder(z)
        model.decoder.post_context_frames = 1
        y_chunked = torch.cat(list(decode_latents(model.decoder, z, 10)), -1)
    assert not torch.allclose(y_chunked, y, rtol=0, atol=1e-6 * y.abs().max())


def test_api_chunking_matches_single_chunk(ckpt):
    wav = torch.randn(200 * 50 + 37) * 0.1
    one = DSCodec.from_checkpoint(ckpt, chunk_seconds=100.0)
    many = DSCodec.from_checkpoint(ckpt, chunk_seconds=0.1)
    tokens = one.encode(wav, 16000)
    assert (many.encode(wav, 16000) == tokens).float().mean() > 0.98
    assert torch.allclose(many.decode(tokens), one.decode(tokens), atol=1e-5)
    pieces = list(many.decode_stream(tokens))
    assert len(pieces) > 5 and max(p.shape[-1] for p in pieces) <= 200 * (8 + 30)


@pytest.mark.parametrize("sr", [16000, 44100])
def test_encode_file_streams_the_file_and_equals_encode(tmp_path, ckpt, monkeypatch, sr):
    """`encode_file` gives `encode(load_audio(f))`'s tokens (exactly at 16 kHz; resampled files up
    to float rounding) while never holding more of the file than a chunk and its context."""
    from dscodec import audio, codec_api

    rng = np.random.default_rng(1)
    path = tmp_path / f"long{sr}.wav"
    sf.write(path, (rng.standard_normal((int(sr * 3.3), 2)) * 0.1).astype(np.float32), sr)
    codec = DSCodec.from_checkpoint(ckpt, chunk_seconds=0.25)
    expected = codec.encode(audio.load_audio(path), 16000)
    sizes = []
    read = audio.AudioFileReader.read
    monkeypatch.setattr(audio.AudioFileReader, "read", lambda self, a, b: sizes.append(b - a) or read(self, a, b))
    monkeypatch.setattr(codec_api, "load_audio", lambda *a, **k: pytest.fail("encode_file loaded the whole file"))
    tokens, num_samples = codec.encode_file(path)
    assert num_samples == audio.load_audio(path).shape[-1] and tokens.shape == expected.shape
    if sr == 16000:
        assert torch.equal(tokens, expected)
    else:
        assert (tokens == expected).float().mean() > 0.98
    encoder = codec.model.encoder
    assert len(sizes) > 5
    assert max(sizes) <= (codec.chunk_frames + 2 * encoder.pre_context_frames) * encoder.hop_length


def test_encode_holds_no_padded_copy_of_its_input(ckpt, monkeypatch):
    """A mono input is not padded into a copy of itself: long inputs cost their own memory
    and a chunk's (only the last chunk is padded to the hop)."""
    import torch.nn.functional as F

    codec = DSCodec.from_checkpoint(ckpt, chunk_seconds=0.25)
    wav = torch.randn(1, 1, 200 * 40 + 37) * 0.1
    padded = []
    pad = F.pad
    monkeypatch.setattr(F, "pad", lambda x, *a, **k: padded.append(x.shape[-1]) or pad(x, *a, **k))
    codec.encode(wav, 16000)
    encoder = codec.model.encoder
    assert padded and max(padded) <= (codec.chunk_frames + 2 * encoder.pre_context_frames) * encoder.hop_length


def test_cli_encode_decode(tmp_path, ckpt, capsys):
    wav = (np.random.default_rng(0).standard_normal((22050 * 1 + 123, 2)) * 0.1).astype(np.float32)
    src = tmp_path / "in.wav"
    sf.write(src, wav, 22050)
    dsc, out = tmp_path / "x.dsc", tmp_path / "out.wav"
    assert main(["encode", str(src), str(dsc), "--checkpoint", str(ckpt)]) == 0
    stream = bitstream.read(dsc)
    expected_len = -(-(22050 + 123) * 16000 // 22050)
    assert stream.num_samples == expected_len and stream.tokens.numel() == -(-expected_len // 200)
    assert main(["decode", str(dsc), str(out), "--checkpoint", str(ckpt), "--chunk-seconds", "0.2"]) == 0
    data, sr = sf.read(out)
    assert sr == 16000 and data.shape == (expected_len,)
    # a foreign file is a one-line error with exit code 2
    (tmp_path / "bad.dsc").write_bytes(b"hello world" * 10)
    assert main(["decode", str(tmp_path / "bad.dsc"), str(out), "--checkpoint", str(ckpt)]) == 2
    assert "not a DS-Codec bitstream" in capsys.readouterr().err


def test_decode_rejects_bitstream_from_another_codec(tmp_path, ckpt):
    path = tmp_path / "other.dsc"
    bitstream.write(path, bitstream.Bitstream(torch.zeros(5, dtype=torch.long), 16000, 200, 8192, 1000))
    with pytest.raises(BitstreamError, match="different codec"):
        from dscodec.commands import decode

        decode.decode_file(DSCodec.from_checkpoint(ckpt), path, tmp_path / "o.wav")


def _fail_if_model_runs(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the model ran before the output path was checked")

    monkeypatch.setattr(DSCodec, "encode", boom)
    monkeypatch.setattr(DSCodec, "decode_stream", boom)


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_cli_output_into_a_missing_folder_fails_before_the_model_runs(tmp_path, ckpt, capsys, monkeypatch, command):
    src = tmp_path / "in.wav"
    sf.write(src, np.zeros(1600, dtype=np.float32), 16000)
    dsc = tmp_path / "x.dsc"
    assert main(["encode", str(src), str(dsc), "--checkpoint", str(ckpt)]) == 0
    capsys.readouterr()
    _fail_if_model_runs(monkeypatch)
    source, target = (src, tmp_path / "nowhere" / "x.dsc") if command == "encode" else (dsc, tmp_path / "nowhere" / "o.wav")
    assert main([command, str(source), str(target), "--checkpoint", str(ckpt)]) == 2
    err = capsys.readouterr().err
    assert "folder does not exist" in err and str(tmp_path / "nowhere") in err and "Traceback" not in err
    # an existing folder given as the output file is refused too, and left alone
    assert main([command, str(source), str(tmp_path), "--checkpoint", str(ckpt)]) == 2
    assert "is a directory" in capsys.readouterr().err and tmp_path.is_dir()


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_cli_directory_as_input_is_named_a_directory(tmp_path, ckpt, capsys, command):
    folder = tmp_path / "folder"
    folder.mkdir()
    assert main([command, str(folder), str(tmp_path / "out"), "--checkpoint", str(ckpt)]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and "not found" not in err


@pytest.fixture(scope="module")
def other_ckpt(tmp_path_factory):
    """Same size, rate, hop and codebook size as `ckpt`, other weights: its tokens mean something else."""
    torch.manual_seed(1)
    model = CodecModel(get_size("tiny"), "vq", "transformer")
    return save_checkpoint_for_inference(model, tmp_path_factory.mktemp("other") / "ckpt.pt", step=0)


def test_fingerprint_is_a_property_of_the_quantizer_weights(ckpt, other_ckpt):
    a, b = DSCodec.from_checkpoint(ckpt), DSCodec.from_checkpoint(other_ckpt)
    assert len(a.fingerprint) == 8 and a.fingerprint == DSCodec.from_checkpoint(ckpt).fingerprint
    assert a.fingerprint != b.fingerprint and a.quantizer_kind == "vq"
    model = load_codec(ckpt)
    with torch.no_grad():
        model.decoder.apply(lambda m: [p.add_(1.0) for p in m.parameters(recurse=False)])
    assert DSCodec(model).fingerprint == a.fingerprint  # decoder training (stage 2) keeps the tokens' meaning


def test_decode_refuses_a_stream_from_another_model_naming_both_fingerprints(tmp_path, ckpt, other_ckpt, capsys):
    src = tmp_path / "in.wav"
    sf.write(src, _speechlike(), 16000)
    dsc, out = tmp_path / "x.dsc", tmp_path / "out.wav"
    assert main(["encode", str(src), str(dsc), "--checkpoint", str(ckpt)]) == 0
    mine, theirs = DSCodec.from_checkpoint(ckpt).fingerprint.hex(), DSCodec.from_checkpoint(other_ckpt).fingerprint.hex()
    assert bitstream.read(dsc).fingerprint.hex() == mine
    capsys.readouterr()
    assert main(["decode", str(dsc), str(out), "--checkpoint", str(other_ckpt)]) == 2
    err = capsys.readouterr().err
    assert mine in err and theirs in err and not out.exists()
    assert main(["decode", str(dsc), str(out), "--checkpoint", str(ckpt)]) == 0


def test_version_1_stream_decodes_with_a_warning(tmp_path, ckpt):
    import struct
    import zlib

    codec = DSCodec.from_checkpoint(ckpt)
    tokens = codec.encode(_speechlike()[:, 0], 16000)[0]
    header = struct.pack("<4sBBIIIII", b"DSC\x00", 1, codec.bits_per_token, 16000, 200, codec.codebook_size,
                         tokens.numel(), 16000)
    body = header + bitstream.pack(tokens.numpy(), codec.bits_per_token)
    dsc = tmp_path / "old.dsc"
    dsc.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    with pytest.warns(UserWarning, match="no model fingerprint"):
        assert main(["decode", str(dsc), str(tmp_path / "o.wav"), "--checkpoint", str(ckpt)]) == 0
    assert sf.read(tmp_path / "o.wav")[0].shape == (16000,)


def test_encode_file_reads_an_unseekable_format_whole(tmp_path, ckpt, monkeypatch):
    from dscodec import audio

    path = tmp_path / "a.wav"
    sf.write(path, (np.random.default_rng(2).standard_normal(16000) * 0.1).astype(np.float32), 16000)
    codec = DSCodec.from_checkpoint(ckpt, chunk_seconds=0.25)
    expected = codec.encode_file(path)[0]
    monkeypatch.setattr(audio.AudioFileReader, "seekable", property(lambda self: False))
    monkeypatch.setattr(audio.AudioFileReader, "read", lambda *a: pytest.fail("read an unseekable file by regions"))
    tokens, num_samples = codec.encode_file(path)
    assert num_samples == 16000 and torch.equal(tokens, expected)
