"""The cassette session addon in process: the `ucwa.rewind` command, and replay-only sessions never writing."""

from __future__ import annotations

import pytest
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette import writer as writer_module
from ucwa_vcr.match import Miss
from ucwa_vcr.proxy.session import CassetteSession

pytestmark = pytest.mark.usefixtures("no_logged_errors")


async def test_rewind_command(tmp_path):
    deck = CassetteSession()
    with taddons.context(Proxyserver(), deck) as tctx:  # Proxyserver declares options the session sets
        # `miss` when used up: without the rewind, the second POST would get no answer
        tctx.configure(deck, ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none", ucwa_exhausted="miss")
        post = next(i.request for i in deck.matcher.interactions if i.request.method == "POST")
        first = deck.matcher.match(post)
        tctx.master.commands.execute("ucwa.rewind")
        assert deck.matcher.match(post) is first
        assert isinstance(deck.matcher.match(post), Miss), "the recorded POST is used up again"


async def test_replay_only_never_serialises_the_loaded_cassette(tmp_path, monkeypatch):
    def dump(interaction: object) -> bytes:
        raise AssertionError("nothing is written in none mode, so nothing may be dumped")

    monkeypatch.setattr(writer_module, "dump_interaction", dump)
    deck = CassetteSession()
    with taddons.context(Proxyserver(), deck) as tctx:
        tctx.configure(deck, ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none")
        assert len(deck.matcher.interactions) == 4
        await deck.done()  # stopping leaves the file alone as well
