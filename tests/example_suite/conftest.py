"""The example suite's fixture: a requests session that goes through the ucwa-vcr proxy, as a user would write it."""

from collections.abc import Iterator

import pytest
import requests


@pytest.fixture
def ucwa(ucwa_proxy) -> Iterator[requests.Session]:
    """A session that asks for JSON with a token (UCWA wants one on every request; any one replays), through the
    proxy, trusting its CA."""
    with requests.Session() as session:
        session.trust_env = False  # else REQUESTS_CA_BUNDLE and *_PROXY from the environment win over what is set here
        session.proxies.update(ucwa_proxy.requests_kwargs["proxies"])
        session.verify = ucwa_proxy.requests_kwargs["verify"]
        session.headers.update({"Accept": "application/json", "Authorization": "Bearer cwt=test-token"})
        yield session
