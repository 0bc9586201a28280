"""Built-in sample corpus: deterministic, exactly the LibriSpeech/LJSpeech layouts, enough voices."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from dscodec.config import load_config
from dscodec.data.prepare import prepare
from dscodec.data.synth import synthesize_corpus
from dscodec.data.tts import ENGINES
from dscodec.errors import DataError

MINUTES = 0.6  # ~36 s of audio: a second or two of CPU


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "synthesis.json"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample")
    summary = synthesize_corpus(out, minutes=MINUTES, seed=1, engines=["espeakng-loader"], log=lambda _: None)
    return out, summary


def test_same_seed_gives_identical_files_other_seed_differs(corpus, tmp_path: Path) -> None:
    out, _ = corpus
    again = synthesize_corpus(tmp_path / "a", minutes=MINUTES, seed=1, engines=["espeakng-loader"], log=lambda _: None)
    assert _digest(tmp_path / "a") == _digest(out)
    assert again["total_seconds"] == json.loads((out / "synthesis.json").read_text())["total_seconds"]
    synthesize_corpus(tmp_path / "b", minutes=MINUTES, seed=2, engines=["espeakng-loader"], log=lambda _: None)
    assert _digest(tmp_path / "b") != _digest(out)


def test_librispeech_layout_is_exact(corpus) -> None:
    out, summary = corpus
    libri = out / "LibriSpeech"
    assert sorted(p.name for p in libri.iterdir()) == ["dev-clean", "test-clean", "train-clean-100"]
    speakers = {}
    for subset in libri.iterdir():
        speakers[subset.name] = {p.name for p in subset.iterdir()}
        for flac in subset.rglob("*.flac"):
            spk, chap = flac.parent.parent.name, flac.parent.name
            assert re.fullmatch(rf"{spk}-{chap}-\d{{4}}\.flac", flac.name)
            assert flac.parent.parent.parent == subset and spk.isdigit() and chap.isdigit()
            info = sf.info(str(flac))
            assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", 16000, 1)
        for trans in subset.rglob("*.trans.txt"):
            spk, chap = trans.parent.parent.name, trans.parent.name
            assert trans.name == f"{spk}-{chap}.trans.txt"
            lines = trans.read_text().splitlines()
            ids = [line.split(" ", 1)[0] for line in lines]
            assert ids == sorted(p.stem for p in trans.parent.glob("*.flac"))  # one line per file, in order
            for line in lines:
                text = line.split(" ", 1)[1]
                assert re.fullmatch(r"[A-Z' ]+", text) and text == " ".join(text.split())
    train, dev, test = (speakers[s] for s in ("train-clean-100", "dev-clean", "test-clean"))
    assert not (train & dev or train & test or dev & test)  # disjoint speakers, as in LibriSpeech
    assert len(train) == 8 and len(dev) == 2 and len(test) == 2


def test_ljspeech_layout_is_exact(corpus) -> None:
    out, _ = corpus
    lj = out / "LJSpeech-1.1"
    lines = (lj / "metadata.csv").read_text(encoding="utf-8").splitlines()
    ids = []
    for line in lines:
        utt, text, normalized = line.split("|")
        assert re.fullmatch(r"LJ\d{3}-\d{4}", utt) and text and normalized
        ids.append(utt)
    assert ids[0] == "LJ001-0001" and ids == sorted(ids)
    wavs = sorted(p.stem for p in (lj / "wavs").iterdir())
    assert wavs == ids
    info = sf.info(str(lj / "wavs" / f"{ids[0]}.wav"))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_16", 22050, 1)


def test_summary_voices_and_size(corpus) -> None:
    out, summary = corpus
    on_disk = json.loads((out / "synthesis.json").read_text())
    assert on_disk["seed"] == 1 and on_disk["engines"]["espeakng-loader"]["used"]
    assert on_disk["distinct_voices"] >= 6
    voices = {s["voice"]["name"] for split in on_disk["splits"].values() for s in split["speakers"]}
    assert len(voices) == on_disk["distinct_voices"]
    lj_voice = on_disk["splits"]["LJSpeech-1.1"]["speakers"][0]["voice"]["name"]
    libri_voices = {s["voice"]["name"] for k, v in on_disk["splits"].items() if k != "LJSpeech-1.1" for s in v["speakers"]}
    assert lj_voice not in libri_voices  # "one further voice"
    n_flac = sum(1 for _ in out.rglob("*.flac"))
    assert on_disk["files"] == {"flac": n_flac, "wav": sum(1 for _ in out.rglob("*.wav"))}
    seconds = sum(sf.info(str(p)).duration for p in out.rglob("*.flac")) + sum(
        sf.info(str(p)).duration for p in out.rglob("*.wav"))
    assert seconds == pytest.approx(on_disk["total_seconds"], abs=0.05)
    assert seconds >= MINUTES * 60


def test_the_real_readers_prepare_the_sample_corpus(corpus, tmp_path: Path) -> None:
    out, summary = corpus
    results = tmp_path / "results"
    shutil.copytree(out, results / "corpus" / "sample")
    cfg = load_config(overrides={"results_dir": str(results)})
    report = prepare(cfg, "librispeech", tmp_path / "libri")
    assert report["bad_files"] == [] and report["splits"]["train"]["speakers"] == 8
    assert report["splits"]["test"]["utterances"] == summary["splits"]["test-clean"]["utterances"]
    report = prepare(cfg, "ljspeech", tmp_path / "lj")
    assert report["splits"]["all"]["utterances"] == summary["splits"]["LJSpeech-1.1"]["utterances"]


def test_refuses_to_overwrite_a_foreign_tree(tmp_path: Path) -> None:
    (tmp_path / "LibriSpeech" / "dev-clean").mkdir(parents=True)
    with pytest.raises(DataError, match="did not write"):
        synthesize_corpus(tmp_path, minutes=0.1, seed=0, engines=["espeakng-loader"], log=lambda _: None)


@pytest.mark.skipif(not (ENGINES["flite"]().available() and ENGINES["espeak-ng"]().available()),
                    reason="flite and espeak-ng programs not installed (apt-get install flite espeak-ng)")
def test_system_engines_give_more_voices_deterministically(tmp_path: Path) -> None:
    engines = ["flite", "espeak-ng", "espeakng-loader"]
    s1 = synthesize_corpus(tmp_path / "a", minutes=0.4, seed=0, engines=engines, log=lambda _: None)
    synthesize_corpus(tmp_path / "b", minutes=0.4, seed=0, engines=engines, log=lambda _: None)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    used = {s["voice"]["engine"] for split in s1["splits"].values() for s in split["speakers"]}
    assert used == {"flite", "espeak-ng"}  # the library duplicates espeak-ng's voices, so it is not used
    assert s1["engines"]["espeakng-loader"]["used"] is False and s1["distinct_voices"] >= 6
    assert s1["splits"]["LJSpeech-1.1"]["speakers"][0]["voice"]["name"] == "slt"
