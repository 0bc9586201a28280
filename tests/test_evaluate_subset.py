"""Which test utterances an evaluation scores (dscodec/evaluate/subset.py): a seeded draw,
stratified over speakers, independent of manifest order (issue 11: the first N rows of a
speaker-ordered manifest were one voice)."""
from __future__ import annotations

import pandas as pd
import pytest

from dscodec.evaluate import subset


def manifest(speakers: dict[str, int]) -> pd.DataFrame:
    """Rows ordered by speaker, as the prepared manifests are."""
    rows = [{"id": f"{spk}-{i:03d}", "speaker": spk} for spk, n in speakers.items() for i in range(n)]
    return pd.DataFrame(rows)


def test_six_utterances_cover_three_speakers_two_each():
    frame = manifest({"1089": 10, "121": 7, "237": 12})
    drawn = subset.draw(frame, 6, seed=0)
    assert drawn["speaker"].value_counts().to_dict() == {"1089": 2, "121": 2, "237": 2}
    # the old selection (first 6 rows) was a single speaker
    assert frame.iloc[:6]["speaker"].nunique() == 1


def test_counts_per_speaker_differ_by_at_most_one_and_every_speaker_is_in():
    frame = manifest({"a": 5, "b": 1, "c": 9, "d": 3})
    for n in range(4, 12):
        counts = subset.draw(frame, n, seed=3)["speaker"].value_counts()
        assert len(counts) == 4 and counts.sum() == n
        assert counts.max() - counts.min() <= 1 or counts["b"] == 1   # b has one utterance only


def test_draw_is_deterministic_sorted_and_independent_of_manifest_order():
    frame = manifest({"a": 6, "b": 6, "c": 6})
    drawn = subset.draw(frame, 5, seed=7)
    shuffled = subset.draw(frame.sample(frac=1.0, random_state=1), 5, seed=7)
    pd.testing.assert_frame_equal(drawn, shuffled)
    assert list(drawn.itertuples(index=False)) == sorted(drawn.itertuples(index=False), key=lambda r: (r.speaker, r.id))
    other = [set(subset.draw(frame, 5, seed=s)["id"]) for s in range(8)]
    assert len({frozenset(x) for x in other}) > 1   # the seed matters


def test_one_speaker_is_a_seeded_sample_and_no_cap_keeps_everything():
    frame = manifest({"LJ": 50})
    drawn = subset.draw(frame, 6, seed=0)
    assert len(drawn) == 6 and list(drawn["id"]) != list(frame["id"][:6])
    assert len(subset.draw(frame, None, seed=0)) == 50 and len(subset.draw(frame, 80, seed=0)) == 50


@pytest.mark.parametrize("n", [None, 4])
def test_description_names_speakers_and_counts(n):
    frame = manifest({"a": 3, "b": 3})
    drawn = subset.draw(frame, n, seed=0)
    info = subset.describe(drawn, len(frame), n, seed=0)
    assert info["speakers"] == ({"a": 3, "b": 3} if n is None else {"a": 2, "b": 2})
    assert (info["utterances"], info["manifest_utterances"], info["seed"], info["max_utterances"]) == (
        len(drawn), 6, 0, n)
