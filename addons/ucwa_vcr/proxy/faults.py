"""Fault injection addon: documented UCWA errors, explicit answers, delays, broken connections, patches, and
session state: an expired token, an expired application.

Usage:
    mitmdump -s addons/ucwa.py --set ucwa_cassette=today.yaml --set ucwa_record_mode=none \\
        --set ucwa_faults=faults.yaml --set 'ucwa_inject=POST myOnlineMeetings$=TooManyOnlineMeetings'
    mitmdump -s addons/ucwa.py ... --set 'ucwa_inject=GET myOnlineMeetings$=expire token after 1 times 1'
    mitmdump -s addons/ucwa.py ... --set ucwa_token_lifetime=600     # tokens expire 10 minutes after their fetch
    # while running (mitmproxy console, mitmweb): ucwa.faults.list | ucwa.faults.add SPEC | ucwa.faults.clear

Works in replay and while recording against a live server. Answers made here are marked
(`flow.metadata[flows.ANSWERED_BY] = "faulted"`) so the recorder never keeps them as if a server had sent them;
patches and broken bodies are applied after the recorder has kept the real answer.

An expired token is answered with the 401 challenge the cassette recorded for the user resource (a built one
shaped like a front end's if it holds none) until a token is fetched again; an expired application with its error
until an application is created again. An event P-GET still waiting when its application expires is answered
with that error too: offline, the replayer's `release_events` (when it has one) ends its hold at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from mitmproxy import addonmanager, command, exceptions, http

from .. import protocol
from ..cassette.codec import load_yaml, read_text
from ..cassette.model import Interaction
from ..errors import FileError, RuleError, UsageError
from ..fault_rules import (
    HANG_SECONDS,
    ON_THE_ANSWER,
    FaultPlan,
    FaultRule,
    apply_patch,
    load_plan,
    parse_rule,
    parse_shorthand,
)
from ..session_state import ANY_APPLICATION, Expired, SessionState, built_challenge, recorded_challenge
from ..text import counted
from .flows import ANSWERED_BY, FAULT_LABEL, Answer, error_response, mark, response_of
from .guard import guarded
from .options_addon import OptionsAddon
from .session import CassetteSession

logger = logging.getLogger(__name__)

NOT_THE_SERVERS = (Answer.FAULTED, Answer.MISS, Answer.FAILED)  # answers that fetch no token, create no application


def _respond(rule: FaultRule, accept: str) -> http.Response:
    if rule.error:
        return error_response(rule.error, accept)
    if rule.transport == "empty":
        return http.Response.make(200, b"", {})
    spec = rule.respond or {}
    content = spec.get("body", "")
    headers = {str(k): str(v) for k, v in spec.get("headers", {}).items()}
    if not isinstance(content, str):
        content = json.dumps(content)
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
    response = http.Response.make(int(spec.get("status", 200)), content.encode("utf-8"), headers)
    if "reason" in spec:
        response.reason = str(spec["reason"])
    return response


def _act_on_answer(rule: FaultRule, response: http.Response) -> None:
    """Break or patch a real (recorded or live) answer as the rule says."""
    if rule.transport == "truncate":
        # The head promises the whole body, half of it is sent, then the connection closes.
        whole = response.raw_content or b""
        response.headers["content-length"] = str(len(whole))
        response.headers.pop("transfer-encoding", None)
        response.headers["connection"] = "close"
        response.raw_content = whole[: len(whole) // 2]
    elif rule.transport == "malformed":
        content = response.get_content(strict=False) or b""
        response.content = content[: len(content) // 2] if len(content) > 1 else b'{"'
    elif rule.patch is not None:
        response.set_content(apply_patch(response.get_content(strict=False) or b"", rule.patch))
        for name, value in rule.patch.get("headers", {}).items():
            response.headers[str(name)] = str(value)


def _path(flow: http.HTTPFlow) -> str:
    """The request's path without its query (as sent: `//ucwa/...` stays a path, not a host)."""
    return flow.request.path.partition("?")[0]


def challenge(flow: http.HTTPFlow, interactions: list[Interaction]) -> http.Response:
    """The 401 an expired token gets: the cassette's 401 of the user resource exactly as recorded (the one
    recorded this run, while recording); else one built for the request's origin."""
    recorded = recorded_challenge(interactions, flow.request.pretty_host)
    if recorded is None:
        url = urlsplit(flow.request.pretty_url)
        recorded = built_challenge(f"{url.scheme}://{url.netloc}")
    return response_of(recorded, flow.request.http_version)


class UcwaFaults(OptionsAddon):
    """Applies the fault plan: the first rule that fires for a request decides its fate; and answers for the
    session's state (an expired token or application) before any rule."""

    OPTIONS = ("ucwa_faults", "ucwa_inject", "ucwa_token_lifetime")

    def __init__(self, session: CassetteSession | None = None) -> None:
        self.plan = FaultPlan()
        # its cassette holds the recorded 401 and its tally counts the faults; found among the addons when not given
        self.session = session
        self.state = SessionState()
        self.clock: Callable[[], float] = time.monotonic  # when tokens were fetched: replay time, not recorded
        self._addons: addonmanager.AddonManager | None = None
        self._after_answer: dict[str, FaultRule] = {}  # flow id -> rule acting on the real answer
        self._waiting: dict[str, http.HTTPFlow] = {}  # event P-GETs gone on to the cassette or the server
        self._expired_waiting: dict[str, Expired] = {}  # flow id -> how its application expired while it waited

    def load(self, loader: addonmanager.Loader) -> None:
        super().load(loader)
        self._addons = loader.master.addons

    def apply(self, updated: set[str]) -> None:
        if updated & {"ucwa_faults", "ucwa_inject"}:
            self.plan = self._load_plan()
            if self.plan.rules:
                logger.info("ucwa-vcr: %s", counted(len(self.plan.rules), "fault rule"))
        lifetime = self.options.ucwa_token_lifetime
        if lifetime and lifetime != self.state.token_lifetime:
            logger.info("ucwa-vcr: tokens expire %s after they are fetched (ucwa_token_lifetime)",
                        counted(lifetime, "second"))
        self.state.token_lifetime = lifetime

    def _load_plan(self) -> FaultPlan:
        path = self.options.ucwa_faults
        try:
            plan = load_plan(load_yaml(read_text(path, "rules file"), path) if path else None, path)
        except (FileError, RuleError) as e:
            raise UsageError(f"ucwa_faults: {e}") from None
        for spec in self.options.ucwa_inject:
            try:
                plan.add(parse_rule(parse_shorthand(spec), f"inject {spec!r}"))
            except RuleError as e:
                raise UsageError(f"ucwa_inject: {e}") from None
        return plan

    def _session(self) -> CassetteSession | None:
        if self.session is None and self._addons is not None:
            found = self._addons.get("cassettesession")
            self.session = found if isinstance(found, CassetteSession) else None
        return self.session

    def _count(self) -> None:
        session = self._session()
        if session is not None:
            session.tally.faulted += 1

    def _in_session(self, flow: http.HTTPFlow) -> bool:
        """Whether a flow belongs to the client's UCWA session (offline, every flow is answered as if it did)."""
        session = self._session()
        return session is None or session.offline or session.is_ucwa(flow)

    @guarded
    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or flow.error is not None:
            return
        req, path = flow.request, _path(flow)
        if self._in_session(flow):
            self.state.seen(path)
            expired = self.state.answer(req.method, path, req.headers.get("authorization", ""), self.clock())
            if expired is not None:
                self._answer_expired(flow, expired)
                return
        rule = self.plan.pick(req.method, path, req.headers, req.raw_content or b"") if self.plan.rules else None
        if rule is not None:
            await self._fire(rule, flow, path)
        if flow.response is None and flow.error is None and req.method == "GET" and protocol.is_events(path):
            self._waiting[flow.id] = flow  # answered late: its application may expire meanwhile

    async def _fire(self, rule: FaultRule, flow: http.HTTPFlow, path: str) -> None:
        req = flow.request
        logger.info("ucwa-vcr: fault %s on %s %s", rule.label, req.method, req.pretty_url)
        flow.metadata[FAULT_LABEL] = rule.label
        self._count()
        mark(flow, Answer.FAULTED, f"ucwa-vcr: fault {rule.describe()}")
        wait = rule.delay or (HANG_SECONDS if rule.transport == "hang" else 0)
        if wait:
            await asyncio.sleep(wait)
        if rule.expire:
            self._expire(rule, path)
            expired = self.state.answer(req.method, path, req.headers.get("authorization", ""), self.clock())
            if expired is not None:  # from this very request on (else it goes on)
                self._answer_expired(flow, expired, count=False)
        elif rule.transport in ON_THE_ANSWER or rule.patch is not None:
            self._after_answer[flow.id] = rule  # acts on the real (recorded or live) answer
        elif rule.transport or rule.error or rule.respond is not None:
            flow.metadata[ANSWERED_BY] = Answer.FAULTED  # answered here: never recorded as the server's
            if rule.transport in ("hang", "reset"):
                flow.kill()
            else:
                flow.response = _respond(rule, req.headers.get("accept", ""))
        # a delay alone: the request then goes on to the cassette or the server

    def _expire(self, rule: FaultRule, path: str) -> None:
        if rule.expire == "token":
            self.state.expire_token(rule.label)
            logger.info("ucwa-vcr: %s expired the token: signed-in requests get the 401 challenge until the client "
                        "fetches a new token", rule.label)
            return
        app = self.state.expire_application(path, rule.label, rule.error)
        logger.info("ucwa-vcr: %s expired %s: its requests get %s until the client creates an application",
                    rule.label, "every application" if app == ANY_APPLICATION else f"application {app}",
                    self.state.applications[app].error)
        self._release_waiting()

    def _release_waiting(self) -> None:
        """Have the event P-GETs of expired applications answered with their error, at once where replay holds
        them (the replayer's `release_events`), else when their answer comes."""
        channels = set()
        for flow_id, flow in list(self._waiting.items()):
            expired = self.state.application_expiry(_path(flow))
            if expired is not None:
                self._expired_waiting[flow_id] = expired
                channels.add(_path(flow))
        replayer = self._addons.get("ucwareplayer") if self._addons is not None else None
        release = getattr(replayer, "release_events", None)
        if channels and callable(release):
            release(channels.__contains__)

    def _answer_expired(self, flow: http.HTTPFlow, expired: Expired, count: bool = True) -> None:
        """Answer for an expired token (the recorded 401) or application (its error): never the server's."""
        req = flow.request
        if expired.what == "token":
            session = self._session()
            flow.response = challenge(flow, session.matcher.interactions if session else [])
        else:
            assert expired.error is not None
            flow.response = error_response(expired.error, req.headers.get("accept", ""))
        why = f"the {expired.what} expired ({expired.by}): {flow.response.status_code}"
        flow.metadata[ANSWERED_BY] = Answer.FAULTED
        flow.metadata[FAULT_LABEL] = expired.by
        mark(flow, Answer.FAULTED, f"ucwa-vcr: {why}")
        if count:
            self._count()
        logger.info("ucwa-vcr: %s for %s %s", why, req.method, req.pretty_url)

    @guarded
    def response(self, flow: http.HTTPFlow) -> None:
        self._waiting.pop(flow.id, None)
        expired = self._expired_waiting.pop(flow.id, None)
        rule = self._after_answer.pop(flow.id, None)
        if flow.response is None:
            return
        if expired is not None:  # waited while its application expired: the recorder kept the real answer
            self._answer_expired(flow, expired)
            return
        if flow.metadata.get(ANSWERED_BY) not in NOT_THE_SERVERS:
            self._renew(flow)
        if rule is not None:
            _act_on_answer(rule, flow.response)

    def _renew(self, flow: http.HTTPFlow) -> None:
        """A token fetched, an application created: what had expired is answered as usual again."""
        assert flow.response is not None
        now = self.clock()
        token_expired, apps_expired = self.state.token_expiry(now) is not None, bool(self.state.applications)
        renewed = self.state.answered(flow.request.method, _path(flow), flow.response.status_code, now)
        if renewed == "token" and token_expired:
            logger.info("ucwa-vcr: the client fetched a new token: signed-in requests are answered as usual again")
        elif renewed == "application" and apps_expired:
            logger.info("ucwa-vcr: the client created an application: its requests are answered as usual again")

    def error(self, flow: http.HTTPFlow) -> None:
        self._after_answer.pop(flow.id, None)
        self._waiting.pop(flow.id, None)
        self._expired_waiting.pop(flow.id, None)

    @command.command("ucwa.faults.list")
    def list_faults(self) -> Sequence[str]:
        """The fault rules in force, in order, with how often each matched and fired; then what has expired."""
        return [rule.describe() for rule in self.plan.rules] + self.state.describe(self.clock())

    @command.command("ucwa.faults.add")
    def add_fault(self, spec: str) -> None:
        """Add a rule: shorthand 'POST myOnlineMeetings$=TooManyOnlineMeetings', or a YAML mapping."""
        label = f"added rule {len(self.plan.rules) + 1}"
        try:
            data = load_yaml(spec, label) if spec.lstrip().startswith("{") else parse_shorthand(spec)
            self.plan.add(parse_rule(data, label))
        except (RuleError, FileError) as e:
            raise exceptions.CommandError(str(e)) from None

    @command.command("ucwa.faults.clear")
    def clear_faults(self) -> None:
        """Remove every fault rule, and end what they expired."""
        self.plan = FaultPlan(seed=self.plan.seed)
        self.state.clear()
