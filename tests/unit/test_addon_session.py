"""The cassette session addon in process: the `ucwa.rewind` command, and replay-only sessions never writing."""

from __future__ import annotations

import logging

import pytest
from mitmproxy import http
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons
from ucwa_vcr import DEFAULT_CASSETTE
from ucwa_vcr.cassette import writer as writer_module
from ucwa_vcr.match import Miss
from ucwa_vcr.proxy.session import CassetteSession, pretty_host

pytestmark = pytest.mark.usefixtures("no_logged_errors")


async def test_rewind_command(tmp_path):
    session = CassetteSession()
    with taddons.context(Proxyserver(), session) as tctx:  # Proxyserver declares options the session sets
        # `miss` when used up: without the rewind, the second POST would get no answer
        tctx.configure(session, ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none", ucwa_exhausted="miss")
        post = next(i.request for i in session.matcher.interactions if i.request.method == "POST")
        first = session.matcher.match(post)
        tctx.master.commands.execute("ucwa.rewind")
        assert session.matcher.match(post) is first
        assert isinstance(session.matcher.match(post), Miss), "the recorded POST is used up again"


async def test_replay_only_never_serialises_the_loaded_cassette(tmp_path, monkeypatch):
    def dump(interaction: object) -> bytes:
        raise AssertionError("nothing is written in none mode, so nothing may be dumped")

    monkeypatch.setattr(writer_module, "dump_interaction", dump)
    session = CassetteSession()
    with taddons.context(Proxyserver(), session) as tctx:
        tctx.configure(session, ucwa_cassette=str(DEFAULT_CASSETTE), ucwa_record_mode="none")
        assert len(session.matcher.interactions) == 4
        await session.done()  # stopping leaves the file alone as well


async def test_with_several_bad_options_the_first_in_order_is_reported_every_time(caplog):
    session = CassetteSession()
    with taddons.context(Proxyserver(), session) as tctx:
        tctx.options.update(ucwa_hosts="(", ucwa_exhausted="never", ucwa_record_scope="rooms",
                            ucwa_record_mode="sometimes")
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["ucwa-vcr: ucwa_record_mode: 'sometimes' is not a record mode; "
                      "use one of once, new_episodes, none, all"], "record mode, scope, exhausted, matchers, hosts"
    caplog.clear()  # expected


@pytest.mark.parametrize("host", [None, "127.0.0.1:9999", "[::1]:8080", "FE1.Contoso.COM", "user@host:1", "h:notaport",
                                  "b\u00fccher.example", ""])
@pytest.mark.parametrize("http_version", ["HTTP/1.1", "HTTP/2.0"])
def test_the_host_a_flow_is_judged_by_is_mitmproxys_pretty_host(host, http_version):
    request = http.Request.make("GET", "https://fe1.contoso.com:4443/ucwa/x", b"", {"Host": host} if host else {})
    request.http_version = http_version
    if http_version == "HTTP/2.0" and host:
        request.authority = host
    if host is None:
        request.headers.pop("host", None)
    for _ in range(2):  # parsed, then from the cache
        assert pretty_host(request) == request.pretty_host
