"""Fault injection addon: documented UCWA errors, explicit answers, delays, broken connections, patches, and
session state: an expired token, an expired application.

Usage:
    mitmdump -s addons/ucwa.py --set ucwa_cassette=today.yaml --set ucwa_record_mode=none \\
        --set ucwa_faults=faults.yaml --set 'ucwa_inject=POST myOnlineMeetings$=TooManyOnlineMeetings'
    mitmdump -s addons/ucwa.py ... --set 'ucwa_inject=GET myOnlineMeetings$=expire token after 1 times 1'
    mitmdump -s addons/ucwa.py ... --set ucwa_token_lifetime=600     # tokens expire 10 minutes after their fetch
    # while running (mitmproxy console, mitmweb): ucwa.faults.list | ucwa.faults.add SPEC | ucwa.faults.clear

Rules fit the parts of a batch (POST …/batch, multipart/batching) too, each part as a request of its own: a part a
rule answers is taken out of the batch (the cassette and the server never see it) and put back in the batch's
answer; see BatchFaults.

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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mitmproxy import addonmanager, command, exceptions, http

from .. import protocol
from ..batch import (
    BatchStyle,
    batch_requests,
    batch_responses,
    boundary_of,
    drop_parts,
    is_batch,
    message_bytes,
    replace_parts,
)
from ..cassette.codec import load_yaml, read_text
from ..cassette.model import Request, Response, header
from ..errors import FileError, RuleError, UsageError
from ..fault_rules import (
    HANG_SECONDS,
    ON_THE_ANSWER,
    ON_THE_BATCH,
    FaultPlan,
    FaultRule,
    apply_patch,
    expired_answer,
    load_plan,
    parse_rule,
    parse_shorthand,
)
from ..match import url_parts
from ..session_state import ANY_APPLICATION, Expired, SessionState
from ..text import counted
from .flows import ANSWERED_BY, FAULT_LABEL, Answer, error_response, mark, request_of, response_of
from .guard import guarded
from .options_addon import OptionsAddon
from .session import CassetteSession

if TYPE_CHECKING:
    from .replay import UcwaReplayer

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


def _recorded(response: http.Response) -> Response:
    """A live response in cassette form, its body decoded (as far as it decodes)."""
    return Response(status=response.status_code, reason=response.reason,
                    headers=list(response.headers.items(multi=True)), body=response.get_content(strict=False) or b"")


def _changed(rule: FaultRule, answer: Response) -> Response:
    """A part's real answer broken or patched as the rule says (`malformed`, `patch`)."""
    live = response_of(answer)
    _act_on_answer(rule, live)
    return _recorded(live)


class UcwaFaults(OptionsAddon):
    """Applies the fault plan: the first rule that fires for a request decides its fate; and answers for the
    session's state (an expired token or application) before any rule."""

    OPTIONS = ("ucwa_faults", "ucwa_inject", "ucwa_token_lifetime")

    def __init__(self, session: CassetteSession | None = None, replayer: UcwaReplayer | None = None) -> None:
        self.plan = FaultPlan()
        # its cassette holds the recorded 401 and its tally counts the faults; found among the addons when not given
        self.session = session
        self.replayer = replayer  # holds unrecorded event P-GETs: released at once when their application expires
        self.state = SessionState()
        self.clock: Callable[[], float] = time.monotonic  # when tokens were fetched: replay time, not recorded
        self._addons: addonmanager.AddonManager | None = None
        self._after_answer: dict[str, FaultRule] = {}  # flow id -> rule acting on the real answer
        self._waiting: dict[str, http.HTTPFlow] = {}  # event P-GETs gone on to the cassette or the server
        self._expired_waiting: dict[str, Expired] = {}  # flow id -> how its application expired while it waited
        self.parts = BatchFaults(self)  # the rules on the parts of batches

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
        if flow.response is None and flow.error is None and is_batch(req.headers.get("content-type", "")):
            await self.parts.request(flow)
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
        if channels and self.replayer is not None:
            self.replayer.release_events(channels.__contains__)

    def _answer_expired(self, flow: http.HTTPFlow, expired: Expired, count: bool = True) -> None:
        """Answer for an expired token (the recorded 401) or application (its error): never the server's."""
        req, session = flow.request, self._session()
        flow.response = response_of(expired_answer(expired, req.pretty_url, req.headers.get("accept", ""),
                                                   session.matcher.interactions if session else []), req.http_version)
        why = f"the {expired.what} expired ({expired.by}): {flow.response.status_code}"
        flow.metadata[ANSWERED_BY] = Answer.FAULTED
        flow.metadata[FAULT_LABEL] = expired.by
        mark(flow, Answer.FAULTED, f"ucwa-vcr: {why}")
        if count:
            self._count()
        logger.info("ucwa-vcr: %s for %s %s", why, req.method, req.pretty_url)

    @guarded
    def response(self, flow: http.HTTPFlow) -> None:
        self.parts.response(flow)  # the batch's faulted parts put in its answer, before it is broken or patched
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
        self.parts.forget(flow.id)
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


@dataclass
class FaultedBatch:
    """What the fault rules did to the parts of one batch."""

    total: int  # its parts, as the client sent it
    answers: dict[int, Response] = field(default_factory=dict)  # part n -> its answer, made here (taken out)
    changed: dict[int, FaultRule] = field(default_factory=dict)  # part n -> the rule acting on its real answer
    labels: list[str] = field(default_factory=list)  # the rules (or what expired) that acted, in order
    notes: list[str] = field(default_factory=list)  # what they did, a line each

    def note(self, label: str, line: str) -> None:
        self.labels.append(label)
        self.notes.append(line)


class BatchFaults:
    """The fault rules on the parts of batches (BatchingRequests.md), for UcwaFaults: each part is picked for, and
    counted, as a request of its own (and first answered, as one, by an expired token or application).

    A part answered here (`error`, `respond`, `transport: empty`, an expired session) is taken out of the batch
    before it goes on: the cassette and the server never see it. Its answer is put back in its place in the batch's
    answer, written as that answer is. `patch` and `malformed` act on the part's real answer; `reset`, `hang` and
    `truncate` on the whole batch (a part has no connection of its own); a part's delay delays the batch (the
    longest one). A batch whose every part is answered here is answered here, as the cassette's batches are written.
    """

    def __init__(self, faults: UcwaFaults) -> None:
        self.faults = faults
        self._pending: dict[str, FaultedBatch] = {}  # flow id -> what is to be put in its answer

    async def request(self, flow: http.HTTPFlow) -> None:
        batch = request_of(flow)
        parts = batch_requests(batch)
        if not parts:
            return
        faulted, wait = FaultedBatch(len(parts)), 0.0
        before = [flow.metadata[FAULT_LABEL]] if FAULT_LABEL in flow.metadata else []  # a rule on the batch itself
        if before and flow.comment:
            faulted.notes.append(flow.comment)
        for n, part in enumerate(parts):
            rule = self._pick(flow, n, part, faulted)
            if rule is not None and rule.transport in ON_THE_BATCH:
                logger.info("ucwa-vcr: fault %s on part %d of a batch: %s acts on the whole batch", rule.label, n + 1,
                            rule.transport)
                faulted.note(rule.label, f"ucwa-vcr: fault {rule.describe()} on part {n + 1}: on the whole batch")
                await self.faults._fire(rule, flow, _path(flow))
                if flow.error is not None:  # reset, hang: the batch is gone, its other parts never seen
                    return
            elif rule is not None:
                wait = max(wait, rule.delay)
        if not faulted.labels:
            return
        flow.metadata[FAULT_LABEL] = ", ".join(dict.fromkeys([*before, *faulted.labels]))
        mark(flow, Answer.FAULTED, "\n".join(faulted.notes))
        if wait:
            await asyncio.sleep(wait)
        self._take_out(flow, batch, faulted)

    def _pick(self, flow: http.HTTPFlow, n: int, part: Request, faulted: FaultedBatch) -> FaultRule | None:
        """The rule that fires for part n, having done what it does to the part (a transport that acts on the whole
        batch is left to the caller); a part an expired session answers gets that answer, and no rule counts it."""
        faults, path = self.faults, url_parts(part.url)[3]
        where = f"part {n + 1} ({part.method} {path})"
        if faults._in_session(flow):
            faults.state.seen(path)
            if self._expired(n, part, path, faulted, where):
                faults._count()
                return None
        rule = faults.plan.pick(part.method, path, dict(part.headers), part.body) if faults.plan.rules else None
        if rule is None or rule.transport in ON_THE_BATCH:
            return rule
        logger.info("ucwa-vcr: fault %s on %s of batch %s", rule.label, where, flow.request.pretty_url)
        faults._count()
        faulted.note(rule.label, f"ucwa-vcr: fault {rule.describe()} on {where}")
        if rule.expire:
            faults._expire(rule, path)
            self._expired(n, part, path, faulted, where)  # from this very part on (else it goes on)
        elif rule.transport in ON_THE_ANSWER or rule.patch is not None:
            faulted.changed[n] = rule
        elif rule.transport or rule.error or rule.respond is not None:
            faulted.answers[n] = _recorded(_respond(rule, header(part.headers, "accept")))
        return rule

    def _expired(self, n: int, part: Request, path: str, faulted: FaultedBatch, where: str) -> bool:
        """Answer part n as an expired session does, if it is expired for it."""
        faults = self.faults
        expired = faults.state.answer(part.method, path, header(part.headers, "authorization"), faults.clock())
        if expired is None:
            return False
        session = faults._session()
        answer = faulted.answers[n] = expired_answer(expired, part.url, header(part.headers, "accept"),
                                                     session.matcher.interactions if session else [])
        why = f"the {expired.what} expired ({expired.by}): {answer.status}"
        faulted.note(expired.by, f"ucwa-vcr: {why} for {where}")
        logger.info("ucwa-vcr: %s for %s of a batch", why, where)
        return True

    def _take_out(self, flow: http.HTTPFlow, batch: Request, faulted: FaultedBatch) -> None:
        """Take the parts answered here out of the batch; answer it here when that is all of them."""
        if len(faulted.answers) == faulted.total:
            session = self.faults._session()
            style = (session.batches.style if session is not None else None) or BatchStyle()
            answer = style.write([message_bytes(faulted.answers[n], style.eol) for n in range(faulted.total)])
            flow.metadata[ANSWERED_BY] = Answer.FAULTED  # never recorded as the server's
            flow.response = response_of(answer, flow.request.http_version)
            return
        if faulted.answers:
            boundary = boundary_of(header(batch.headers, "content-type")) or ""
            flow.request.content = drop_parts(batch.body, boundary, faulted.answers)
        if faulted.answers or faulted.changed:  # else (delays, a transport on the batch) its answer is left whole
            self._pending[flow.id] = faulted

    def response(self, flow: http.HTTPFlow) -> None:
        """Put the parts answered here in the batch's answer, and break or patch the answers of the others."""
        faulted = self._pending.pop(flow.id, None)
        if faulted is None or flow.response is None:
            return
        real = _recorded(flow.response)
        answered = batch_responses(real)
        kept = [n for n in range(faulted.total) if n not in faulted.answers]
        if answered is None or len(answered) != len(kept):
            logger.warning("ucwa-vcr: the answer to batch %s (%d) does not answer its %s: its faulted parts are not "
                           "in it", flow.request.pretty_url, flow.response.status_code, counted(len(kept), "part"))
            return
        parts = dict(faulted.answers)
        for n, rule in faulted.changed.items():
            parts[n] = _changed(rule, answered[kept.index(n)][1])
        rebuilt = replace_parts(real, parts, inserted=faulted.answers.keys())
        assert rebuilt is not None  # a batch answer, to every part not put in
        flow.response.content = rebuilt.body
        flow.response.headers["content-type"] = header(rebuilt.headers, "content-type")
        ours = "\n".join(faulted.notes)
        mark(flow, Answer.FAULTED, ours if flow.comment in ("", ours) else f"{ours}\n{flow.comment}")

    def forget(self, flow_id: str) -> None:
        self._pending.pop(flow_id, None)
