"""New values in the shape of recorded ones: meeting ids, conference ids, ETags, GUIDs.

A client that parses what the server sent (an 8-character meeting id, a numeric ETag) must get new values it
parses the same way. Values are drawn from a seeded generator, so a simulated session is the same every run.
"""

from __future__ import annotations

import random
import re
import string
import uuid
from collections.abc import Container

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CLASSES = (string.digits, string.ascii_uppercase, string.ascii_lowercase)
_TRIES = 50  # draws of one length before a longer value is tried (a one-digit shape runs out after ten)


class ShapeMaker:
    """Draws new values shaped like examples, never one already taken."""

    def __init__(self, seed: int | str = "ucwa-vcr") -> None:
        self._random = random.Random(str(seed))

    def guid(self, example: str = "") -> str:
        """A new random GUID, upper-case when the example is."""
        value = str(uuid.UUID(int=self._random.getrandbits(128), version=4))
        return value.upper() if example and example == example.upper() and example != example.lower() else value

    def like(self, example: str, taken: Container[str] = ()) -> str:
        """A new value shaped like `example`: a GUID for a GUID; otherwise letters and digits drawn from the
        character classes the example uses, everything else kept where it stands."""
        if GUID.fullmatch(example):
            while True:
                value = self.guid(example)
                if value not in taken:
                    return value
        pattern = example if any(c.isalnum() for c in example) else "X" * 8
        alphabet = "".join(chars for chars in _CLASSES if any(c in chars for c in pattern)) or string.digits
        while True:
            for _ in range(_TRIES):
                value = "".join(self._draw(c, alphabet, i == 0 and alphabet == string.digits and c != "0")
                                for i, c in enumerate(pattern))
                if value != example and value not in taken:
                    return value
            pattern += pattern[-1] if pattern[-1].isalnum() else "0"

    def _draw(self, char: str, alphabet: str, leading: bool) -> str:
        """One character: a fresh one for a letter or digit (a number does not start with 0), else `char`."""
        if char not in alphabet and not char.isalnum():
            return char
        return self._random.choice(alphabet[1:] if leading else alphabet)

    def fresh_guids(self, text: str) -> str:
        """`text` with every GUID in it replaced by a new one (a conversation id in a legacy meeting URI)."""
        return GUID.sub(lambda m: self.guid(m.group(0)), text)
