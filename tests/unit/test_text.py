"""The wording shared by what ucwa-vcr prints."""

from __future__ import annotations

import pytest
from ucwa_vcr.text import counted


@pytest.mark.parametrize(("n", "noun", "plural", "expected"), [
    (0, "exchange", "", "0 exchanges"), (1, "exchange", "", "1 exchange"), (2, "exchange", "", "2 exchanges"),
    (1, "body", "bodies", "1 body"), (3, "body", "bodies", "3 bodies"),
])
def test_counted(n, noun, plural, expected):
    assert counted(n, noun, plural) == expected
