"""End to end: batches (BatchingRequests.md) and the event channel's resync (EventChannelDetails.md), replayed
offline through a real `mitmdump -s addons/ucwa.py` from a session recorded against the fake origin; and fault
rules on a batch's parts, offline and while recording."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urljoin

import requests
from lxml import etree
from ucwa_client import JSON, NS, XML, Client
from ucwa_vcr.batch import batch_requests, batch_responses
from ucwa_vcr.cassette.codec import load_cassette
from ucwa_vcr.cassette.model import Response


def parts_of(answer) -> list[Response]:  # a requests.Response holding a batch answer
    responses = batch_responses(Response(headers=list(answer.headers.items()), body=answer.content))
    return [response for _, response in responses or []]


def record(start_proxy, fake, canaries, cassette: Path) -> dict[str, str]:
    """Sign in, read the meetings alone (XML), create one, read the events, then batch two reads; stop the origin."""
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=all")
    client = Client(proxy.session(), fake.discovery_url, canaries["password"])
    client.sign_in()
    mine, app = client.meetings_url, client.app["_links"]["self"]["href"]
    assert client.call("list-xml", "GET", mine, accept=XML).status_code == 200
    assert client.call("create", "POST", mine, json={"subject": "batched"}).status_code == 201
    assert client.call("events", "GET", client.events_url).status_code == 200
    batch = client.batch("batch", [("GET", mine, {"Accept": JSON, **client.auth}),
                                   ("GET", app, {"Accept": JSON, "Cookie": client.cookie})])
    assert batch.status_code == 200 and len(parts_of(batch)) == 2
    proxy.stop()
    fake.stop()
    return {"mine": mine, "app": app, "events": client.events_url}


def replaying(start_proxy, fake, cassette: Path) -> tuple[object, Client]:
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=none", "ucwa_event_hold=0")
    client = Client(proxy.session(), fake.discovery_url, "any-other-password")
    client.sign_in()  # replayed: the client learns its links as it did
    return proxy, client


def test_a_batch_is_replayed_whole_or_part_by_part_in_any_order_offline(start_proxy, fake, canaries, tmp_path):
    cassette = tmp_path / "batch.yaml"
    links = record(start_proxy, fake, canaries, cassette)
    interactions = load_cassette(cassette).interactions
    recorded_batch = next(i for i in interactions if i.request.url.endswith("/batch"))
    mine_recorded, app_recorded = (r for _, r in batch_responses(recorded_batch.response) or [])
    list_xml = next(i for i in interactions if ("Accept", XML) in i.request.headers).response
    assert [p.method for p in batch_requests(recorded_batch.request) or []] == ["GET", "GET"]

    proxy, client = replaying(start_proxy, fake, cassette)
    auth, cookie = {"Accept": JSON, **client.auth}, {"Accept": JSON, "Cookie": client.cookie}
    # the parts in another order, and a request recorded alone (the XML list) asked inside the batch
    reordered = client.batch("reordered", [("GET", links["app"], cookie), ("GET", links["mine"], {"Accept": XML}),
                                           ("GET", links["mine"], auth)])
    whole = client.batch("whole", [("GET", links["mine"], auth), ("GET", links["app"], cookie)])
    log = proxy.stop()

    assert reordered.status_code == 200
    assert reordered.headers["Content-Type"] == next(v for k, v in recorded_batch.response.headers
                                                     if k.lower() == "content-type"), "as the server wrote it"
    got = [(p.status, p.body) for p in parts_of(reordered)]
    assert got == [(200, app_recorded.body), (200, list_xml.body), (200, mine_recorded.body)]
    etree.fromstring(got[1][1])  # the XML list, as recorded
    assert whole.status_code == 200 and whole.content == recorded_batch.response.body, "the recorded bytes"
    assert re.search(r"ucwa-vcr: \S+batch\.yaml: \d+ replayed, 0 missed", log), log


def test_an_unrecorded_part_is_an_explained_miss_and_an_ack_out_of_order_gets_resync(start_proxy, fake, canaries,
                                                                                     tmp_path):
    cassette = tmp_path / "batch.yaml"
    links = record(start_proxy, fake, canaries, cassette)
    recorded_batch = next(i for i in load_cassette(cassette).interactions if i.request.url.endswith("/batch"))
    app_recorded = (batch_responses(recorded_batch.response) or [])[1][1]
    proxy, client = replaying(start_proxy, fake, cassette)
    answer = client.batch("with-a-miss", [("GET", links["mine"] + "/M9999", {"Accept": XML}),
                                          ("GET", links["app"], {"Accept": JSON, "Cookie": client.cookie})])
    events = urljoin(client.base, links["events"])
    first = client.call("events-1", "GET", events)  # recorded: ack=1
    ahead = client.call("events-ahead", "GET", re.sub(r"ack=\d+", "ack=40", events))
    behind = client.call("events-behind", "GET", re.sub(r"ack=\d+", "ack=0", events), accept=XML)
    log = proxy.stop()

    missed, app = parts_of(answer)
    assert answer.status_code == 200 and (app.status, app.body) == (200, app_recorded.body)
    assert missed.status == 500 and missed.reason == "ucwa-vcr: no recorded answer"
    message = etree.fromstring(missed.body).findtext(f"{NS}message")
    assert "no recorded answer for GET" in message and "/M9999" in message and "closest #" in message
    assert re.search(r"\d+ replayed, 1 missed", log), log

    served = json.loads(first.content)["_links"]["next"]["href"]
    assert ahead.status_code == 200
    assert json.loads(ahead.content) == {"_links": {"resync": {"href": re.sub(r"ack=\d+", "ack=1", served)}}}
    root = etree.fromstring(behind.content)
    assert [link.get("rel") for link in root.iter(f"{NS}link")] == ["resync"]


# -- fault rules on a part -----------------------------------------------------------------------------------------

INJECT = "ucwa_inject=POST myOnlineMeetings$=TooManyOnlineMeetings"
CREATE = json.dumps({"subject": "batched"}).encode()


def batch_with_bodies(client: Client, name: str, parts: list[tuple[str, str, str, bytes]]) -> requests.Response:
    """POST the application's batch resource: one part per (method, path, Accept, JSON or XML body), as a client
    writes it (CRLF, the part's own Content-Type and Content-Length when it has a body)."""
    boundary = "77f2569d-c005-442b-b856-782305305e5f"
    body = b""
    for method, path, accept, content in parts:
        head = f"{method} {path} HTTP/1.1\r\nAccept: {accept}\r\nAuthorization: {client.auth['Authorization']}\r\n"
        if content:
            head += f"Content-Type: {accept}\r\nContent-Length: {len(content)}\r\n"
        body += f"--{boundary}\r\nContent-Type: application/http; msgtype=request\r\n\r\n{head}\r\n".encode()
        body += content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return client.call(name, "POST", client.app["_links"]["self"]["href"] + "/batch", accept="multipart/batching",
                       data=body, headers={"Content-Type": f"multipart/batching;boundary={boundary}"})


def test_a_rule_on_a_part_answers_that_part_offline_the_others_get_their_recorded_answers(start_proxy, fake, canaries,
                                                                                         tmp_path):
    cassette = tmp_path / "batch.yaml"
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=all")
    client = Client(proxy.session(), fake.discovery_url, canaries["password"])
    client.sign_in()
    mine = client.meetings_url
    recorded = batch_with_bodies(client, "batch", [("GET", mine, JSON, b""), ("POST", mine, JSON, CREATE)])
    assert [p.status for p in parts_of(recorded)] == [200, 201]
    proxy.stop()
    fake.stop()

    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=none", INJECT)
    client = Client(proxy.session(), fake.discovery_url, "any-other-password")
    client.sign_in()
    answer = batch_with_bodies(client, "batch", [("GET", mine, JSON, b""), ("POST", mine, JSON, CREATE),
                                                 ("POST", mine, XML, b"<input/>")])
    log = proxy.stop()

    assert answer.status_code == 200 and answer.headers["Content-Type"] == recorded.headers["Content-Type"]
    listing, refused, refused_xml = parts_of(answer)
    assert (listing.status, listing.body) == (200, parts_of(recorded)[0].body), "as recorded"
    assert refused.status == 409 and refused.reason == "Conflict"
    data = json.loads(refused.body)
    assert (data["code"], data["subcode"]) == ("Conflict", "TooManyOnlineMeetings")
    assert refused_xml.status == 409 and dict(refused_xml.headers)["Content-Type"] == "application/xml; charset=utf-8"
    assert etree.fromstring(refused_xml.body).findtext(f"{NS}subcode") == "TooManyOnlineMeetings"
    assert re.search(r"\d+ replayed, 2 faulted, 0 missed", log), log


def test_while_recording_a_part_answered_by_a_rule_never_reaches_the_server(start_proxy, fake, canaries, tmp_path):
    cassette = tmp_path / "batch.yaml"
    proxy = start_proxy(f"ucwa_cassette={cassette}", "ucwa_record_mode=all", INJECT)
    client = Client(proxy.session(), fake.discovery_url, canaries["password"])
    client.sign_in()
    mine = client.meetings_url
    answer = batch_with_bodies(client, "batch", [("POST", mine, JSON, CREATE), ("GET", mine, JSON, b"")])
    log = proxy.stop()

    refused, listing = parts_of(answer)
    assert refused.status == 409 and listing.status == 200
    assert fake.meetings == {}, "the server never saw the create"
    kept = next(i for i in load_cassette(cassette).interactions if i.request.url.endswith("/batch"))
    assert [p.method for p in batch_requests(kept.request) or []] == ["GET"], "recorded as the server saw it"
    assert [r.body for _, r in batch_responses(kept.response) or []] == [listing.body]
    assert "1 faulted" in log, log
