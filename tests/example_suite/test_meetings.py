"""An example of a user's suite: replays UCWA answers through the ucwa-vcr pytest plugin only.

Run it alone with `pytest tests/example_suite --confcutdir tests/example_suite` (add `-n 2` for pytest-xdist);
the project's own suite runs it that way in tests/e2e/test_pytest_plugin.py.
"""

import json

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


@pytest.mark.ucwa_cassette(SEED)
def test_exchanges_show_what_the_client_sent_and_got(ucwa, ucwa_proxy):
    ucwa_proxy.inject("POST myOnlineMeetings$=TooManyOnlineMeetings times 1")  # for this test only
    assert ucwa.get(MEETINGS, timeout=10).status_code == 200
    assert ucwa.post(MEETINGS, json={"subject": "Standup"}, timeout=10).status_code == 409
    assert ucwa.post(MEETINGS, json={"subject": "Standup"}, timeout=10).status_code == 201

    sent = ucwa_proxy.exchanges
    assert [(e.method, e.status, e.answered_by) for e in sent] == [
        ("GET", 200, "replayed"), ("POST", 409, "faulted"), ("POST", 201, "replayed")]
    assert sent[0].url == MEETINGS
    assert json.loads(sent[1].request_body) == {"subject": "Standup"}
    assert json.loads(sent[1].response_body)["subcode"] == "TooManyOnlineMeetings"
    assert sent[1].fault is not None and sent[2].fault is None
    # redacted as the cassette is: the token never shows, and the same token has the same placeholder throughout
    tokens = {e.request_header("Authorization") for e in sent}
    assert len(tokens) == 1 and "test-token" not in tokens.pop()
    assert ucwa_proxy.faults == ["added rule 1: POST myOnlineMeetings$ -> error TooManyOnlineMeetings times 1 (fired 1/2)"]


@pytest.mark.ucwa_cassette(SEED, inject=["POST myOnlineMeetings$=TooManyOnlineMeetings"])
def test_faults_added_and_cleared_from_the_test(ucwa, ucwa_proxy):
    assert ucwa.post(MEETINGS, json={}, timeout=10).status_code == 409
    ucwa_proxy.clear_faults()  # the marker's rules too
    assert ucwa.post(MEETINGS, json={}, timeout=10).status_code == 201
    ucwa_proxy.inject({"match": {"method": "GET", "path": "myOnlineMeetings$"}, "error": "ServiceFailure", "times": 1})
    assert ucwa.get(MEETINGS, timeout=10).status_code == 500
    assert ucwa.get(MEETINGS, timeout=10).status_code == 200
    assert [e.answered_by for e in ucwa_proxy.exchanges] == ["faulted", "replayed", "faulted", "replayed"]


@pytest.mark.ucwa_cassette(SEED, allow_misses=True)  # without it, this test fails at teardown
def test_a_request_the_cassette_has_no_answer_to(ucwa, ucwa_proxy):
    r = ucwa.get(MEETINGS + "/NOSUCHMEETING", timeout=10)
    assert r.status_code == 500  # the proxy's own answer, explaining the miss
    [why] = ucwa_proxy.misses()
    assert "no recorded answer for GET" in why and "NOSUCHMEETING" in why
    assert [e.answered_by for e in ucwa_proxy.exchanges] == ["miss"]
