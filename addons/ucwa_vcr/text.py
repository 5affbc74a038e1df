"""Wording shared by everything ucwa-vcr prints. Pure."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str = "") -> str:
    """`1 exchange`, `2 exchanges`, `1 body`, `3 bodies` (`plural` when adding an s is wrong)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
