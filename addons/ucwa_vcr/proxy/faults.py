"""Fault injection addon: documented UCWA errors, explicit answers, delays, broken connections, patches.

Usage:
    mitmdump -s addons/ucwa.py --set ucwa_cassette=today.yaml --set ucwa_record_mode=none \\
        --set ucwa_faults=faults.yaml --set 'ucwa_inject=POST myOnlineMeetings$=TooManyOnlineMeetings'
    # while running (mitmproxy console, mitmweb): ucwa.faults.list | ucwa.faults.add SPEC | ucwa.faults.clear

Works in replay and while recording against a live server. Answers made here are marked
(`flow.metadata[flows.ANSWERED_BY] = "faulted"`) so the recorder never keeps them as if a server had sent them;
patches and broken bodies are applied after the recorder has kept the real answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

from mitmproxy import command, exceptions, http

from ..cassette.codec import load_yaml, read_text
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
from ..text import counted
from .flows import ANSWERED_BY, FAULT_LABEL, Answer, error_response, mark
from .guard import guarded
from .options_addon import OptionsAddon
from .session import Tally

logger = logging.getLogger(__name__)


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


class UcwaFaults(OptionsAddon):
    """Applies the fault plan: the first rule that fires for a request decides its fate."""

    OPTIONS = ("ucwa_faults", "ucwa_inject")

    def __init__(self, tally: Tally | None = None) -> None:
        self.plan = FaultPlan()
        self.tally = tally  # the session's, whose stop line counts the faults that fired
        self._after_answer: dict[str, FaultRule] = {}  # flow id -> rule acting on the real answer

    def apply(self, updated: set[str]) -> None:
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
        self.plan = plan
        if self.plan.rules:
            logger.info("ucwa-vcr: %s", counted(len(self.plan.rules), "fault rule"))

    @guarded
    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or flow.error is not None or not self.plan.rules:
            return
        req = flow.request
        rule = self.plan.pick(req.method, urlsplit(req.path).path, req.headers, req.raw_content or b"")
        if rule is None:
            return
        logger.info("ucwa-vcr: fault %s on %s %s", rule.label, req.method, req.pretty_url)
        flow.metadata[FAULT_LABEL] = rule.label
        if self.tally is not None:
            self.tally.faulted += 1
        mark(flow, Answer.FAULTED, f"ucwa-vcr: fault {rule.describe()}")
        wait = rule.delay or (HANG_SECONDS if rule.transport == "hang" else 0)
        if wait:
            await asyncio.sleep(wait)
        if rule.transport in ON_THE_ANSWER or rule.patch is not None:
            self._after_answer[flow.id] = rule  # acts on the real (recorded or live) answer
        elif rule.transport or rule.error or rule.respond is not None:
            flow.metadata[ANSWERED_BY] = Answer.FAULTED  # answered here: never recorded as the server's
            if rule.transport in ("hang", "reset"):
                flow.kill()
            else:
                flow.response = _respond(rule, req.headers.get("accept", ""))
        # a delay alone: the request then goes on to the cassette or the server

    @guarded
    def response(self, flow: http.HTTPFlow) -> None:
        rule = self._after_answer.pop(flow.id, None)
        if rule is None or flow.response is None:
            return
        response = flow.response
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

    def error(self, flow: http.HTTPFlow) -> None:
        self._after_answer.pop(flow.id, None)

    @command.command("ucwa.faults.list")
    def list_faults(self) -> Sequence[str]:
        """The fault rules in force, in order, with how often each matched and fired."""
        return [rule.describe() for rule in self.plan.rules]

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
        """Remove every fault rule."""
        self.plan = FaultPlan(seed=self.plan.seed)
