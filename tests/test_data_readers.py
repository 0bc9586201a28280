"""LibriSpeech and LJSpeech readers on fixture trees in the real formats, bad files included."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from dscodec.config import load_config
from dscodec.data.manifest import COLUMNS, read_manifest, write_manifest
from dscodec.data.prepare import prepare
from dscodec.errors import DataError
from fixtures_data import add_bad_librispeech_files, build_librispeech, build_ljspeech


def _cfg(tmp_path: Path, **data) -> dict:
    return load_config(overrides={"results_dir": str(tmp_path / "results"), "data": data})


@pytest.fixture()
def libri_root(tmp_path: Path) -> Path:
    root = tmp_path / "corpora"
    build_librispeech(root, "train-clean-100", {"19": {"198": 4, "227": 3}, "26": {"495": 4}})
    build_librispeech(root, "train-clean-360", {"100": {"121669": 3}})
    build_librispeech(root, "dev-clean", {"84": {"121123": 3}})
    build_librispeech(root, "test-clean", {"61": {"70968": 3}, "121": {"121726": 2}})
    return root


def test_librispeech_manifests_have_contract_columns_and_train_union(tmp_path: Path, libri_root: Path) -> None:
    cfg = _cfg(tmp_path, librispeech={"source": "local", "root": str(libri_root),
                                      "train_subsets": ["train-clean-100", "train-clean-360"]})
    out = tmp_path / "data"
    report = prepare(cfg, "librispeech", out)
    train, test = read_manifest(out / "train.tsv"), read_manifest(out / "test.tsv")
    assert list(train.columns) == COLUMNS
    assert len(train) == 14 and set(train["speaker"]) == {"19", "26", "100"}
    assert len(test) == 5 and len(read_manifest(out / "dev.tsv")) == 3
    row = train[train["id"] == "19-198-0001"].iloc[0]
    assert row["chapter"] == "198" and row["text"] == "TEST UTTERANCE NUMBER 1 OF 19"
    assert Path(row["path"]).is_absolute() and Path(row["path"]).is_file()
    assert (row["sample_rate"], row["frames"]) == (16000, 24000)
    assert report["splits"]["train"]["subsets"] == ["train-clean-100", "train-clean-360"]
    assert report["bad_files"] == [] and report["splits"]["test"]["speakers"] == 2


def test_librispeech_bad_files_are_listed_fixed_or_fail_the_split(tmp_path: Path, libri_root: Path) -> None:
    expected = add_bad_librispeech_files(libri_root, "train-clean-100")
    out = tmp_path / "data"
    # train-clean-100 holds 11 good files + 8 in the bad chapter, 5 of them unusable: too many for 5 % ...
    cfg = _cfg(tmp_path, librispeech={"source": "local", "root": str(libri_root)})
    with pytest.raises(DataError, match=r"split `train`: 5 of 19 files are bad.*data\.max_bad_fraction"):
        prepare(cfg, "librispeech", out)
    report = json.loads((out / "report.json").read_text())  # ... but the report is written first
    assert not (out / "train.tsv").exists()
    reasons = {Path(b["path"]).stem: b["reason"] for b in report["bad_files"]}
    inv = {kind: utt for utt, kind in expected.items()}
    assert set(reasons) == {inv[k] for k in ("empty", "corrupt", "truncated", "garbage", "missing")}
    assert "empty" in reasons[inv["empty"]]
    assert "corrupt or truncated" in reasons[inv["corrupt"]] and "corrupt or truncated" in reasons[inv["truncated"]]
    assert "not a readable audio file" in reasons[inv["garbage"]]
    assert "missing" in reasons[inv["missing"]]

    cfg = _cfg(tmp_path, max_bad_fraction=0.5, librispeech={"source": "local", "root": str(libri_root)})
    report = prepare(cfg, "librispeech", out)
    train = read_manifest(out / "train.tsv")
    kept = set(train["id"])
    assert {inv["stereo"], inv["rate44k"], inv["good"]} <= kept
    assert not kept & set(reasons)
    # every file found is either in the manifest or listed as bad: nothing silently dropped
    assert report["splits"]["train"]["files_found"] == len(train) + report["splits"]["train"]["bad"]
    fixes = {Path(f["path"]).stem: f["fixes"] for f in report["fixed_files"]}
    assert any("down-mixed 2 channels" in f for f in fixes[inv["stereo"]])
    assert any("resampled 44100 Hz -> 16000 Hz" in f for f in fixes[inv["rate44k"]])
    row = train[train["id"] == inv["rate44k"]].iloc[0]
    assert row["sample_rate"] == 44100 and row["path"].endswith(f"{inv['rate44k']}.flac")  # original file


def test_failed_prepare_keeps_a_copy_of_the_report_and_names_it(tmp_path: Path, libri_root: Path) -> None:
    """Snakemake deletes report.json (an output) when the job fails; the copy (a log) must carry the list."""
    add_bad_librispeech_files(libri_root, "train-clean-100")
    copy = tmp_path / "logs" / "prepare_librispeech.report.json"
    cfg = _cfg(tmp_path, librispeech={"source": "local", "root": str(libri_root)})
    with pytest.raises(DataError) as err:
        prepare(cfg, "librispeech", tmp_path / "data", report_copy=copy)
    assert f"listed in {copy}" in str(err.value)
    assert len(json.loads(copy.read_text())["bad_files"]) == 5
    assert copy.read_text() == (tmp_path / "data" / "report.json").read_text()


def test_missing_root_is_one_clear_error_naming_key_and_download(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, librispeech={"source": "local", "root": str(tmp_path / "nowhere")})
    with pytest.raises(DataError) as err:
        prepare(cfg, "librispeech", tmp_path / "data")
    msg = str(err.value)
    assert "`data.librispeech.root`" in msg and "source: download" in msg
    assert "train-clean-100" in msg and "test-clean" in msg  # one error lists every missing subset
    cfg = _cfg(tmp_path, ljspeech={"source": "local", "root": None})
    with pytest.raises(DataError, match=r"`data\.ljspeech\.root`.*source: download"):
        prepare(cfg, "ljspeech", tmp_path / "data")


def test_ljspeech_eval_subset_is_seeded_and_capped(tmp_path: Path) -> None:
    build_ljspeech(tmp_path / "lj", 12, bad=True)
    out = tmp_path / "data"
    cfg = _cfg(tmp_path, max_bad_fraction=0.2,
               ljspeech={"source": "local", "root": str(tmp_path / "lj"), "eval_utterances": 5, "eval_seed": 3})
    report = prepare(cfg, "ljspeech", out)
    all_df, eval_df = read_manifest(out / "all.tsv"), read_manifest(out / "eval.tsv")
    assert len(all_df) == 12 and len(eval_df) == 5 and set(eval_df["id"]) <= set(all_df["id"])
    assert set(all_df["speaker"]) == {"LJ"} and set(all_df["sample_rate"]) == {22050}
    assert all_df.loc[all_df["id"] == "LJ001-0003", "text"].item() == "Text number 3, in eighteen fifty."
    assert {Path(b["path"]).name for b in report["bad_files"]} == {"LJ002-0001.wav", "LJ002-0002.wav"}
    first = list(eval_df["id"])
    prepare(cfg, "ljspeech", tmp_path / "again")
    assert list(read_manifest(tmp_path / "again" / "eval.tsv")["id"]) == first  # same seed, same subset
    cfg["data"]["ljspeech"]["eval_seed"] = 4
    prepare(cfg, "ljspeech", tmp_path / "other")
    assert list(read_manifest(tmp_path / "other" / "eval.tsv")["id"]) != first

    cfg["data"]["ljspeech"]["eval_utterances"] = 2000  # the paper's 2,000: capped, and the report says so
    report = prepare(cfg, "ljspeech", out)
    assert len(read_manifest(out / "eval.tsv")) == 12
    assert report["splits"]["eval"]["capped"] and "capped" in report["notes"][0]


def test_manifest_roundtrip_keeps_types_and_odd_text(tmp_path: Path) -> None:
    df = pd.DataFrame([dict(id="a-1-0001", path="/x/a.flac", sample_rate=16000, frames=123, speaker="0012",
                            chapter="007", text='He said "no"\tthen left'),
                       dict(id="b", path="/x/b.wav", sample_rate=22050, frames=5, speaker="LJ", chapter="LJ001",
                            text="")])
    write_manifest(df, tmp_path / "m.tsv")
    back = read_manifest(tmp_path / "m.tsv")
    assert back["speaker"].tolist() == ["0012", "LJ"] and back["chapter"].tolist() == ["007", "LJ001"]
    assert back["frames"].dtype.kind == "i" and back["text"].tolist() == ['He said "no" then left', ""]
    (tmp_path / "bad.tsv").write_text("id\tpath\n1\t/x\n")
    with pytest.raises(DataError, match="lacks column"):
        read_manifest(tmp_path / "bad.tsv")
