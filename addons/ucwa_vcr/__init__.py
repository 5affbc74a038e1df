"""ucwa-vcr: record, redact, replay and mutate Skype for Business UCWA traffic with mitmproxy."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

# The cassette `ucwa-vcr replay` serves when given none: the samples of Microsoft's myOnlineMeetings page.
DEFAULT_CASSETTE = Path(__file__).with_name("seed.yaml")


def make_addons() -> list[object]:
    """The addons in hook order.

    Requests: faults first (an injected answer wins), then replay. Responses: the recorder keeps the real
    answer before faults may patch or break it.
    """
    from .deck import UcwaDeck
    from .faults import UcwaFaults
    from .record import UcwaRecorder
    from .replay import UcwaReplayer

    deck = UcwaDeck()
    return [deck, UcwaRecorder(deck), UcwaFaults(), UcwaReplayer(deck)]
