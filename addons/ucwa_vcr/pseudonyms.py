"""Consistent pseudonyms for the personal data of a UCWA session, beside redaction (which handles secrets).

A `Pseudonymizer` replaces people, addresses, domains, phone numbers, meeting ids and pass codes with fake
values of the same shape, derived from the real value and a key with HMAC-SHA256: the same value and key
give the same pseudonym in every cassette, so a session stays coherent. Related values stay related:
`sip:jane.doe@corp.example`, `jane.doe@corp.example` and "Jane Doe" become one fake person (a display name
and a local part name the same person when their words agree), the domain one fake domain, also inside host
names (`lyncdiscover.<domain>`, `fe1.<domain>`). Fake domains end in `.example` (`litware42.example`, RFC 2606), fake
phone numbers hold `55501` (the fictional range), fake people come from `FIRST_NAMES` and `LAST_NAMES`:
`personal_data` finds what is left by shape and knows these.

What is personal (`PERSONAL_FIELDS`, extended by option): SIP URIs and e-mail addresses wherever they
stand (plain, URL-encoded, JSON); display names in name fields; meeting ids, conference ids, pass codes,
endpoint ids in their fields (JSON, XML properties, forms), and then that value wherever else it appears
(URL paths, joinUrl, onlineMeetingUri); GRUU `opaque=` values; `+` phone numbers and `tel:` URIs; IPv4
addresses in client-address headers (`X-Forwarded-For`, `X-MS-*`, ...). The real-to-fake map stays in the
object (`mapping`), never in a cassette. Pure: no mitmproxy here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

from .cassette.model import Cassette, Headers, Interaction, Message, Request
from .redact import RedactionRules, Redactor, body_text, highest_placeholder

FIRST_NAMES = ("Alex", "Blake", "Casey", "Dana", "Eden", "Frankie", "Gray", "Harper", "Indy", "Jordan", "Kai",
               "Logan", "Morgan", "Noel", "Oakley", "Parker", "Quinn", "Reese", "Sage", "Taylor", "Umber", "Val",
               "Wren", "Yael")
LAST_NAMES = ("Abbot", "Birch", "Calder", "Dunmore", "Ellery", "Fairley", "Garrow", "Hollis", "Ingram", "Jessop",
              "Kestrel", "Linden", "Marlow", "Norcott", "Oswin", "Pemberton", "Quarry", "Rowley", "Sterling",
              "Thorne", "Upton", "Vance", "Whitlow", "Yarrow")
ORGS = ("fabrikam", "northwind", "adatum", "litware", "tailspin", "woodgrove", "wingtip", "proseware", "lucerne",
        "fourthcoffee", "margie", "treyresearch")

# Fields whose whole value is personal, by what it is (names compared in any case).
NAME_FIELDS = frozenset({"name", "displayname", "organizername"})
DIGIT_FIELDS = frozenset({"participantpasscode", "conferenceid", "passcode"})
ID_FIELDS = frozenset({"onlinemeetingid", "endpointid", "meetingid", "applicationid"})
PHONE_FIELDS = frozenset({"tollnumber", "tollfreenumber", "number", "phonenumber", "telephonenumber", "mobile"})
PERSONAL_FIELDS = NAME_FIELDS | DIGIT_FIELDS | ID_FIELDS | PHONE_FIELDS
# Headers whose IPv4 addresses are the client's.
# Headers naming a machine (its first label is pseudonymized) and headers that are numbers only.
MACHINE_HEADER_WORDS = ("fqdn", "machine", "server-name", "hostname")
NUMERIC_HEADERS = frozenset({"content-length", "age", "max-forwards", "retry-after"})
CLIENT_IP_HEADERS = ("x-forwarded-for", "x-real-ip", "client-ip", "true-client-ip", "forwarded", "x-ms-")

_AT = r"(?:@|%(?:25)?40)"
_ADDRESS = re.compile(rf"(?P<sip>(?i:sip|sips|mailto)(?::|%(?:25)?3[aA]))?(?P<local>[A-Za-z0-9][A-Za-z0-9._+'-]*)"
                      rf"{_AT}(?P<domain>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{{2,}})"
                      r"(?![A-Za-z0-9-])")
# The user's domain as discovery names it, before any address does: its host and its user link's query.
_DISCOVERY = re.compile(r"(?:lyncdiscover(?:internal)?\.|originalDomain=)([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)",
                        re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w.+-])(?:tel:)?\+\d[\d ().-]{5,}\d(?![\w])")
_GRUU = re.compile(r"(opaque=)([A-Za-z0-9:._-]+)")
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_HEX = frozenset("0123456789abcdefABCDEF")


def _fictional(digits: str) -> bool:
    """Whether a phone number's digits are a pseudonym's: `55501` after a country code of one or two digits."""
    return "55501" in (digits[1:6], digits[2:7])


def load_key(key: str = "", key_file: str | os.PathLike[str] | None = None) -> bytes:
    """The pseudonym key: `key` when given, else the owner's key file (created once, private), outside any
    cassette: `$UCWA_VCR_PSEUDONYM_KEY_FILE`, else `$XDG_CONFIG_HOME/ucwa-vcr/pseudonym.key` (~/.config)."""
    if key:
        return key.encode()
    if key_file is None:
        key_file = os.environ.get("UCWA_VCR_PSEUDONYM_KEY_FILE") or (
            Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "ucwa-vcr" / "pseudonym.key")
    path = Path(key_file).expanduser()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    return path.read_text().strip().encode()


def _words(value: str) -> tuple[str, ...]:
    """The words naming a person, lower-case, first name first (`Doe, Jane` and `jane.doe` are `jane doe`)."""
    if "," in value:
        last, _, first = value.partition(",")
        value = f"{first} {last}"
    return tuple(w for w in re.split(r"[\s._+'-]+", value.lower()) if w)


def is_fake_person(words: Iterable[str]) -> bool:
    """Whether a name's words are those of a pseudonym (one of FIRST_NAMES, then maybe one of LAST_NAMES)."""
    words = [w.lower() for w in words]
    firsts, lasts = {n.lower() for n in FIRST_NAMES}, {n.lower() for n in LAST_NAMES}
    return bool(words) and words[0].rstrip("0123456789") in firsts and all(
        w.rstrip("0123456789") in lasts for w in words[1:])


_FAKE_DOMAIN = re.compile(rf"(?:[a-z0-9-]+\.)*(?:{'|'.join(ORGS)})\d{{2}}\.example|(?:[a-z0-9-]+\.)*invalid",
                          re.IGNORECASE)


def is_fake_domain(domain: str) -> bool:
    """Whether a domain is a pseudonym (`litware42.example`) or `.invalid` (nobody's)."""
    return bool(_FAKE_DOMAIN.fullmatch(domain))


class Pseudonymizer:
    """Replaces personal values in text with stable pseudonyms of the same shape."""

    def __init__(self, key: bytes, fields: Iterable[str] = ()) -> None:
        self.key = key
        self.fields = PERSONAL_FIELDS | {f.strip().lower() for f in fields if f.strip()}
        self.mapping: dict[str, dict[str, str]] = {}  # kind -> real -> pseudonym: for the owner's eyes only
        self._issued: set[str] = set()  # pseudonyms (and values known to be pseudonyms): never mapped again
        self._domains: dict[str, str] = {}  # real domain (lower-case) -> fake
        self._values: dict[str, str] = {}  # ids and local parts learned, replaced wherever they stand
        self._values_re: re.Pattern[str] | None = None
        self._field_re = _field_patterns(self.fields)

    # -- the pseudonyms ------------------------------------------------------------------------------
    def _hash(self, kind: str, value: str) -> int:
        return int.from_bytes(hmac.new(self.key, f"{kind}\0{value}".encode(), hashlib.sha256).digest()[:16], "big")

    def _remember(self, kind: str, real: str, fake: str) -> str:
        if real != fake:
            self.mapping.setdefault(kind, {})[real] = fake
            self._issued.add(fake)
        return fake

    def _person(self, words: tuple[str, ...]) -> tuple[str, str]:
        h = self._hash("person", " ".join(words))
        first, last = FIRST_NAMES[h % len(FIRST_NAMES)], LAST_NAMES[(h >> 16) % len(LAST_NAMES)]
        suffix = str((h >> 32) % 90 + 10) if len(words) > 2 else ""
        return first, last + suffix

    def display_name(self, value: str) -> str:
        """A person's display name ("Jane Doe" -> "Quinn Marlow"); one word stays one word."""
        words = _words(value)
        if (not words or value in self._issued or is_fake_person(words) or not any(c.isalpha() for c in value)
                or value.startswith("REDACTED")):
            return value
        first, last = self._person(words)
        return self._remember("name", value, first if len(words) == 1 else f"{first} {last}")

    def local_part(self, value: str) -> str:
        """The local part of an address, with the person's pseudonym (`jane.doe` -> `quinn.marlow`)."""
        words = _words(value)
        if not words or value in self._issued or is_fake_person(words):
            return value
        first, last = self._person(words)
        sep = next((c for c in value if c in "._-"), "" if len(words) == 1 else ".")
        fake = (first.lower() if len(words) == 1 else f"{first}{sep}{last}".lower())
        fake += "".join(c for c in value if c.isdigit())[-2:]
        self._learn_value(value, fake)
        return self._remember("address", value, fake)

    def domain(self, value: str) -> str:
        """A fake domain (`corp.example.com` -> `litware.example`), one per real domain."""
        low = value.lower()
        if low in self._issued or is_fake_domain(low) or low in ("localhost",):
            return value
        if low not in self._domains:
            h = self._hash("domain", low)
            fake = f"{ORGS[h % len(ORGS)]}{(h >> 8) % 90 + 10}.example"
            self._domains[low] = self._remember("domain", low, fake)
        return self._domains[low]

    def shaped(self, kind: str, value: str) -> str:
        """A value of the same shape: digits for digits, hex for hex, letters in the same case, the rest kept."""
        if value in self._issued or not value or value.startswith("REDACTED"):
            return value
        h = self._hash(kind, value)
        hexish = all(c in _HEX or not c.isalnum() for c in value)
        out = []
        for n, c in enumerate(value):
            r = (h >> (n * 5 % 120)) ^ n * 7
            if c.isdigit():
                out.append(str((r % 9) + 1) if n == 0 else str(r % 10))
            elif hexish and c in _HEX:
                out.append("0123456789abcdef"[r % 16].upper() if c.isupper() else "0123456789abcdef"[r % 16])
            elif c.isalpha() and c.isascii():
                letter = "abcdefghijklmnopqrstuvwxyz"[r % 26]
                out.append(letter.upper() if c.isupper() else letter)
            else:
                out.append(c)
        fake = "".join(out)
        if len(value) >= 4:
            self._learn_value(value, fake)
        return self._remember(kind, value, fake)

    def phone(self, value: str) -> str:
        """A phone number of the same shape in the fictional range: the country code kept, then `55501`."""
        digits = [c for c in value if c.isdigit()]
        if value in self._issued or _fictional("".join(digits)) or len(digits) < 7:
            return value
        fake_digits = list(self.shaped("phone-digits", "".join(digits)))
        keep = 1 if digits[0] == "1" or len(digits) <= 10 else 2
        fake_digits[keep:keep + 5] = list("55501")[:max(0, len(digits) - keep)]
        fake_digits[:keep] = digits[:keep]
        it = iter(fake_digits[:len(digits)])
        return self._remember("phone", value, "".join(next(it) if c.isdigit() else c for c in value))

    def _learn_value(self, real: str, fake: str) -> None:
        # short numbers stay in their fields: elsewhere they may be a length, a count, a port
        if real not in self._values and len(real) >= 4 and (not real.isdigit() or len(real) >= 7):
            self._values[real] = fake
            self._values_re = None

    # -- text ------------------------------------------------------------------------------------------
    def learn(self, text: str) -> None:
        """Take up the domains and ids a text names, so that they are replaced wherever they stand later."""
        for m in _DISCOVERY.finditer(text):
            self.domain(m.group(1))
        for m in _ADDRESS.finditer(text):
            self.domain(m.group("domain"))
        for kind, pattern in self._field_re:
            if kind in ("digits", "id"):
                for m in pattern.finditer(text):
                    self.shaped(kind, m.group("v"))

    def text(self, text: str) -> str:
        """Text with every personal value it holds replaced by its pseudonym."""
        self.learn(text)
        text = _ADDRESS.sub(self._address, text)
        for kind, pattern in self._field_re:
            text = pattern.sub(lambda m, kind=kind: self._field(kind, m), text)  # type: ignore[misc]
        text = _GRUU.sub(lambda m: m.group(1) + self._opaque(m.group(2)), text)
        text = _PHONE.sub(lambda m: self.phone(m.group(0)), text)
        return self._known(text)

    def _address(self, m: re.Match[str]) -> str:
        local, domain = m.group("local"), m.group("domain")
        at = m.group(0)[m.end("local") - m.start():m.start("domain") - m.start()]
        return (m.group("sip") or "") + self.local_part(local) + at + self.domain(domain)

    def _field(self, kind: str, m: re.Match[str]) -> str:
        value = m.group("v")
        if kind == "name":
            fake = self.display_name(value) if "@" not in value and ":" not in value else value
        elif kind == "phone":
            fake = self.phone(value) if sum(c.isdigit() for c in value) >= 7 else self.shaped("digits", value)
        else:
            fake = self.shaped(kind, value)
        return m.group(0)[:m.start("v") - m.start()] + fake + m.group(0)[m.end("v") - m.start():]

    def _opaque(self, value: str) -> str:
        head, sep, last = value.rpartition(":")
        return head + sep + self.shaped("id", last) if last else value

    def _known(self, text: str) -> str:
        """Learned domains (in host names too) and learned ids and local parts, wherever they stand."""
        if self._domains:
            pattern = "|".join(re.escape(d) for d in sorted(self._domains, key=len, reverse=True))
            text = re.sub(rf"(?<![A-Za-z0-9-])(?i:{pattern})(?![A-Za-z0-9-])",
                          lambda m: self._domains.get(m.group(0).lower(), m.group(0)), text)
        if self._values:
            if self._values_re is None:
                alts = "|".join(re.escape(v) for v in sorted(self._values, key=len, reverse=True))
                self._values_re = re.compile(rf"(?<![A-Za-z0-9_.-])(?:{alts})(?![A-Za-z0-9_-])")
            text = self._values_re.sub(lambda m: self._values[m.group(0)], text)
        return text

    def header(self, name: str, value: str) -> str:
        """A header value pseudonymized; client addresses in client-address headers, machine names in
        machine-name headers (`X-MS-Server-Fqdn: FE1.corp.example` -> `QX7.litware42.example`) too."""
        low = name.lower()
        if low in NUMERIC_HEADERS:
            return value
        if low.startswith(CLIENT_IP_HEADERS):
            value = _IPV4.sub(self._ip, value)
        if any(word in low for word in MACHINE_HEADER_WORDS) and not _IPV4.fullmatch(value.strip()):
            machine, dot, rest = value.strip().partition(".")
            value = self.shaped("machine", machine) + dot + rest
        return self.text(value)

    def _ip(self, m: re.Match[str]) -> str:
        if m.group(1) == "127" or m.group(0).startswith(("192.0.2.", "198.51.100.", "203.0.113.")):
            return m.group(0)
        return self._remember("ip", m.group(0), f"198.51.100.{self._hash('ip', m.group(0)) % 254 + 1}")

    def keep_pseudonyms_of(self, cassette: Cassette) -> None:
        """Treat what a (pseudonymized) cassette holds as pseudonyms already: never map them again (replay
        compares live requests, real or following the cassette's links, with the recorded ones)."""
        probe = Pseudonymizer(self.key, self.fields)
        for i in cassette.interactions:
            for message in (i.request, i.response):
                probe.text(_all_text(message))
        for kind in probe.mapping.values():
            self._issued.update(kind)
        self._issued.update(probe._domains)


def write_mapping(path: Path, mapping: dict[str, dict[str, str]]) -> None:
    """Write the real-to-pseudonym map as JSON, readable by its owner only (merged with one already there)."""
    old: dict[str, dict[str, str]] = {}
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = {}
    merged = {kind: {**old.get(kind, {}), **values} for kind, values in {**old, **mapping}.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(merged, f, indent=1, sort_keys=True)


class PseudonymizingRedactor(Redactor):
    """A Redactor that also gives personal values their pseudonyms, wherever it searches for secrets."""

    def __init__(self, pseudonymizer: Pseudonymizer, rules: RedactionRules | None = None, start: int = 1,
                 canonical: bool = False) -> None:
        super().__init__(rules or RedactionRules(), start, canonical)
        self.pseudonymizer = pseudonymizer

    @classmethod
    def adding_to_cassette(cls, cassette: Cassette, rules: RedactionRules,
                           pseudonymizer: Pseudonymizer) -> PseudonymizingRedactor:
        """As Redactor.adding_to: placeholders continue the cassette's numbering."""
        return cls(pseudonymizer, rules, start=highest_placeholder(cassette) + 1)

    def text(self, text: str) -> str:
        return self.pseudonymizer.text(super().text(text))

    def _header(self, name: str, value: str) -> str:
        return self.pseudonymizer.header(name, super()._header(name, value))

    def headers(self, headers: Headers) -> Headers:
        return [(k, self._header(k, v)) for k, v in headers]

    def interaction(self, interaction: Interaction) -> Interaction:
        """A redacted, pseudonymized copy; ids the answer names (a new meeting's) are known before the request's
        URL is rewritten."""
        for message in (interaction.request, interaction.response):
            self.pseudonymizer.learn(_all_text(message))
        return super().interaction(interaction)


def _all_text(message: Message) -> str:
    texts = [v for _, v in message.headers] + [body_text(message) or ""]
    if isinstance(message, Request):
        texts.append(message.url)
    return "\n".join(texts)


def _field_patterns(fields: frozenset[str]) -> list[tuple[str, re.Pattern[str]]]:
    """(kind, pattern) per kind of field and spelling: JSON `"f": "v"`, XML `<property name="f">v<`, forms `f=v`."""
    kinds = (("name", NAME_FIELDS), ("digits", DIGIT_FIELDS), ("phone", PHONE_FIELDS),
             ("id", (ID_FIELDS | fields) - NAME_FIELDS - DIGIT_FIELDS - PHONE_FIELDS))
    out = []
    for kind, names in kinds:
        alts = "|".join(re.escape(n) for n in sorted(names))
        out.append((kind, re.compile(rf"\"(?i:{alts})\"\s*:\s*\"(?P<v>[^\"\\]+)\"")))
        out.append((kind, re.compile(rf"<property\b[^>]*?\bname\s*=\s*[\"'](?i:{alts})[\"'][^>]*(?<!/)>"
                                     r"(?P<v>[^<]+)(?=</)")))
        if kind != "name":
            out.append((kind, re.compile(rf"(?<![A-Za-z0-9_])(?i:{alts})=(?P<v>[A-Za-z0-9.+-]+)")))
    return out


_NAME_FIELD = re.compile(rf"\"(?i:{'|'.join(sorted(NAME_FIELDS))})\"\s*:\s*\"(?P<v>[^\"\\]+)\""
                         rf"|<property\b[^>]*?\bname\s*=\s*[\"'](?i:{'|'.join(sorted(NAME_FIELDS))})[\"'][^>]*(?<!/)>"
                         r"(?P<x>[^<]+)(?=</)")


def personal_data(text: str) -> list[tuple[int, str]]:
    """Personal data left in a text, by shape, that is no pseudonym: (offset, what), one per kind, never the value.

    SIP URIs and e-mail addresses whose domain is no pseudonym domain, `+` phone numbers outside the
    fictional range, and display names in name fields that are no pseudonym person.
    """
    found: dict[str, tuple[int, int]] = {}  # kind -> (first offset, count)

    def add(kind: str, at: int) -> None:
        first, count = found.get(kind, (at, 0))
        found[kind] = (first, count + 1)

    for m in _ADDRESS.finditer(text):
        if not is_fake_domain(m.group("domain")):
            add("SIP URI" if m.group("sip") else "e-mail address", m.start())
    for m in _PHONE.finditer(text):
        if not _fictional(re.sub(r"\D", "", m.group(0))):
            add("phone number", m.start())
    for m in _NAME_FIELD.finditer(text):
        value = m.group("v") or m.group("x") or ""
        if any(c.isalpha() for c in value) and "@" not in value and not is_fake_person(_words(value)):
            add("display name", m.start())
    return [(at, f"{count} {kind}{'s' if count > 1 else ''} that {'are' if count > 1 else 'is'} no pseudonym")
            for kind, (at, count) in found.items()]
