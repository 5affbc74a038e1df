"""UCWA batches, pure: reading multipart/batching requests and answers, writing answers, answering part by part."""

from __future__ import annotations

import json

import pytest
from ucwa_vcr.batch import (
    DOCUMENTED_PART_HEAD,
    MISS_REASON,
    BatchIndex,
    BatchStyle,
    How,
    Part,
    batch_requests,
    batch_responses,
    boundary_of,
    drop_parts,
    is_batch,
    message_bytes,
    replace_parts,
    split_parts,
)
from ucwa_vcr.cassette.model import Interaction, Request, Response, header
from ucwa_vcr.match import Matcher

APP = "/ucwa/oauth/v1/applications/103"
BATCH_URL = f"https://lyncweb.contoso.com{APP}/batch"
JSON = "application/json"

# BatchingRequests.md's example, as the page writes it (LF line ends), abbreviated
DOC_REQUEST = (
    "--77f2569d-c005-442b-b856-782305305e5f\n"
    "Content-Type: application/http; msgtype=request\n"
    "\n"
    f"GET {APP}/people/contacts HTTP/1.1\n"
    "Host: lyncweb.contoso.com\n"
    "Accept: application/json\n"
    "\n"
    "--77f2569d-c005-442b-b856-782305305e5f\n"
    "Content-Type: application/http; msgtype=request\n"
    "\n"
    f"GET {APP}/me HTTP/1.1\n"
    "Host: lyncweb.contoso.com\n"
    "Accept: application/json\n"
    "\n"
    "--77f2569d-c005-442b-b856-782305305e5f--\n").encode()
DOC_RESPONSE = (
    b"--3968fb75-0b0e-4e11-8b0c-4e37d822ed0c\n"
    b"Content-Type: application/http; msgtype=response\n"
    b"\n"
    b"HTTP/1.1 200 OK\n"
    b"Cache-Control: no-cache\n"
    b"Content-Type: application/json; charset=utf-8\n"
    b"\n"
    b'{"rel":"myContacts"}\n'
    b"--3968fb75-0b0e-4e11-8b0c-4e37d822ed0c\n"
    b"Content-Type: application/http; msgtype=response\n"
    b"\n"
    b"HTTP/1.1 200 OK\n"
    b"Cache-Control: no-cache\n"
    b"Content-Type: application/json; charset=utf-8\n"
    b"\n"
    b'{"name":"Dana Birkby","rel":"me"}\n'
    b"--3968fb75-0b0e-4e11-8b0c-4e37d822ed0c--\n")
DOC_RESPONSE_TYPE = 'multipart/batching; boundary="3968fb75-0b0e-4e11-8b0c-4e37d822ed0c"'


def batch_request(*parts: tuple[str, str] | tuple[str, str, dict[str, str], bytes], boundary: str = "b0undary",
                  authorization: str = "Bearer cwt=live-token") -> Request:
    """A batch as a client sends it (CRLF), one part per (method, path[, headers, body])."""
    body = b""
    for part in parts:
        method, path = part[0], part[1]
        headers = part[2] if len(part) > 2 else {"Accept": JSON}  # type: ignore[misc]
        content = part[3] if len(part) > 3 else b""  # type: ignore[misc]
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        body += (f"--{boundary}\r\nContent-Type: application/http; msgtype=request\r\n\r\n"
                 f"{method} {APP}{path} HTTP/1.1\r\n{head}\r\n").encode() + content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return Request(method="POST", url=BATCH_URL, body=body,
                   headers=[("Accept", "multipart/batching"), ("Authorization", authorization),
                            ("Content-Type", f"multipart/batching;boundary={boundary}")])


def batch_response(*answers: tuple[int, bytes], boundary: str = "0ut-b0undary") -> Response:
    """A batch answer as the fake origin (and a real server) writes it, one part per (status, JSON body)."""
    body = b""
    for status, content in answers:
        body += (f"--{boundary}\r\nContent-Type: application/http; msgtype=response\r\n\r\n"
                 f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\nContent-Type: {JSON}\r\n"
                 f"Content-Length: {len(content)}\r\n\r\n").encode() + content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return Response(status=200, reason="OK", body=body,
                    headers=[("Content-Type", f'multipart/batching; boundary="{boundary}"'), ("Cache-Control", "no-cache")])


def single(method: str, path: str, body: bytes, status: int = 200) -> Interaction:
    """A recorded single request (redacted, as in a cassette)."""
    return Interaction(Request(method=method, url=f"https://lyncweb.contoso.com{APP}{path}",
                               headers=[("Accept", JSON), ("Authorization", "Bearer cwt=REDACTED-1")]),
                       Response(status=status, reason="OK", headers=[("Content-Type", JSON)], body=body),
                       started="2024-01-01T00:00:00.000+00:00", duration=0.5)


def recorded_batch(*parts: tuple[str, str, int, bytes], duration: float = 0.25) -> Interaction:
    request = batch_request(*((m, p) for m, p, _, _ in parts), authorization="Bearer cwt=REDACTED-1")
    return Interaction(request, batch_response(*((s, b) for _, _, s, b in parts)),
                       started="2024-01-01T00:00:01.000+00:00", duration=duration)


def parts_of(response: Response) -> list[tuple[int, bytes]]:
    return [(r.status, r.body) for _, r in batch_responses(response) or []]


# -- reading -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("ctype", "boundary"), [
    ("multipart/batching;boundary=77f2569d-c005", "77f2569d-c005"),
    ('multipart/batching; boundary="3968fb75-0b0e"', "3968fb75-0b0e"),
    ("Multipart/Batching; charset=utf-8; BOUNDARY=abc", "abc"),
    ('multipart/batching; boundary="with space"', "with space"),
    ("multipart/batching", None),
    ("application/json; x-boundary=1", None),
])
def test_boundary_of_a_content_type(ctype, boundary):
    assert boundary_of(ctype) == boundary


def test_is_batch():
    assert is_batch("Multipart/Batching; boundary=x") and not is_batch("multipart/form-data; boundary=x")


def test_the_reference_pages_example_request_is_read_part_by_part():
    request = Request(method="POST", url=BATCH_URL, body=DOC_REQUEST,
                      headers=[("Content-Type", "multipart/batching;boundary=77f2569d-c005-442b-b856-782305305e5f"),
                               ("Authorization", "Bearer cwt=AAEB...buHc")])
    parts = batch_requests(request)
    assert parts is not None
    assert [(p.method, p.url) for p in parts] == [("GET", f"https://lyncweb.contoso.com{APP}/people/contacts"),
                                                  ("GET", f"https://lyncweb.contoso.com{APP}/me")]
    # the part's own headers, then the batch's credentials (a server runs each part with them)
    assert parts[1].headers == [("Host", "lyncweb.contoso.com"), ("Accept", JSON), ("Authorization", "Bearer cwt=AAEB...buHc")]
    assert [p.body for p in parts] == [b"", b""]


def test_the_reference_pages_example_response_is_read_part_by_part():
    answered = batch_responses(Response(headers=[("Content-Type", DOC_RESPONSE_TYPE)], body=DOC_RESPONSE))
    assert answered is not None
    assert [(r.status, r.reason, header(r.headers, "content-type"), r.body) for _, r in answered] == [
        (200, "OK", "application/json; charset=utf-8", b'{"rel":"myContacts"}'),
        (200, "OK", "application/json; charset=utf-8", b'{"name":"Dana Birkby","rel":"me"}')]
    assert answered[0][0].head == DOCUMENTED_PART_HEAD


def test_a_part_keeps_its_own_authorization_and_its_body_byte_for_byte():
    body = b'{"subject": "Sales \\u0027Q3\\u0027"}\r\n\r\n--not-the-boundary'
    request = batch_request(("POST", "/onlineMeetings/myOnlineMeetings",
                             {"Accept": JSON, "Authorization": "Bearer cwt=part", "Content-Type": JSON}, body))
    (part,) = batch_requests(request) or []
    assert part.method == "POST" and part.body == body
    assert [v for k, v in part.headers if k == "Authorization"] == ["Bearer cwt=part"]


@pytest.mark.parametrize(("body", "contents"), [
    (b"--b\r\nX: 1\r\n\r\nGET /a HTTP/1.1\r\n\r\n--b--\r\n", [(b"X: 1", b"GET /a HTTP/1.1\r\n")]),
    (b"preamble\r\n--b\r\n\r\nGET /a HTTP/1.1\r\n--b--\r\nepilogue", [(b"", b"GET /a HTTP/1.1")]),
    (b"--b\nGET /a HTTP/1.1\n\n--b \n\nGET /c HTTP/1.1\n--b--", [(b"", b"GET /a HTTP/1.1\n"), (b"", b"GET /c HTTP/1.1")]),
    (b"--b\r\n\r\nGET /a HTTP/1.1\r\n--b\r\n\r\nGET /c", [(b"", b"GET /a HTTP/1.1"), (b"", b"GET /c")]),
    (b"--bb\r\n\r\nGET /a HTTP/1.1\r\n", []),  # another boundary
    (b"", []),
])
def test_split_parts_is_lenient_about_line_ends_preambles_and_endings(body, contents):
    assert [(p.head, p.message) for p in split_parts(body, "b")] == contents


@pytest.mark.parametrize("request_", [
    Request(method="GET", url=BATCH_URL, headers=[("Content-Type", "multipart/batching;boundary=b")],
            body=b"--b\r\n\r\nGET /a HTTP/1.1\r\n--b--"),
    Request(method="POST", url=BATCH_URL, headers=[("Content-Type", "multipart/mixed;boundary=b")],
            body=b"--b\r\n\r\nGET /a HTTP/1.1\r\n--b--"),
    Request(method="POST", url=BATCH_URL, headers=[("Content-Type", "multipart/batching")], body=b"--b\r\n--b--"),
    Request(method="POST", url=BATCH_URL, headers=[("Content-Type", "multipart/batching;boundary=b")],
            body=b"--b\r\n\r\nnot a request line at all\r\n--b--"),
    Request(method="POST", url=BATCH_URL, headers=[("Content-Type", "multipart/batching;boundary=b")], body=b"--b--"),
], ids=["GET", "not batching", "no boundary", "part is no request", "no parts"])
def test_what_is_no_batch_is_left_to_whole_request_matching(request_):
    assert batch_requests(request_) is None


# -- writing -------------------------------------------------------------------------------------------------------

def test_a_response_as_a_part_carries_it():
    response = Response(status=201, headers=[("Content-Type", JSON), ("Transfer-Encoding", "chunked"),
                                             ("Content-Encoding", "gzip"), ("Content-Length", "3"), ("ETag", '"1"')],
                        body=b'{"a": 1}')
    assert message_bytes(response) == (b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n'
                                       b'Content-Length: 8\r\nETag: "1"\r\n\r\n{"a": 1}')
    assert message_bytes(Response(status=204, reason="No Content"), b"\n") == b"HTTP/1.1 204 No Content\n\n"


def test_the_recorded_servers_style_is_kept_and_its_parts_read_back():
    recorded = Response(status=200, reason="OK", headers=[("Content-Type", DOC_RESPONSE_TYPE), ("Server", "IIS"),
                                                          ("Content-Length", "1")], body=DOC_RESPONSE)
    style = BatchStyle.of(recorded)
    assert style is not None and style.eol == b"\n" and style.part_head == DOCUMENTED_PART_HEAD
    messages = [b"HTTP/1.1 200 OK\nContent-Type: application/json\n\n{}", b"HTTP/1.1 404 Not Found\n\n"]
    written = style.write(messages)
    assert written.headers == [("Content-Type", DOC_RESPONSE_TYPE), ("Server", "IIS"),
                               ("Content-Length", str(len(written.body)))]
    assert written.body.startswith(b"--3968fb75-0b0e-4e11-8b0c-4e37d822ed0c\n" + DOCUMENTED_PART_HEAD + b"\n\n")
    assert [p.message for p in split_parts(written.body, "3968fb75-0b0e-4e11-8b0c-4e37d822ed0c")] == messages
    assert written.body.endswith(b"\n--3968fb75-0b0e-4e11-8b0c-4e37d822ed0c--\n")


def test_a_boundary_found_in_a_part_is_replaced_the_same_way_every_time():
    style = BatchStyle.of(Response(headers=[("Content-Type", DOC_RESPONSE_TYPE)], body=DOC_RESPONSE))
    assert style is not None
    messages = [b"HTTP/1.1 200 OK\n\n--3968fb75-0b0e-4e11-8b0c-4e37d822ed0c"]
    written = style.write(messages)
    boundary = boundary_of(header(written.headers, "content-type"))
    assert boundary and boundary != style.boundary and style.write(messages).body == written.body
    assert header(written.headers, "content-type") == f'multipart/batching; boundary="{boundary}"'
    assert [p.message for p in split_parts(written.body, boundary)] == messages


def test_without_a_recorded_batch_the_answer_is_written_as_the_reference_page_shows():
    written = BatchStyle().write([b"HTTP/1.1 200 OK\r\n\r\n"])
    boundary = boundary_of(header(written.headers, "content-type"))
    assert header(written.headers, "content-type") == f'multipart/batching; boundary="{boundary}"'
    assert split_parts(written.body, boundary or "") == [Part(DOCUMENTED_PART_HEAD, b"HTTP/1.1 200 OK\r\n\r\n")]
    assert written.body.count(b"\r\n") == written.body.count(b"\n"), "CRLF throughout"


# -- answering -----------------------------------------------------------------------------------------------------

ME, PEOPLE, USER = b'{"rel": "me"}', b'{"rel": "people"}', b'{"rel": "user"}'


def index(*interactions: Interaction, **options: object) -> BatchIndex:
    return BatchIndex(Matcher(list(interactions), **options))  # type: ignore[arg-type]


def test_a_batch_recorded_whole_is_answered_with_the_recorded_bytes():
    recorded = recorded_batch(("GET", "/me", 200, ME), ("GET", "/people", 200, PEOPLE))
    answer = index(single("GET", "/me", b"single"), recorded).answer(batch_request(("GET", "/me"), ("GET", "/people")))
    assert answer is not None and answer.whole is recorded and answer.response is recorded.response
    assert answer.duration == 0.25


def test_parts_in_another_order_get_their_recorded_parts_byte_for_byte_in_the_requests_order():
    recorded = recorded_batch(("GET", "/me", 200, ME), ("GET", "/people", 200, PEOPLE))
    answer = index(recorded).answer(batch_request(("GET", "/people"), ("GET", "/me")))
    assert answer is not None and answer.response is not None and answer.whole is None
    assert parts_of(answer.response) == [(200, PEOPLE), (200, ME)]
    recorded_parts = {p.message for p, _ in batch_responses(recorded.response) or []}
    assert {p.message for p in split_parts(answer.response.body, "0ut-b0undary")} == recorded_parts
    assert header(answer.response.headers, "content-type") == 'multipart/batching; boundary="0ut-b0undary"'
    assert [p.how for p in answer.parts] == [How.REPLAYED, How.REPLAYED] and not answer.misses


def test_a_single_request_asked_inside_a_batch_gets_its_recorded_answer():
    tape = Matcher([single("GET", "/user", USER), recorded_batch(("GET", "/me", 200, ME))])
    answer = BatchIndex(tape).answer(batch_request(("GET", "/user"), ("GET", "/me")))
    assert answer is not None and answer.response is not None
    assert parts_of(answer.response) == [(200, USER), (200, ME)]
    # the single's answer was used up through the replay matcher, as if asked alone
    assert tape.match(single("GET", "/user", b"").request, offline=False).exhausted == 1  # type: ignore[union-attr]


def test_identical_parts_get_their_answers_in_recorded_order_then_the_last_again():
    first = recorded_batch(("GET", "/me", 200, b'{"n": 1}'), ("GET", "/people", 200, PEOPLE))
    second = recorded_batch(("GET", "/me", 200, b'{"n": 2}'))
    batches = index(first, second)
    got = [parts_of(batches.answer(batch_request(("GET", "/people"), ("GET", "/me"))).response)  # type: ignore[union-attr,arg-type]
           for _ in range(3)]
    assert [g[1][1] for g in got] == [b'{"n": 1}', b'{"n": 2}', b'{"n": 2}']


def test_a_batch_answered_whole_uses_its_parts_up_too():
    first = recorded_batch(("GET", "/me", 200, b'{"n": 1}'))
    second = recorded_batch(("GET", "/me", 200, b'{"n": 2}'), ("GET", "/people", 200, PEOPLE))
    batches = index(first, second)
    assert batches.answer(batch_request(("GET", "/me"))).whole is first  # type: ignore[union-attr]
    reordered = batches.answer(batch_request(("GET", "/people"), ("GET", "/me")))
    assert parts_of(reordered.response) == [(200, PEOPLE), (200, b'{"n": 2}')]  # type: ignore[union-attr,arg-type]


def test_offline_a_part_with_no_recorded_answer_gets_an_explained_miss_and_the_others_their_answers():
    tape = [single("GET", "/user", USER), recorded_batch(("GET", "/me", 200, ME), ("GET", "/people", 200, PEOPLE))]
    live = batch_request(("GET", "/people"), ("GET", "/phones", {"Accept": "application/xml"}, b""), ("GET", "/me"))
    answer = index(*tape).answer(live)
    assert answer is not None and answer.response is not None
    (_, people), (_, missed), (_, me) = batch_responses(answer.response) or []
    assert (people.body, me.body) == (PEOPLE, ME)
    assert (missed.status, missed.reason) == (500, MISS_REASON)
    assert header(missed.headers, "content-type") == "application/xml; charset=utf-8"
    assert header(missed.headers, "x-ucwa-vcr") == "miss"
    assert b"<subcode>UcwaVcrNoMatch</subcode>" in missed.body
    (miss,) = answer.misses
    explained = miss.explain().splitlines()
    assert explained[0] == f"ucwa-vcr: no recorded answer for GET https://lyncweb.contoso.com{APP}/phones"
    # the closest are numbered by their exchange in the cassette: the batch is #1
    assert f"  closest #1: GET https://lyncweb.contoso.com{APP}/me" in explained
    assert f"  closest #0: GET https://lyncweb.contoso.com{APP}/user" in explained


def test_online_a_batch_with_an_unrecorded_part_is_left_to_the_server_and_uses_nothing_up():
    batches = index(single("GET", "/user", USER), recorded_batch(("GET", "/me", 200, b'{"n": 1}')),
                    recorded_batch(("GET", "/me", 200, b'{"n": 2}')))
    for _ in range(2):
        for live in (batch_request(("GET", "/me"), ("GET", "/phones")), batch_request(("GET", "/phones"), ("GET", "/user"))):
            assert batches.answer(live, offline=False).response is None  # type: ignore[union-attr]
    answer = batches.answer(batch_request(("GET", "/user"), ("GET", "/me"), ("GET", "/me")), offline=False)
    assert parts_of(answer.response) == [(200, USER), (200, b'{"n": 1}'), (200, b'{"n": 2}')]  # type: ignore[union-attr,arg-type]
    # used up: online, that is a miss, and the server answers
    assert batches.answer(batch_request(("GET", "/user"), ("GET", "/me")), offline=False).response is None  # type: ignore[union-attr]


def test_parts_recorded_after_the_index_was_made_count_as_used():
    tape = Matcher([recorded_batch(("GET", "/me", 200, b'{"n": 1}'))])
    batches = BatchIndex(tape)
    tape.add(recorded_batch(("GET", "/people", 200, PEOPLE)))  # recorded in new_episodes
    assert batches.answer(batch_request(("GET", "/people")), offline=False).response is None  # type: ignore[union-attr]
    assert batches.answer(batch_request(("GET", "/people"))).whole is not None  # type: ignore[union-attr]


def test_with_the_body_matcher_parts_are_told_apart_by_their_bodies():
    def posting(subject: str) -> tuple[str, str, dict[str, str], bytes]:
        return ("POST", "/onlineMeetings/myOnlineMeetings", {"Accept": JSON, "Content-Type": JSON},
                json.dumps({"subject": subject}).encode())
    recorded = Interaction(batch_request(posting("a"), posting("b")), batch_response((200, b"A"), (200, b"B")))
    batches = index(recorded, on=("method", "path", "body"))
    answer = batches.answer(batch_request(posting("b"), posting("a"), boundary="other"))
    assert parts_of(answer.response) == [(200, b"B"), (200, b"A")]  # type: ignore[union-attr,arg-type]
    assert batches.answer(batch_request(posting("c"))).misses  # type: ignore[union-attr]


def test_the_model_answers_a_part_first_when_it_can():
    recorded = recorded_batch(("GET", "/me", 200, ME), ("GET", "/people", 200, PEOPLE))
    asked: list[str] = []

    def simulate(request: Request) -> Response | None:
        asked.append(request.url)
        return Response(status=201, body=b"model") if request.url.endswith("/people") else None

    answer = index(recorded).answer(batch_request(("GET", "/me"), ("GET", "/people")), simulate=simulate)
    assert answer is not None and answer.whole is None, "a part the model answered: not the recorded batch"
    assert parts_of(answer.response) == [(200, ME), (201, b"model")]  # type: ignore[arg-type]
    assert [p.how for p in answer.parts] == [How.REPLAYED, How.SIMULATED] and len(asked) == 2


def test_rewind_starts_batches_and_parts_over():
    first = recorded_batch(("GET", "/me", 200, b'{"n": 1}'))
    second = recorded_batch(("GET", "/me", 200, b'{"n": 2}'))
    batches = index(first, second)
    assert [batches.answer(batch_request(("GET", "/me"))).whole for _ in range(2)] == [first, second]  # type: ignore[union-attr]
    batches.rewind()
    assert batches.answer(batch_request(("GET", "/me"))).whole is first  # type: ignore[union-attr]


# -- faulted parts (fault rules on a batch's parts) -----------------------------------------------------------------

@pytest.mark.parametrize(("dropped", "left"), [
    ({0}, ["/me"]), ({1}, ["/people/contacts"]), ({0, 1}, []), (set(), ["/people/contacts", "/me"]),
    ({7}, ["/people/contacts", "/me"])])
@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_drop_parts_leaves_the_others_byte_for_byte(dropped, left, eol):
    body = DOC_REQUEST.replace(b"\n", eol.encode())
    boundary = "77f2569d-c005-442b-b856-782305305e5f"
    kept = drop_parts(body, boundary, dropped)
    originals = split_parts(body, boundary)
    expected = [p for n, p in enumerate(originals) if n not in dropped]
    assert split_parts(kept, boundary) == expected, "the parts kept, byte for byte"
    assert kept.endswith(f"--{boundary}--{eol}".encode()), "the closing delimiter stays"
    if left:
        request = Request(method="POST", url=BATCH_URL, body=kept,
                          headers=[("Content-Type", f"multipart/batching;boundary={boundary}")])
        assert [p.url.removeprefix(f"https://lyncweb.contoso.com{APP}") for p in batch_requests(request) or []] == left


def test_drop_parts_of_a_batch_without_its_closing_delimiter():
    body = b"--b\r\nContent-Type: application/http\r\n\r\nGET /a HTTP/1.1\r\n\r\n--b\r\n\r\nGET /b HTTP/1.1\r\n"
    assert split_parts(drop_parts(body, "b", {1}), "b") == [Part(b"Content-Type: application/http", b"GET /a HTTP/1.1\r\n")]
    assert split_parts(drop_parts(body, "b", {0}), "b") == [Part(b"", b"GET /b HTTP/1.1\r\n")]


def test_replace_parts_in_place_keeps_the_others_and_the_answers_style():
    recorded = Response(status=200, reason="OK", headers=[("Content-Type", DOC_RESPONSE_TYPE), ("Server", "IIS")],
                        body=DOC_RESPONSE)
    conflict = Response(status=409, reason="Conflict", headers=[("Content-Type", JSON)], body=b'{"code":"Conflict"}')
    replaced = replace_parts(recorded, {1: conflict})
    assert replaced is not None
    assert replaced.headers[:2] == recorded.headers, "status line, headers and boundary as the answer had them"
    (first, contacts), (second, answer) = batch_responses(replaced) or []
    assert first == split_parts(DOC_RESPONSE, "3968fb75-0b0e-4e11-8b0c-4e37d822ed0c")[0], "byte for byte"
    assert (answer.status, answer.reason, answer.body) == (409, "Conflict", b'{"code":"Conflict"}')
    assert second.message == b"HTTP/1.1 409 Conflict\nContent-Type: application/json\nContent-Length: 19\n\n" \
                             b'{"code":"Conflict"}', "in the answer's line ends"
    assert contacts.body == b'{"rel":"myContacts"}'


def test_replace_parts_puts_in_parts_whose_requests_did_not_go_on():
    answer = batch_response((200, ME))  # the server saw the second part only
    made = {0: Response(status=404, reason="Not Found", body=b"gone"), 2: Response(status=204, reason="No Content")}
    rebuilt = replace_parts(answer, made, inserted={0, 2})
    assert rebuilt is not None and parts_of(rebuilt) == [(404, b"gone"), (200, ME), (204, b"")]
    assert header(rebuilt.headers, "content-type") == header(answer.headers, "content-type")
    assert batch_responses(rebuilt)[1][0] == batch_responses(answer)[0][0]  # type: ignore[index]


def test_replace_parts_with_the_boundary_in_a_new_part_takes_a_new_boundary():
    answer = batch_response((200, ME), (200, PEOPLE))
    made = {1: Response(status=500, body=b"--0ut-b0undary--")}
    rebuilt = replace_parts(answer, made)
    assert rebuilt is not None and parts_of(rebuilt) == [(200, ME), (500, b"--0ut-b0undary--")]
    assert boundary_of(header(rebuilt.headers, "content-type")) != "0ut-b0undary"


@pytest.mark.parametrize(("answer", "parts", "inserted"), [
    (Response(status=429, headers=[("Content-Type", JSON)], body=b"{}"), {0: Response()}, ()),  # refused whole
    (batch_response((200, ME)), {1: Response()}, ()),  # past its end
    (batch_response((200, ME)), {2: Response()}, {2}),
])
def test_replace_parts_of_no_batch_answer_or_past_its_end_is_none(answer, parts, inserted):
    assert replace_parts(answer, parts, inserted) is None


def test_a_part_put_in_needs_its_answer():
    with pytest.raises(ValueError):
        replace_parts(batch_response((200, ME)), {}, inserted={1})
