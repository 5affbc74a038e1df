"""An example of a user's suite: replays UCWA answers through the ucwa-vcr pytest plugin only.

Run it alone with `pytest tests/example_suite --confcutdir tests/example_suite`; the project's own
suite runs it that way in tests/e2e/test_pytest_plugin.py.
"""

import httpx
import pytest
import requests

MEETINGS = "https://fe1.contoso.com//v1/applications/833/onlineMeetings/myOnlineMeetings"
SEED = "../../cassettes/myOnlineMeetings-seed.yaml"  # the shipped cassette: the reference page's samples
AUTH = {"Authorization": "Bearer cwt=test-token"}  # UCWA wants a token on every request; any one replays


@pytest.mark.ucwa_cassette(SEED)
def test_list_meetings_with_requests(ucwa_proxy):
    r = requests.get(MEETINGS, headers={"Accept": "application/json", **AUTH}, timeout=10, **ucwa_proxy.requests_kwargs)
    assert r.status_code == 200
    assert r.json()["_embedded"]["myOnlineMeeting"][0]["onlineMeetingId"] == "IB88RLLY"
    assert ucwa_proxy.misses() == []


@pytest.mark.ucwa_cassette(SEED)
class TestCreate:
    def test_create_in_xml_with_httpx(self, ucwa_proxy):
        body = '<input xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa"/>'
        with httpx.Client(**ucwa_proxy.httpx_kwargs) as client:
            r = client.post(MEETINGS, content=body, headers={"Accept": "application/xml", "Content-Type": "application/xml", **AUTH})
        assert r.status_code == 201 and r.headers["Etag"] == "edcfd822-4ebf-45e1-b2fa-a9e7a36e8ee4"

    @pytest.mark.ucwa_cassette(SEED, inject=["POST myOnlineMeetings$=TooManyOnlineMeetings"])
    def test_too_many_meetings(self, ucwa_proxy):
        r = requests.post(MEETINGS, json={"subject": "one more"}, headers={"Accept": "application/json", **AUTH}, timeout=10,
                          **ucwa_proxy.requests_kwargs)
        assert r.status_code == 409 and r.json()["subcode"] == "TooManyOnlineMeetings"

    def test_faults_do_not_leak_into_the_next_test(self, ucwa_proxy):
        r = requests.post(MEETINGS, json={}, headers={"Accept": "application/json", **AUTH}, timeout=10, **ucwa_proxy.requests_kwargs)
        assert r.status_code == 201
