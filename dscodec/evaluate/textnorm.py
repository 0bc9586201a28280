"""Transcript normalisation for WER/CER: the same function for the reference text and the ASR output.

Why: a word error rate is only meaningful when formatting differences are not counted as
errors. LibriSpeech transcripts are upper case without punctuation, LJSpeech's normalised
column is mixed case with punctuation, PocketSphinx answers lower case, and Whisper answers
with punctuation and digits. :func:`normalize_text` maps all of them to one form:

1. Unicode NFKD, accents dropped (``café`` -> ``cafe``), curly apostrophes made straight;
2. lower case;
3. digits written as English words: ``1,200`` -> ``one thousand two hundred``, ``3.5`` ->
   ``three point five``, ``21st`` -> ``twenty first``. Years are read as cardinals (``1990`` ->
   ``one thousand nine hundred ninety``, not ``nineteen ninety``), so a Whisper transcript of a
   spoken year still differs from a digit reference; neither corpus here has digits in its text
   (LibriSpeech spells numbers out; LJSpeech's normalised column does too);
4. every character other than a-z and an apostrophe inside a word becomes a space
   (``well-known`` -> ``well known``; ``don't`` stays, quotes ``'so'`` lose theirs);
5. whitespace collapsed, ends stripped.
"""
from __future__ import annotations

import re
import unicodedata

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10 ** 12, "trillion"), (10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand"))
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                      "nine": "ninth", "twelve": "twelfth"}
_MAX_CARDINAL = 10 ** 15            # above that, digits are read one by one


def cardinal(n: int) -> str:
    """English words for a non-negative integer (``105`` -> ``one hundred five``)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + cardinal(n % 100))
    for value, word in _SCALES:
        if n >= value:
            rest = n % value
            return cardinal(n // value) + " " + word + ("" if rest == 0 else " " + cardinal(rest))
    raise AssertionError("unreachable")  # pragma: no cover


def ordinal(n: int) -> str:
    """English ordinal words (``21`` -> ``twenty first``)."""
    words = cardinal(n).split()
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        words[-1] = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def _digits(token: str) -> str:
    n = int(token)
    if n >= _MAX_CARDINAL or (len(token) > 1 and token.startswith("0")):  # a code or a phone number
        return " ".join(_ONES[int(d)] for d in token)
    return cardinal(n)


def expand_numbers(text: str) -> str:
    """Digits as words: thousands separators, decimals and ordinal suffixes first, then integers."""
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(r"(\d+)\.(\d+)", lambda m: f" {_digits(m[1])} point {' '.join(_ONES[int(d)] for d in m[2])} ",
                  text)
    text = re.sub(r"(\d+)(st|nd|rd|th)\b", lambda m: f" {ordinal(int(m[1]))} ", text)
    return re.sub(r"\d+", lambda m: f" {_digits(m[0])} ", text)


def normalize_text(text: str) -> str:
    """The comparison form of a transcript (module docstring); applied to reference and hypothesis alike."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("\u2019", "'").replace("\u2018", "'").lower()
    text = expand_numbers(text)
    text = re.sub(r"[^a-z']+", " ", text)
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)   # apostrophes only inside words
    return " ".join(text.split())
