"""ucwa-vcr as one addon (proxy.composite.UcwaVcr): every hook of every part reaches it, in order, and the parts'
commands are mitmproxy's."""

from __future__ import annotations

import asyncio

import mitmproxy.proxy.layers.http  # noqa: F401  (declares the HTTP hooks)
import ucwa_vcr
from mitmproxy import hooks
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.proxy import server_hooks  # noqa: F401  (declares the connection hooks)
from mitmproxy.test import taddons
from ucwa_vcr.proxy.composite import HOOKS, UcwaVcr
from ucwa_vcr.proxy.session import CassetteSession


def test_every_hook_a_part_defines_is_passed_on():
    defined = {name for part in ucwa_vcr.make_parts() for name in dir(part)
               if name in hooks.all_hooks and callable(getattr(part, name))}
    assert defined and defined <= {*HOOKS, "load"}
    assert {"request", "response", "configure", "done", "server_connect"} <= defined


class Part:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def request(self, flow: str) -> None:
        self.log.append(f"{self.name} {flow}")


class SlowPart(Part):
    async def request(self, flow: str) -> None:
        await asyncio.sleep(0.01)
        self.log.append(f"{self.name} {flow}")


async def test_the_parts_hooks_run_in_order_each_awaited_before_the_next():
    log: list[str] = []
    composite = UcwaVcr([Part("a", log), SlowPart("b", log), object(), Part("c", log)])
    await composite.request("f1")
    assert log == ["a f1", "b f1", "c f1"]
    assert not hasattr(composite, "response"), "no part has it: mitmproxy need not call it"


def test_all_sync_parts_give_a_sync_hook():
    log: list[str] = []
    composite = UcwaVcr([Part("a", log), Part("b", log)])
    assert composite.request("f") is None and log == ["a f", "b f"]


async def test_make_addons_is_one_addon_and_the_parts_commands_are_mitmproxys():
    (composite,) = ucwa_vcr.make_addons()
    assert isinstance(composite, UcwaVcr)
    session = next(p for p in composite.parts if isinstance(p, CassetteSession))
    with taddons.context(Proxyserver(), composite) as tctx:
        tctx.configure(composite, ucwa_record_mode="none")
        assert session.matcher.interactions, "configured through the composite: the seed is loaded"
        session.matcher.match(session.matcher.interactions[0].request)
        tctx.master.commands.call("ucwa.rewind")
        assert not session.matcher._used, "rewound"


async def test_a_hook_replaced_after_the_composite_was_made_is_the_one_called(monkeypatch):
    log: list[str] = []
    part = Part("a", log)
    composite = UcwaVcr([part, SlowPart("b", log)])
    monkeypatch.setattr(Part, "request", lambda self, flow: log.append(f"patched {flow}"))
    await composite.request("f")
    assert log == ["patched f", "b f"]
