"""Text for the synthetic sample corpus: a file of hand-written sentences plus a small grammar.

Varied text gives varied phonetic content, which matters more to a codec than meaning. The
grammar multiplies the 80 hand-written sentences into thousands of distinct ones, so that
even a large sample corpus rarely repeats a sentence. Everything is drawn from a seeded
`random.Random`, so the corpus is reproducible.
"""
from __future__ import annotations

import random
from functools import lru_cache
from importlib import resources

_SUBJECTS = [
    "the old sailor", "a young painter", "my cousin", "the village baker", "our teacher", "a tired traveller",
    "the quiet librarian", "the farmer's daughter", "a clever fox", "the tall stranger", "the night nurse",
    "a busy merchant", "the little boy", "her grandmother", "the ship's cook", "a wandering minstrel",
]
_VERBS = [
    "carried", "painted", "forgot", "found", "repaired", "borrowed", "polished", "opened", "described",
    "hid", "weighed", "noticed", "sold", "wrapped", "chased", "measured", "followed", "admired",
]
_ADJECTIVES = [
    "heavy", "shiny", "broken", "crooked", "golden", "dusty", "bright", "narrow", "wooden", "ancient",
    "fragile", "purple", "enormous", "tiny", "curious", "muddy", "silver", "peculiar",
]
_OBJECTS = [
    "lantern", "basket of apples", "clock", "wagon", "letter", "violin", "fishing net", "map", "kettle",
    "umbrella", "chest of drawers", "bicycle", "bundle of reeds", "painting", "bottle of ink", "compass",
]
_PLACES = [
    "near the harbour", "behind the barn", "in the crowded market", "beside the frozen lake",
    "under the railway bridge", "at the edge of the forest", "on the windy hill", "inside the chapel",
    "by the kitchen fire", "along the muddy lane", "across the valley", "outside the post office",
]
_TIMES = [
    "early this morning", "late last night", "just before the storm", "after supper", "during the long winter",
    "on a sunny afternoon", "at the break of day", "while the bells were ringing",
]
_TEMPLATES = [
    "{S} {V} the {A} {O} {P}.",
    "{T}, {s} {V} a {A} {O}.",
    "Why had {s} {V} the {O} {P}?",
    "{S} said that nobody had {V} the {A} {O} {T}.",
    "The {A} {O} was {V2} {P} {T}.",
    "If {s} had not {V} the {O}, the {A} {O2} would still be {P}.",
]


@lru_cache(maxsize=1)
def handwritten() -> tuple[str, ...]:
    """Sentences from dscodec/data/texts/sentences.txt (comments and blank lines skipped)."""
    text = resources.files("dscodec.data").joinpath("texts/sentences.txt").read_text(encoding="utf-8")
    return tuple(s.strip() for s in text.splitlines() if s.strip() and not s.startswith("#"))


def generated(rng: random.Random) -> str:
    """One sentence from the grammar above."""
    subject = rng.choice(_SUBJECTS)
    sentence = rng.choice(_TEMPLATES).format(
        S=subject[0].upper() + subject[1:], s=subject, V=rng.choice(_VERBS), V2=rng.choice(_VERBS),
        A=rng.choice(_ADJECTIVES), O=rng.choice(_OBJECTS), O2=rng.choice(_OBJECTS), P=rng.choice(_PLACES),
        T=rng.choice(_TIMES),
    )
    return sentence[0].upper() + sentence[1:]


def sentence(rng: random.Random) -> str:
    """A hand-written sentence half of the time, a generated one otherwise."""
    return rng.choice(handwritten()) if rng.random() < 0.5 else generated(rng)


def utterance_text(rng: random.Random, max_sentences: int = 3) -> str:
    """1..max_sentences sentences: utterances of a few seconds up to ~15 s, like audiobook segments."""
    return " ".join(sentence(rng) for _ in range(rng.randint(1, max_sentences)))


def librispeech_normalize(text: str) -> str:
    """LibriSpeech transcript style: upper case, apostrophes kept, other punctuation removed."""
    kept = "".join(ch if ch.isalpha() or ch == "'" else " " for ch in text.upper())
    return " ".join(kept.split())
