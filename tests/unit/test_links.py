"""Reverse mode's link rewriting, pure: which links lead back through the proxy and how, how a request for one is
routed, and how what a client sends back gets the servers' own URLs again (ucwa_vcr.links)."""

from __future__ import annotations

import pytest
from ucwa_vcr.batch import boundary_of
from ucwa_vcr.links import Origin, Rewriter, each_part, route

PROXY = Origin("http", "127.0.0.1", 8080)
TARGET = Origin("https", "lyncdiscover.contoso.com", 443)  # the reverse target
POOL = Origin("https", "fe1.contoso.com", 443)
P = "http://127.0.0.1:8080"
FE1 = "/_ucwa_vcr/https/fe1.contoso.com:443"


def session(host: str) -> bool:
    return host.endswith(".contoso.com") or host == "2001:db8::1"


def rewriter(source: Origin = POOL, proxy: Origin = PROXY) -> Rewriter:
    return Rewriter(proxy, TARGET, source, session)


DISCOVERY = ('{"_links":{"self":{"href":"https://lyncdiscover.contoso.com/Autodiscover/AutodiscoverService.svc/root"},'
             '"user":{"href":"https://fe1.contoso.com/Autodiscover/AutodiscoverService.svc/root/oauth/user?originalDomain=contoso.com"}}}')
DISCOVERY_ESCAPED = DISCOVERY.replace("/", "\\/")


@pytest.mark.parametrize("source, body, expected", [
    # discovery from the target: its own link leads to the proxy, the pool's keeps its host in the prefix
    (TARGET, DISCOVERY,
     '{"_links":{"self":{"href":"http://127.0.0.1:8080/Autodiscover/AutodiscoverService.svc/root"},'
     f'"user":{{"href":"{P}{FE1}/Autodiscover/AutodiscoverService.svc/root/oauth/user?originalDomain=contoso.com"}}}}}}'),
    # JSON-escaped slashes stay escaped, the inserted ones too
    (TARGET, DISCOVERY_ESCAPED,
     '{"_links":{"self":{"href":"http:\\/\\/127.0.0.1:8080\\/Autodiscover\\/AutodiscoverService.svc\\/root"},'
     '"user":{"href":"http:\\/\\/127.0.0.1:8080\\/_ucwa_vcr\\/https\\/fe1.contoso.com:443\\/Autodiscover\\/'
     'AutodiscoverService.svc\\/root\\/oauth\\/user?originalDomain=contoso.com"}}}'),
    (POOL, '{"applications" : { "href" : "https://FE1.contoso.com/ucwa/oauth/v1/applications" }}',
     f'{{"applications" : {{ "href" : "{P}{FE1}/ucwa/oauth/v1/applications" }}}}'),
    # paths from the root of another host than the target get its prefix; the target's stay as they are
    (POOL, '{"self":{"href":"/ucwa/oauth/v1/applications/1"},"e":{"href":"\\/ucwa\\/oauth\\/v1\\/applications\\/1\\/events?ack=1"}}',
     f'{{"self":{{"href":"{FE1}/ucwa/oauth/v1/applications/1"}},'
     '"e":{"href":"\\/_ucwa_vcr\\/https\\/fe1.contoso.com:443\\/ucwa\\/oauth\\/v1\\/applications\\/1\\/events?ack=1"}}'),
    (TARGET, '{"self":{"href":"/ucwa/oauth/v1/applications/1"}}', '{"self":{"href":"/ucwa/oauth/v1/applications/1"}}'),
    # XML, either quote; relative paths that are not from the root, and //host references, are left alone
    (POOL, '<resource rel="application" href="/ucwa/oauth/v1/applications/1" xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa">'
           "<link rel='user' href='https://fe1.contoso.com/Autodiscover/x'/><link rel=\"r\" href=\"events?ack=1\"/>"
           '<link rel="seed" href="//v1/applications/833"/></resource>',
     f'<resource rel="application" href="{FE1}/ucwa/oauth/v1/applications/1" xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa">'
     f"<link rel='user' href='{P}{FE1}/Autodiscover/x'/><link rel=\"r\" href=\"events?ack=1\"/>"
     '<link rel="seed" href="//v1/applications/833"/></resource>'),
    # another scheme or port of a session host is another origin
    (TARGET, '{"a":{"href":"http://lyncdiscover.contoso.com/x"},"b":{"href":"https://fe1.contoso.com:4443/y"}}',
     f'{{"a":{{"href":"{P}/_ucwa_vcr/http/lyncdiscover.contoso.com:80/x"}},'
     f'"b":{{"href":"{P}/_ucwa_vcr/https/fe1.contoso.com:4443/y"}}}}'),
    (TARGET, '{"a":{"href":"https://[2001:DB8::1]:8443/x"}}', f'{{"a":{{"href":"{P}/_ucwa_vcr/https/[2001:db8::1]:8443/x"}}}}'),
    (TARGET, '<a href=https://fe1.contoso.com/XFrame>', f"<a href={P}{FE1}/XFrame>"),
])
def test_links_to_the_session_lead_back_through_the_proxy(source, body, expected):
    assert rewriter(source).text(body) == expected


@pytest.mark.parametrize("body", [
    '{"_links":{"help":{"href":"https://www.microsoft.com/help"}}}',  # not a host of the session
    '{"joinUrl":"https://meet.contoso.com/alice/AB12CD34","onlineMeetingUri":"sip:alice@contoso.com;gruu"}',  # data
    '{"_links":{"authorize":{"href":"https://login.microsoftonline.com/common/oauth2/authorize"}}}',  # identity provider
    '{"a":{"href":"http://127.0.0.1:8080/ucwa/x"},"b":{"href":"http://localhost:8080/ucwa/y"}}',  # the proxy itself
    '{"ahref":"https://fe1.contoso.com/x","hrefs":["https://fe1.contoso.com/y"]}',  # not an href
    '{"href":"https://fe1.contoso.com@bad:port/x"}',  # not host[:port]
    '<reason xmlns="http://schemas.microsoft.com/rtc/2012/03/ucwa"><message>see https://fe1.contoso.com/x</message></reason>',
])
def test_what_is_not_a_link_to_the_session_is_left_alone(body):
    assert rewriter(TARGET).text(body) == body


@pytest.mark.parametrize("name, value, expected", [
    ("WWW-Authenticate", 'MsRtcOAuth href="https://fe1.contoso.com/WebTicket/oauthtoken",grant_type="urn:microsoft.rtc:windows,password"',
     f'MsRtcOAuth href="{P}{FE1}/WebTicket/oauthtoken",grant_type="urn:microsoft.rtc:windows,password"'),
    ("www-authenticate", "msrtcoauth href=https://fe1.contoso.com/WebTicket/oauthtoken,grant_type=password",
     f"msrtcoauth href={P}{FE1}/WebTicket/oauthtoken,grant_type=password"),
    # one comma-joined line: the Bearer challenge's authorization_uri and resource name the identity provider and
    # the token's audience, and stay as they are
    ("WWW-Authenticate", 'Bearer trusted_issuers="", client_id="00000004", authorization_uri="https://login.windows.net/common/oauth2/authorize", '
                         'resource="https://fe1.contoso.com", MsRtcOAuth href="https://fe1.contoso.com/WebTicket/oauthtoken"',
     'Bearer trusted_issuers="", client_id="00000004", authorization_uri="https://login.windows.net/common/oauth2/authorize", '
     f'resource="https://fe1.contoso.com", MsRtcOAuth href="{P}{FE1}/WebTicket/oauthtoken"'),
    ("Location", "https://fe1.contoso.com/ucwa/oauth/v1/applications/1/communication/conversations/2",
     f"{P}{FE1}/ucwa/oauth/v1/applications/1/communication/conversations/2"),
    ("Location", "/ucwa/oauth/v1/applications/1/messaging/messages/1", f"{FE1}/ucwa/oauth/v1/applications/1/messaging/messages/1"),
    ("location", "messages/1", "messages/1"),
    ("Location", "https://www.microsoft.com/x", "https://www.microsoft.com/x"),
    ("Content-Location", "https://lyncdiscover.contoso.com/Autodiscover/AutodiscoverService.svc/root",
     f"{P}/Autodiscover/AutodiscoverService.svc/root"),
    ("Link", '<https://fe1.contoso.com/x>; rel="next"', '<https://fe1.contoso.com/x>; rel="next"'),
])
def test_headers_that_send_the_client_somewhere(name, value, expected):
    assert rewriter(POOL).header(name, value) == expected


def test_a_relative_location_from_the_target_stays():
    assert rewriter(TARGET).header("Location", "/ucwa/x") == "/ucwa/x"


@pytest.mark.parametrize("proxy, expected", [
    (Origin("https", "ucwa-vcr.corp.example", 443), "https://ucwa-vcr.corp.example/_ucwa_vcr/https/fe1.contoso.com:443/x"),
    (Origin("http", "::1", 8080), "http://[::1]:8080/_ucwa_vcr/https/fe1.contoso.com:443/x"),
])
def test_links_name_the_proxy_as_the_client_addressed_it(proxy, expected):
    assert rewriter(TARGET, proxy).header("Location", "https://fe1.contoso.com/x") == expected


@pytest.mark.parametrize("path, expected", [
    ("/_ucwa_vcr/https/fe1.contoso.com:443/ucwa/oauth/v1/applications", (POOL, "/ucwa/oauth/v1/applications")),
    ("/_ucwa_vcr/https/fe1.contoso.com:443/ucwa/x/events?ack=2", (POOL, "/ucwa/x/events?ack=2")),
    ("/_ucwa_vcr/https/fe1.contoso.com:443", (POOL, "/")),
    ("/_ucwa_vcr/https/fe1.contoso.com:443?a=1", (POOL, "/?a=1")),
    ("//_ucwa_vcr/https/fe1.contoso.com:443/ucwa/x", (POOL, "//ucwa/x")),  # a root-joining client's //ucwa/... kept
    ("/_ucwa_vcr/http/FE1.contoso.com:8081/x", (Origin("http", "fe1.contoso.com", 8081), "/x")),
    ("/_ucwa_vcr/https/[2001:db8::1]:8443/x", (Origin("https", "2001:db8::1", 8443), "/x")),
    ("/_ucwa_vcr/https/%5B2001:db8::1%5D:8443/x", (Origin("https", "2001:db8::1", 8443), "/x")),
    ("/_ucwa_vcr/https/fe1.contoso.com/x", (POOL, "/x")),
    ("/ucwa/oauth/v1/applications", None),
    ("/x/_ucwa_vcr/https/fe1.contoso.com:443/x", None),
    ("/_ucwa_vcr/ftp/fe1.contoso.com:21/x", None),
    ("/_ucwa_vcr/https/fe1.contoso.com:99999/x", None),
    ("/_ucwa_vcr/https/fe1.contoso.com:x/x", None),
    ("/_ucwa_vcr/https/fe1 contoso.com:443/x", None),
    ("/_ucwa_vcr/https/[not-v6]:443/x", None),
])
def test_a_request_for_a_prefixed_path_is_routed_to_its_host(path, expected):
    assert route(path) == expected


@pytest.mark.parametrize("url", [
    "https://fe1.contoso.com/Autodiscover/AutodiscoverService.svc/root/oauth/user?originalDomain=contoso.com",
    "https://fe1.contoso.com:4443/ucwa/x?ack=1", "http://fe2.contoso.com/WebTicket/oauthtoken",
])
def test_a_rewritten_link_routes_back_to_the_url_it_was(url):
    rewritten = rewriter(TARGET).header("Location", url)
    assert rewritten.startswith(P)
    origin, path = route(rewritten.removeprefix(P))
    assert origin.url + path == url.replace("https://fe1.contoso.com:443", "https://fe1.contoso.com")


@pytest.mark.parametrize("sent, expected", [
    # a PUT sends the resource back with the links it was given
    ('{"_links":{"self":{"href":"/_ucwa_vcr/https/fe1.contoso.com:443/ucwa/oauth/v1/applications/1/m/2"}},"subject":"x"}',
     '{"_links":{"self":{"href":"/ucwa/oauth/v1/applications/1/m/2"}},"subject":"x"}'),
    ('{"a":{"href":"\\/_ucwa_vcr\\/https\\/fe1.contoso.com:443\\/ucwa\\/x"}}', '{"a":{"href":"\\/ucwa\\/x"}}'),
    (f'{{"a":{{"href":"{P}{FE1}/ucwa/x"}},"b":{{"href":"{P}/Autodiscover/x"}}}}',
     '{"a":{"href":"https://fe1.contoso.com/ucwa/x"},"b":{"href":"https://lyncdiscover.contoso.com/Autodiscover/x"}}'),
    ('{"a":{"href":"http:\\/\\/127.0.0.1:8080\\/_ucwa_vcr\\/http\\/fe2.contoso.com:8081\\/x"}}',
     '{"a":{"href":"http:\\/\\/fe2.contoso.com:8081\\/x"}}'),
    # a batch's request lines
    ("GET /_ucwa_vcr/https/fe1.contoso.com:443/ucwa/x HTTP/1.1\r\n", "GET /ucwa/x HTTP/1.1\r\n"),
    ("GET /_ucwa_vcr/https/fe1.contoso.com:443 HTTP/1.1\r\n", "GET / HTTP/1.1\r\n"),
    # what the proxy did not hand out
    ('{"a":"http://127.0.0.1:80801/x","b":"/ucwa/_ucwa_vcr/x","c":"https://fe1.contoso.com/_ucwa_vcr/https/x:1/"}',
     '{"a":"http://127.0.0.1:80801/x","b":"/ucwa/_ucwa_vcr/x","c":"https://fe1.contoso.com/_ucwa_vcr/https/x:1/"}'),
])
def test_what_the_client_sends_back_gets_the_servers_urls_again(sent, expected):
    assert rewriter(POOL).restore(sent) == expected


@pytest.mark.parametrize("source, body", [(TARGET, DISCOVERY), (TARGET, DISCOVERY_ESCAPED),
                                          (POOL, '{"self":{"href":"/ucwa/a"},"n":{"href":"\\/ucwa\\/b?ack=2"}}')])
def test_restoring_undoes_rewriting(source, body):
    assert rewriter(source).restore(rewriter(source).text(body)) == body


BATCH_ANSWER = ("--b1\r\nContent-Type: application/http; msgtype=response\r\n\r\n"
                'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 33\r\n\r\n{"self":{"href":"/ucwa/a/1/x/y"}}\r\n'
                "--b1\r\nContent-Type: application/http; msgtype=response\r\n\r\n"
                "HTTP/1.1 201 Created\r\nLocation: /ucwa/a/1/m/2\r\n\r\n\r\n"
                "--b1--\r\n")


def test_each_part_of_a_batch_answer_is_rewritten_with_its_length():
    rewritten = rewriter(POOL).batch(BATCH_ANSWER, "b1")
    body = f'{{"self":{{"href":"{FE1}/ucwa/a/1/x/y"}}}}'
    assert rewritten == BATCH_ANSWER.replace('{"self":{"href":"/ucwa/a/1/x/y"}}', body).replace(
        "Content-Length: 33", f"Content-Length: {len(body)}").replace("Location: /ucwa", f"Location: {FE1}/ucwa")
    assert rewriter(POOL).restore_batch(rewritten, "b1") == BATCH_ANSWER


def test_a_batch_request_gets_its_paths_back():
    sent = (f"--b2\r\nContent-Type: application/http; msgtype=request\r\n\r\nGET {FE1}/ucwa/a/1/m HTTP/1.1\r\n"
            "Accept: application/json\r\n\r\n\r\n--b2--\r\n")
    assert rewriter(POOL).restore_batch(sent, "b2") == sent.replace(FE1, "")


def test_each_part_leaves_what_is_not_an_http_message():
    text = "preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nno message here\r\n--b--\r\nepilogue"
    assert each_part(text, "b", lambda head, body: ("X", "Y")) == text


@pytest.mark.parametrize("ctype, expected", [
    ('multipart/batching; boundary="77f2569d"', "77f2569d"), ("multipart/batching;boundary=abc", "abc"),
    ("application/json", None), ("multipart/batching", None),
])
def test_boundary_of(ctype, expected):
    assert boundary_of(ctype) == expected


@pytest.mark.parametrize("scheme, authority, expected", [
    ("https", "fe1.contoso.com", POOL), ("HTTPS", "user:pw@FE1.contoso.com:443", POOL),
    ("http", "[::1]", Origin("http", "::1", 80)), ("http", "[::1]x", None), ("http", "", None),
    ("ftp", "fe1.contoso.com", None), ("http", "fe1.contoso.com:0", None),
])
def test_origin_parse(scheme, authority, expected):
    assert Origin.parse(scheme, authority) == expected


def test_origin_forms():
    assert (POOL.url, POOL.authority, POOL.prefix) == ("https://fe1.contoso.com", "fe1.contoso.com:443", FE1)
    assert Origin("http", "::1", 8080).url == "http://[::1]:8080"


def test_a_batch_with_bare_lf_line_ends_is_rewritten_too():
    # another client's habit: LF only, as batch.py reads it
    lf = BATCH_ANSWER.replace("\r\n", "\n")
    rewritten = rewriter(POOL).batch(lf, "b1")
    assert f"{FE1}/ucwa/a/1/x/y" in rewritten and f"Location: {FE1}/ucwa" in rewritten
    assert rewriter(POOL).restore_batch(rewritten, "b1") == lf


def test_a_batch_request_part_without_a_body_gets_its_path_back_when_its_blank_line_ends_the_part():
    # the CRLF before a delimiter belongs to the delimiter: a bodiless GET part's head then runs to the part's end
    sent = f"--b3\r\nContent-Type: application/http; msgtype=request\r\n\r\nGET {FE1}/ucwa/a/1/m HTTP/1.1\r\n\r\n--b3--\r\n"
    assert rewriter(POOL).restore_batch(sent, "b3") == sent.replace(FE1, "")
