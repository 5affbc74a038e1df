"""Async clients through the ucwa-vcr proxy: httpx.AsyncClient and aiohttp.ClientSession (pytest-asyncio)."""

import asyncio

import aiohttp
import httpx
import pytest

MEETINGS = "https://fe1.contoso.com//v1/applications/833/onlineMeetings/myOnlineMeetings"
SEED = "../../cassettes/myOnlineMeetings-seed.yaml"
HEADERS = {"Accept": "application/json", "Authorization": "Bearer cwt=test-token"}

pytestmark = [pytest.mark.asyncio, pytest.mark.ucwa_cassette(SEED)]


async def test_httpx_async_client(ucwa_proxy):
    async with httpx.AsyncClient(**ucwa_proxy.httpx_kwargs) as client:
        answers = await asyncio.gather(*(client.get(MEETINGS, headers=HEADERS) for _ in range(3)))
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [e.answered_by for e in ucwa_proxy.exchanges] == ["replayed"] * 3


async def test_aiohttp_client_session(ucwa_proxy):
    async with aiohttp.ClientSession(**ucwa_proxy.aiohttp_kwargs) as session:
        async with session.post(MEETINGS, json={"subject": "Standup"}, headers=HEADERS) as r:
            assert r.status == 201
            assert (await r.json())["onlineMeetingId"]
        async with session.get(MEETINGS, headers=HEADERS) as r:
            assert r.status == 200
    assert [(e.method, e.answered_by) for e in ucwa_proxy.exchanges] == [("POST", "replayed"), ("GET", "replayed")]
