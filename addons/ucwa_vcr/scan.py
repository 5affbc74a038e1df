"""Case-insensitive patterns run only where their literal stands. Pure.

A pattern that begins with a look-behind or a case-insensitive word makes `re` try every position of a body
(80-130 µs for 6 KB); finding the word with str.find in a lower-cased copy first costs a few, and the pattern then
runs only there. The results are the pattern's own: every match starts at a needle of the lower-cased copy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

# The letters re.IGNORECASE matches with an ASCII letter although str.lower() keeps them (dotless i, long s); the
# other such letters lower-case to ASCII (Kelvin sign) or change length (dotted capital I): see caseless().
_FOLDS = (("ı", "i"), ("ſ", "s"))


def caseless(text: str) -> str:
    """The text lower-cased so that a needle's ASCII letters stand wherever re.IGNORECASE would match them."""
    low = text.lower()
    if not low.isascii():
        for letter, ascii_letter in _FOLDS:
            low = low.replace(letter, ascii_letter)
    return low


def finditer_near(text: str, low: str, needles: Iterable[str], back: int,
                  pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
    """`pattern.finditer(text)` for a pattern whose (non-empty) matches start `back` characters before a needle:
    the pattern is only tried where a needle stands in `low` (the text lower-cased, position for position)."""
    if len(low) != len(text):  # a few characters change length when lower-cased: positions would not agree
        yield from pattern.finditer(text)
        return
    starts: set[int] = set()
    for needle in needles:
        i = low.find(needle)
        while i >= 0:
            starts.add(i - back)
            i = low.find(needle, i + 1)
    last = 0
    for start in sorted(starts):
        if start < last:  # inside the previous match, or before the text
            continue
        m = pattern.match(text, start)
        if m:
            yield m
            last = m.end()


def sub_near(text: str, low: str, needles: Iterable[str], back: int, pattern: re.Pattern[str],
             replace: Callable[[re.Match[str]], str]) -> str:
    """`pattern.sub(replace, text)` as finditer_near finds the matches; `text` itself when nothing matched."""
    out: list[str] = []
    last = 0
    for m in finditer_near(text, low, needles, back, pattern):
        out += (text[last:m.start()], replace(m))
        last = m.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)
