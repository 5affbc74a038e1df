"""Fault rules: parsing and validating the rules file, and deciding which rule fires for a request.

Pure: no mitmproxy here. The rules file (YAML):

    seed: 7                                   # optional: makes `probability` repeatable
    faults:
      - match: {method: POST, path: 'myOnlineMeetings$', headers: {Accept: xml}, body: subject}
        after: 2                              # skip the first 2 matching requests
        times: 1                              # then fire once (default: every time)
        probability: 0.5                      # optional
        error: TooManyOnlineMeetings          # one action: error | respond | transport | patch | expire | delay alone
        delay: 1.5                            # optional: seconds to wait first (alone: a slow answer)

Actions: `error: <name from the catalogue>`; `respond: {status, reason, headers, body}`;
`transport: reset | hang | empty | truncate | malformed`; `patch: {set: {/json/pointer: value},
remove: [/json/pointer], headers: {Name: value}}` applied to the real (recorded or live) answer;
`expire: token | application` puts the session into a state (see session_state.py): from the request the rule
fires on, signed-in requests get the recorded 401 challenge until the client fetches a token, or the
application's requests get `error` (default ApplicationNotFound) until the client creates an application.

`error_answer` and `expired_answer` are those answers in cassette form (a batch's part carries them as bytes). On a
batch's part (proxy/faults.py) a rule acts on the part alone, but the transports in ON_THE_BATCH act on the batch.
"""

from __future__ import annotations

import difflib
import json
import math
import random
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from .cassette.model import Interaction, Response
from .errors import RuleError
from .match import url_parts
from .protocol import ERRORS, error
from .session_state import EXPIRES, Expired, built_challenge, recorded_challenge

TRANSPORTS = ("reset", "hang", "empty", "truncate", "malformed")
ON_THE_ANSWER = ("truncate", "malformed")  # transports that break the real answer rather than replace it
ON_THE_BATCH = ("reset", "hang", "truncate")  # transports that, fired by a batch's part, act on the whole batch
ACTIONS = ("error", "respond", "transport", "patch", "expire")
_RULE_KEYS = {"match", "after", "times", "probability", "delay", "name", *ACTIONS}
_MATCH_KEYS = {"method", "path", "headers", "body"}
_COUNTS = ("after", "times")  # what the shorthand may add after its action
_SHORTHAND = ("after '=' write an error name, a transport, 'expire token' or 'expire application [ERROR]', "
              "then optionally 'after N' and 'times N'")
HANG_SECONDS = 300.0  # how long `transport: hang` holds a request when the rule gives no delay
MAX_DELAY = 86400.0  # a day: longer is a mistake, and asyncio cannot sleep past a float's range
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # an HTTP header name (RFC 9110 token)
_BREAKS = re.compile(r"[\r\n\0]")  # what would end a header line early on the wire

# Values quoted in errors are cut short: a rules file may hold megabytes, or lists nested deep.
_brief = reprlib.Repr()
_brief.maxstring, _brief.maxother, _brief.maxlevel = 60, 60, 2


def suggest(name: str) -> str:
    """'; did you mean X or Y?' for an unknown error name, or a pointer to the catalogue."""
    close = difflib.get_close_matches(name, ERRORS, n=3, cutoff=0.5)
    if close:
        return f"; did you mean {' or '.join(close)}?"
    return f"; known errors: {', '.join(ERRORS)}"


@dataclass
class FaultRule:
    """One rule: which requests it matches, when it fires, and what it does."""

    label: str
    method: str | None = None
    path: re.Pattern[str] | None = None
    headers: dict[str, re.Pattern[str]] = field(default_factory=dict)
    body: re.Pattern[str] | None = None
    after: int = 0
    times: int | None = None
    probability: float = 1.0
    delay: float = 0.0
    error: str | None = None
    respond: dict[str, Any] | None = None
    transport: str | None = None
    patch: dict[str, Any] | None = None
    expire: str | None = None  # "token" or "application" (answered with `error`, if given)
    seen: int = 0  # matching requests so far
    fired: int = 0

    def matches(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether a request meets the rule's `match` conditions (`headers` keyed by lower-case name)."""
        if self.method and method.upper() != self.method:
            return False
        if self.path and not self.path.search(path):
            return False
        for name, pattern in self.headers.items():
            if not pattern.search(headers.get(name, "")):
                return False
        return not self.body or bool(self.body.search(body.decode("utf-8", "replace")))

    def describe(self) -> str:
        """One line: the rule's conditions and action, as `ucwa.faults.list` shows it."""
        action = (f"expire {self.expire}" + (f" as {self.error}" if self.error else "") if self.expire
                  else f"error {self.error}" if self.error else f"transport {self.transport}" if self.transport
                  else f"respond {self.respond.get('status', 200)}" if self.respond is not None
                  else "patch" if self.patch is not None else "delay")
        when = " ".join(p for p in (self.method or "*", self.path.pattern if self.path else "*") if p)
        extra = "".join([f" after {self.after}" if self.after else "", f" times {self.times}" if self.times else "",
                         f" p={self.probability}" if self.probability < 1 else "",
                         f" delay {self.delay}s" if self.delay else ""])
        return f"{self.label}: {when} -> {action}{extra} (fired {self.fired}/{self.seen})"


def _regex(value: Any, where: str) -> re.Pattern[str]:
    if not isinstance(value, str):
        raise RuleError(f"{where}: must be a regex string, not {_brief.repr(value)}")
    try:
        return re.compile(value)
    except (re.error, RecursionError, OverflowError) as e:  # deep or huge patterns fail past re.error
        raise RuleError(f"{where}: {_brief.repr(value)} is not a regex: {e}") from None


def _number(value: Any, where: str, low: float, high: float | None = None, integer: bool = False) -> Any:
    kinds = (int,) if integer else (int, float)
    ok = not isinstance(value, bool) and isinstance(value, kinds) and low <= value and (high is None or value <= high)
    if ok and not integer:  # .nan passes every comparison; a 400-digit integer is no float
        try:
            ok = math.isfinite(float(value))
        except OverflowError:
            ok = False
    if not ok:
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise RuleError(f"{where}: {_brief.repr(value)} is not a {'whole ' if integer else ''}number {span}")
    return value


def _unknown(data: dict[Any, Any], known: set[str]) -> str | None:
    """The first key of `data` not in `known` (keys of any type: YAML keys need not be strings), or None."""
    extra = sorted(str(k) for k in data if k not in known)
    return extra[0] if extra else None


def _text(value: Any, where: str) -> str:
    """A scalar's text (a name, a header value); RuleError for a mapping or a list."""
    if isinstance(value, dict | list | set):
        raise RuleError(f"{where}: must be text, not {_brief.repr(value)}")
    return str(value)


def _json(value: Any, where: str) -> None:
    """RuleError unless `value` can be sent as JSON (a YAML date, binary or set cannot)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError) as e:
        raise RuleError(f"{where}: {_brief.repr(value)} cannot be sent as JSON: {e}") from None


def _headers(value: Any, label: str, name: str) -> dict[str, str]:
    """The header names and values of field `name`: one-line text, names HTTP tokens."""
    if not isinstance(value, dict):
        raise RuleError(f"{label}: field '{name}' must map header names to values")
    for header, text in value.items():
        if not isinstance(header, str) or not _TOKEN.fullmatch(header):
            raise RuleError(f"{label}: field '{name}': {_brief.repr(header)} is not a header name")
        if _BREAKS.search(_text(text, f"{label}: field '{name}.{header}'")):
            raise RuleError(f"{label}: field '{name}.{header}': a header value is one line, not {_brief.repr(text)}")
    return value


def parse_rule(data: Any, label: str) -> FaultRule:
    """One rule from its parsed YAML mapping; RuleError names `label` and the field."""
    if not isinstance(data, dict):
        raise RuleError(f"{label}: a rule is a mapping with 'match' and one action")
    unknown = _unknown(data, _RULE_KEYS)
    if unknown is not None:
        raise RuleError(f"{label}: field {unknown!r} is unknown; use {', '.join(sorted(_RULE_KEYS))}")
    rule = FaultRule(label=_text(data.get("name", label), f"{label}: field 'name'"))
    _conditions(rule, data.get("match", {}), label)
    rule.after = _number(data.get("after", 0), f"{label}: field 'after'", 0, integer=True)
    if "times" in data:
        rule.times = _number(data["times"], f"{label}: field 'times'", 1, integer=True)
    rule.probability = float(_number(data.get("probability", 1.0), f"{label}: field 'probability'", 0, 1))
    rule.delay = float(_number(data.get("delay", 0), f"{label}: field 'delay'", 0, MAX_DELAY))
    _action(rule, data, label)
    return rule


def _conditions(rule: FaultRule, match: Any, label: str) -> None:
    """Set the rule's `match` conditions."""
    if not isinstance(match, dict):
        raise RuleError(f"{label}: field 'match' must be a mapping of method, path, headers, body")
    bad = _unknown(match, _MATCH_KEYS)
    if bad is not None:
        raise RuleError(f"{label}: field 'match.{bad}' is unknown; use {', '.join(sorted(_MATCH_KEYS))}")
    if "method" in match:
        rule.method = _text(match["method"], f"{label}: field 'match.method'").upper()
    if "path" in match:
        rule.path = _regex(match["path"], f"{label}: field 'match.path'")
    if "body" in match:
        rule.body = _regex(match["body"], f"{label}: field 'match.body'")
    headers = match.get("headers", {})
    if not isinstance(headers, dict):
        raise RuleError(f"{label}: field 'match.headers' must map header names to regexes")
    rule.headers = {str(k).lower(): _regex(v, f"{label}: field 'match.headers.{k}'") for k, v in headers.items()}


def _action(rule: FaultRule, data: dict[str, Any], label: str) -> None:
    """Set the rule's one action (or none: a delay alone)."""
    actions = [a for a in ACTIONS if a in data and not (a == "error" and "expire" in data)]  # error: what expired gets
    if len(actions) > 1:
        raise RuleError(f"{label}: fields {actions[0]!r} and {actions[1]!r} both given; a rule has one action")
    if not actions and not rule.delay:
        raise RuleError(f"{label}: no action; give one of error, respond, transport, patch, expire, or a delay")
    if "expire" in data:
        _expire(rule, data, label)
    if "error" in data:
        error = data["error"]
        if not isinstance(error, str):
            raise RuleError(f"{label}: field 'error' must be an error name, not {_brief.repr(error)}")
        if error not in ERRORS:
            raise RuleError(f"{label}: field 'error': unknown error {_brief.repr(error)}{suggest(error)}")
        rule.error = error
    if "transport" in data:
        if not isinstance(data["transport"], str) or data["transport"] not in TRANSPORTS:
            raise RuleError(f"{label}: field 'transport': {_brief.repr(data['transport'])} is not one of "
                            f"{', '.join(TRANSPORTS)}")
        rule.transport = data["transport"]
    if "respond" in data:
        rule.respond = _respond(data["respond"], label)
    if "patch" in data:
        rule.patch = _patch(data["patch"], label)


def _expire(rule: FaultRule, data: dict[str, Any], label: str) -> None:
    """Set what the rule expires; `error` goes with an application only (an expired token gets the 401)."""
    what = data["expire"]
    if not isinstance(what, str) or what not in EXPIRES:
        raise RuleError(f"{label}: field 'expire': {_brief.repr(what)} is not one of {', '.join(EXPIRES)}")
    if what == "token" and "error" in data:
        raise RuleError(f"{label}: field 'error' goes with 'expire: application' only; an expired token is "
                        "answered with the recorded 401 challenge")
    rule.expire = what


def _respond(value: Any, label: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RuleError(f"{label}: field 'respond' must be a mapping of status, reason, headers, body")
    bad = _unknown(value, {"status", "reason", "headers", "body"})
    if bad is not None:
        raise RuleError(f"{label}: field 'respond.{bad}' is unknown; use status, reason, headers, body")
    _number(value.get("status", 200), f"{label}: field 'respond.status'", 100, 999, integer=True)
    if _BREAKS.search(_text(value.get("reason", ""), f"{label}: field 'respond.reason'")):
        raise RuleError(f"{label}: field 'respond.reason': a reason is one line")
    _headers(value.get("headers", {}), label, "respond.headers")
    body = value.get("body", "")
    if not isinstance(body, str | dict | list):
        raise RuleError(f"{label}: field 'respond.body' must be text, or a mapping/list sent as JSON")
    if not isinstance(body, str):
        _json(body, f"{label}: field 'respond.body'")
    return value


def _patch(value: Any, label: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value or _unknown(value, {"set", "remove", "headers"}) is not None:
        raise RuleError(f"{label}: field 'patch' must be a mapping of set, remove and/or headers")
    assigned, removed = value.get("set", {}), value.get("remove", [])
    if not isinstance(assigned, dict):
        raise RuleError(f"{label}: field 'patch.set' must map JSON pointers to values")
    if not isinstance(removed, list):
        raise RuleError(f"{label}: field 'patch.remove' must be a list of JSON pointers")
    for pointer in [*assigned, *removed]:
        if not isinstance(pointer, str) or not pointer.startswith("/"):
            raise RuleError(f"{label}: field 'patch': {_brief.repr(pointer)} is not a JSON pointer (like /subject)")
    _json(assigned, f"{label}: field 'patch.set'")
    _headers(value.get("headers", {}), label, "patch.headers")
    return value


def parse_shorthand(spec: str) -> dict[str, Any]:
    """`[METHOD ]PATH-REGEX=ACTION[ after N][ times N]` as rule data. ACTION: an error name, a transport,
    `expire token` or `expire application [ERROR]` (`expire:token` too)."""
    where, sep, action = spec.rpartition("=")
    if not sep or not where.strip() or not action.strip():
        raise RuleError(f"{spec!r}: write METHOD PATH=ERROR, e.g. 'POST myOnlineMeetings$=TooManyOnlineMeetings'")
    method, _, path = where.strip().rpartition(" ")
    data: dict[str, Any] = {"match": {"path": path, **({"method": method} if method else {})}}
    words = re.split(r"[\s:]+", action.strip())
    while len(words) > 2 and words[-2] in _COUNTS:  # the counts, from the end
        if words[-2] in data:
            raise RuleError(f"{spec!r}: {words[-2]!r} given twice")
        data[words[-2]] = int(words[-1]) if words[-1].isdigit() else words[-1]  # parse_rule says what is wrong
        words = words[:-2]
    if words[0] == "expire" and len(words) in (2, 3):
        data["expire"] = words[1]
        if len(words) == 3:
            data["error"] = words[2]
    elif len(words) == 1 and words[0] != "expire":
        data["transport" if words[0] in TRANSPORTS else "error"] = words[0]
    else:
        raise RuleError(f"{spec!r}: {_SHORTHAND}; e.g. 'GET myOnlineMeetings$=expire token times 1'")
    return data


@dataclass
class FaultPlan:
    """The rules in force, in order; the first that fires for a request wins."""

    rules: list[FaultRule] = field(default_factory=list)
    seed: int | None = None

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def add(self, rule: FaultRule) -> None:
        self.rules.append(rule)

    def pick(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> FaultRule | None:
        """The rule that fires for a request (`path` without its query), or None.

        Every rule whose conditions the request meets counts it (so `after: 2` means the third matching
        request, whatever earlier rules did with the first two); the first eligible one fires.
        """
        lowered = {k.lower(): v for k, v in headers.items()}
        chosen = None
        for rule in self.rules:
            if not rule.matches(method, path, lowered, body):
                continue
            rule.seen += 1
            if chosen is not None or rule.seen <= rule.after or (rule.times is not None and rule.fired >= rule.times):
                continue
            if rule.probability < 1 and self.random.random() >= rule.probability:
                continue
            rule.fired += 1
            chosen = rule
        return chosen


def load_plan(data: Any, name: str) -> FaultPlan:
    """A plan from a parsed rules file (or None); RuleError says `name: rule N: field …`."""
    if data is None:
        data = {}
    if not isinstance(data, dict) or not isinstance(data.get("faults", []), list):
        raise RuleError(f"{name}: a rules file is a mapping with a 'faults' list")
    others = sorted(str(key) for key in data if key not in ("faults", "seed"))
    if others and "faults" not in data:  # a typo ('fault:') would be a file without rules, silently; with a
        # 'faults' list, other keys are fine: they hold YAML anchors the rules refer to
        raise RuleError(f"{name}: no 'faults' list (found {_brief.repr(others[0])}); a rules file is a mapping "
                        "with a 'faults' list")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise RuleError(f"{name}: field 'seed' must be a whole number, not {_brief.repr(seed)}")
    plan = FaultPlan(seed=seed)
    for i, rule in enumerate(data.get("faults", []), 1):
        plan.add(parse_rule(rule, f"{name}: rule {i}"))
    return plan


def apply_patch(body: bytes, patch: Mapping[str, Any]) -> bytes:
    """A JSON body with `set` pointers assigned and `remove` pointers deleted; non-JSON is returned as is."""
    if not patch.get("set") and not patch.get("remove"):
        return body
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses: left alone
        return body
    for pointer, value in patch.get("set", {}).items():
        parent, key = _walk(doc, pointer)
        if isinstance(parent, list) and key == "-":  # JSON pointer's "after the last element"
            parent.append(value)
        elif isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
            parent[int(key)] = value
        elif isinstance(parent, dict):
            parent[key] = value
    for pointer in patch.get("remove", []):
        parent, key = _walk(doc, pointer, create=False)
        if isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
            del parent[int(key)]
        elif isinstance(parent, dict):
            parent.pop(key, None)
    return json.dumps(doc).encode("utf-8")


def _walk(doc: Any, pointer: str, create: bool = True) -> tuple[Any, str]:
    """The container a JSON pointer's last step is in, and that step; missing objects on the way are created
    (for `set`) or end the walk with None (for `remove`, which must not add anything)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    node = doc
    for part in parts[:-1]:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and (create or part in node):
            node = node.setdefault(part, {})
        else:
            return None, parts[-1]
    return node, parts[-1]


def error_answer(name: str, accept: str) -> Response:
    """The documented UCWA error `name` (a key of protocol.ERRORS), JSON or XML as Accept asks."""
    status, body, ctype = error(name, accept)
    return Response(status=status, reason=HTTPStatus(status).phrase, headers=[("Content-Type", ctype)], body=body)


def expired_answer(expired: Expired, url: str, accept: str, interactions: list[Interaction]) -> Response:
    """What an expired session answers a request to `url`: for a token, the cassette's 401 of the user resource
    exactly as recorded (one on the request's host first), else one built for the request's origin; for an
    application, its error."""
    if expired.what == "token":
        recorded = recorded_challenge(interactions, url_parts(url)[1])
        return recorded or built_challenge("/".join(url.split("/", 3)[:3]))  # scheme://host[:port]
    assert expired.error is not None
    return error_answer(expired.error, accept)
