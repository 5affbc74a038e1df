"""Every `ucwa_*` option: its type, default, choices and help, in one place.

The addons declare their options from this table, validate them with `check`, and the `ucwa-vcr` command
takes its defaults and choices from it; the README's options table is checked against it by a test.
Pure: no mitmproxy here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import UsageError


class RecordMode(StrEnum):
    """VCR.py's record modes (what each does: the help of ucwa_record_mode below)."""

    ONCE = "once"
    NEW_EPISODES = "new_episodes"
    NONE = "none"
    ALL = "all"


class RecordScope(StrEnum):
    """What of the UCWA traffic is recorded."""

    SESSION = "session"
    MEETINGS = "meetings"


class Exhausted(StrEnum):
    """What replay does when the recorded answers to a request are used up."""

    REPEAT = "repeat"
    MISS = "miss"


# Request features replay can compare (see match.features), and those compared by default.
MATCHERS = ("method", "scheme", "host", "port", "path", "query", "accept", "auth", "body")
DEFAULT_MATCHERS = ("method", "scheme", "host", "port", "path", "query", "accept", "auth")


@dataclass(frozen=True)
class Option:
    """One mitmproxy option of ucwa-vcr."""

    name: str
    type: Any
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    what: str = ""  # what one value is called in an error ("record mode")
    minimum: int | None = None

    def check(self, value: Any) -> None:
        """Raise UsageError naming the option, the value and what is allowed when `value` is not."""
        values = list(value) if self.type == Sequence[str] else [value]
        for one in values:
            if self.choices and one not in self.choices:
                some = "some" if self.type == Sequence[str] else "one"
                raise UsageError(f"{self.name}: {one!r} is not a {self.what}; use {some} of {', '.join(self.choices)}")
            if self.minimum is not None and one < self.minimum:
                raise UsageError(f"{self.name}: {one} is negative; use {self.minimum} or more")


OPTIONS: dict[str, Option] = {o.name: o for o in [
    Option("ucwa_cassette", str, "", "Cassette file (YAML) to replay from and record into."),
    Option("ucwa_record_mode", str, RecordMode.ONCE.value,
           "once: record if the cassette is new, else replay only; new_episodes: replay what matches, "
           "record the rest; none: replay only, never contact a server; all: record everything.",
           choices=tuple(RecordMode), what="record mode"),
    Option("ucwa_hosts", str, "",
           "Regex of hosts treated as UCWA; empty: recognise UCWA by its URLs (/ucwa/, /Autodiscover/, "
           "/WebTicket/, lyncdiscover*, the Azure AD token endpoint) and by the hosts its answers link to; "
           "'.*': everything."),
    Option("ucwa_record_scope", str, RecordScope.SESSION.value,
           "session: record the whole UCWA session; meetings: only the onlineMeetings resources.",
           choices=tuple(RecordScope), what="scope"),
    Option("ucwa_redact_headers", Sequence[str], [], "Extra header names whose values are redacted."),
    Option("ucwa_redact_fields", Sequence[str], [],
           "Extra form, query, JSON and XML field names whose values are redacted."),
    Option("ucwa_pseudonymize", bool, False,
           "Give people, addresses, domains, phone numbers, meeting ids and pass codes consistent fake values of "
           "the same shape before anything is written (live requests get the same before matching)."),
    Option("ucwa_pseudonym_key", str, "",
           "Key of the pseudonyms (the same key gives the same pseudonyms); empty: the owner's key file, "
           "$UCWA_VCR_PSEUDONYM_KEY_FILE or ~/.config/ucwa-vcr/pseudonym.key, created once."),
    Option("ucwa_pseudonym_fields", Sequence[str], [],
           "Extra JSON, XML and form field names whose values are personal (replaced by same-shaped values)."),
    Option("ucwa_pseudonym_map", str, "",
           "File to write the real-to-pseudonym map into (JSON, for the owner's eyes only; never in the cassette); "
           "empty: not written."),
    Option("ucwa_match_on", Sequence[str], list(DEFAULT_MATCHERS),
           f"Request features that must be equal to replay a recorded answer: {', '.join(MATCHERS)}.",
           choices=MATCHERS, what="matcher"),
    Option("ucwa_exhausted", str, Exhausted.REPEAT.value,
           "When the recorded answers to a request are used up: repeat the last one, or miss.",
           choices=tuple(Exhausted), what="policy"),
    Option("ucwa_latency", int, 0,
           "Replay recorded durations, in percent: 0 answers at once, 100 as recorded, 200 twice as slow.",
           minimum=0),
    Option("ucwa_event_hold", int, 30,
           "Seconds to hold an unrecorded event-channel P-GET before answering like an idle channel.", minimum=0),
    Option("ucwa_simulate", bool, False,
           "Offline: answer myOnlineMeetings and its meetings from a model learned from the cassette, so creates, "
           "reads, updates and deletes the recording never saw get consistent answers in the recorded style."),
    Option("ucwa_faults", str, "", "Fault rules file (YAML): UCWA errors, delays, broken connections, patches."),
    Option("ucwa_inject", Sequence[str], [],
           "Shorthand fault rules, 'METHOD PATH-REGEX=ERROR-OR-TRANSPORT', e.g. "
           "'POST myOnlineMeetings$=TooManyOnlineMeetings'."),
    Option("ucwa_token_lifetime", int, 0,
           "Seconds a token the client fetched stays valid, counted from its fetch (replay or live): then "
           "signed-in requests get the recorded 401 challenge until the client fetches a new token; 0: for ever.",
           minimum=0),
]}
