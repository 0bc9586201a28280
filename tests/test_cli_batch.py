"""Many-file `dscodec encode` / `decode`: folders, manifests, a corrupt file in the batch."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from dscodec import bitstream
from dscodec.cli import main
from dscodec.models import CodecModel, get_size
from dscodec.models.checkpoint import save_checkpoint_for_inference


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = CodecModel(get_size("tiny"), "vq", "transformer")
    return save_checkpoint_for_inference(model, tmp_path_factory.mktemp("ckpt") / "ckpt.pt", step=0)


def _corpus(root):
    """a.wav (0.5 s, 16 kHz), sub/b.flac (0.3 s, 22.05 kHz stereo), and bad.wav (not audio)."""
    rng = np.random.default_rng(0)
    (root / "sub").mkdir(parents=True)
    sf.write(root / "a.wav", (rng.standard_normal(8000) * 0.1).astype(np.float32), 16000)
    sf.write(root / "sub" / "b.flac", (rng.standard_normal((6615, 2)) * 0.1).astype(np.float32), 22050)
    (root / "bad.wav").write_bytes(b"RIFF----WAVEfmt " + b"\x00" * 20)
    (root / "notes.txt").write_text("not an input")
    return root


def test_folder_with_a_corrupt_file_encodes_the_rest_and_fails_at_the_end(tmp_path, ckpt, capsys):
    corpus, out = _corpus(tmp_path / "corpus"), tmp_path / "codes"
    out.mkdir()
    earlier = out / "bad.dsc"
    earlier.write_bytes(b"an output from an earlier run")  # must survive the failed re-encode
    assert main(["encode", str(corpus), "-o", str(out), "--checkpoint", str(ckpt), "--threads", "1"]) == 1
    captured = capsys.readouterr()
    assert "1 file(s) failed" in captured.err and str(corpus / "bad.wav") in captured.err
    assert "2 of 3 files done" in captured.out and "RTF" in captured.out
    assert bitstream.read(out / "a.dsc").num_samples == 8000
    assert bitstream.read(out / "sub" / "b.dsc").num_samples == -(-6615 * 16000 // 22050)
    assert earlier.read_bytes() == b"an output from an earlier run"
    assert sorted(p.name for p in out.rglob("*")) == ["a.dsc", "b.dsc", "bad.dsc", "sub"]  # no partial files left

    # decode the good bitstreams back (and the earlier-run leftover, which is not a bitstream: reported)
    audio = tmp_path / "audio"
    assert main(["decode", str(out), "-o", str(audio), "--checkpoint", str(ckpt), "--quiet"]) == 1
    assert "not a DS-Codec bitstream" in capsys.readouterr().err
    assert sf.read(audio / "a.wav")[0].shape == (8000,)
    assert sf.info(audio / "sub" / "b.wav").samplerate == 16000
    assert not (audio / "bad.wav").exists()


def test_manifest_and_several_files(tmp_path, ckpt, capsys):
    corpus = _corpus(tmp_path / "corpus")
    manifest = tmp_path / "list.tsv"
    manifest.write_text("path\tspeaker\ncorpus/sub/b.flac\ts1\n\n# a comment\n")
    out = tmp_path / "codes"
    assert main(["encode", str(corpus / "a.wav"), "--manifest", str(manifest), "-o", str(out),
                 "--checkpoint", str(ckpt), "--quiet"]) == 0
    assert (out / "a.dsc").is_file() and (out / "corpus" / "sub" / "b.dsc").is_file()
    assert "2 of 2 files done" in capsys.readouterr().out
    # a missing file is a failure of its own, not the end of the batch
    assert main(["encode", str(corpus / "missing.wav"), str(corpus / "a.wav"), "-o", str(tmp_path / "o2"),
                 "--checkpoint", str(ckpt), "--quiet"]) == 1
    assert "file not found" in capsys.readouterr().err and (tmp_path / "o2" / "a.dsc").is_file()


def test_two_inputs_with_one_output_name_are_refused_before_running(tmp_path, ckpt, capsys):
    corpus = _corpus(tmp_path / "corpus")
    sf.write(tmp_path / "a.flac", np.zeros(1600, dtype=np.float32), 16000)
    assert main(["encode", str(corpus / "a.wav"), str(tmp_path / "a.flac"), "-o", str(tmp_path / "o"),
                 "--checkpoint", str(ckpt)]) == 2
    assert "would both write" in capsys.readouterr().err and not any((tmp_path / "o").iterdir())
