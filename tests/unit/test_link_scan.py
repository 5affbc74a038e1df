"""The link patterns run only where their literal stands (ucwa_vcr.scan): protocol.linked_hosts and
links.Rewriter.text give exactly what the plain patterns give over the whole text (_LINK.finditer, _HREF.sub),
for generated texts, the repository's cassettes, and texts cut at the edges of their links.

Bounded and derandomized, so CI runs the same examples every time.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ucwa_vcr.cassette.codec import load_cassette
from ucwa_vcr.links import _HREF, Origin, Rewriter
from ucwa_vcr.protocol import _LINK, _hostname, linked_hosts
from ucwa_vcr.scan import caseless

BOUNDED = settings(max_examples=1500, derandomize=True, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ROOT = Path(__file__).resolve().parents[2]
PROXY = Origin("http", "127.0.0.1", 8080)
TARGET = Origin("https", "lyncdiscover.contoso.com", 443)
# every link leads back, and root-relative hrefs are rewritten too (the answering server is not the target)
REWRITER = Rewriter(PROXY, TARGET, Origin("https", "fe1.contoso.com", 443), lambda host: True)

FRAGMENTS = [
    "href", "HREF", "Href", "hReF", '"href":"', '"href": "', "href=", "href = '", 'href="', '\\"href\\":\\"', "xhref=",
    "-href=", "_href:", "authorization_uri", "AUTHORIZATION_URI", 'authorization_uri="', "authorization_uri=",
    "authorızation_urı", "authorİzation_uri", "https://", "http://", "https:\\/\\/", "https:", "\\/", "/", "//", "\\",
    "fe1.contoso.com", "lyncdiscover.contoso.com", "login.microsoftonline.com", "[2001:db8::1]", "user@", ":443",
    "/ucwa/oauth", '"', "'", " ", "\t", ":", "=", ",", "<a ", ">", "?", "#", "ſ", "K", "İ", "ı", "é", "ß", "-", "x",
]
# a link position of either pattern, whole or nearly: name, separator, URL start, authority, what follows
links = st.tuples(
    st.sampled_from(["href", "HREF", "Href", "xhref", "-href", "authorization_uri", "AUTHORIZATION_URI",
                     "authorızation_urı", "authorİzation_uri"]),
    st.sampled_from(['"', '\\"', "", " "]), st.sampled_from([":", "=", " : ", " =", ""]),
    st.sampled_from(['"', "'", '\\"', "", " "]),
    st.sampled_from(["https://", "http://", "HTTPS://", "https:\\/\\/", "http:/\\/", "/", "\\/", "//", "\\/\\/",
                     "ftp://", "https:/"]),
    st.sampled_from(["fe1.contoso.com", "lyncdiscover.contoso.com:4443", "user@fe1.contoso.com", "[2001:db8::1]:443",
                     "login.microsoftonline.com", "127.0.0.1:8080", "\u212a.contoso.com", "", "x"]),
    st.sampled_from(["/ucwa", '"', "'", ",", "?x", "", " "]),
).map("".join)
texts = st.lists(links | st.sampled_from(FRAGMENTS) | st.text(max_size=2), max_size=16).map("".join)


def plain_hosts(text: str) -> set[str]:
    """linked_hosts of a body as the plain pattern finds them, trying every position."""
    return {_hostname(m.group(1)) for m in _LINK.finditer(text)} - {""}


def plain_rewrite(text: str) -> str:
    """Rewriter.text as the plain pattern does it, trying every position."""
    return _HREF.sub(REWRITER._link, text)


def assert_same(text: str) -> None:
    assert linked_hosts([], text) == plain_hosts(text)
    assert linked_hosts([("WWW-Authenticate", text)], "") == plain_hosts(text)
    assert REWRITER.text(text) == plain_rewrite(text)
    assert REWRITER.header("WWW-Authenticate", text) == plain_rewrite(text)


@BOUNDED
@given(texts)
def test_texts_built_from_link_fragments_give_the_plain_patterns_results(text):
    assert_same(text)


def _bodies() -> list[str]:
    """Every body and header value of the repository's cassettes, as links.py (ISO-8859-1) and as UTF-8 read them,
    and the same with links."""
    paths = subprocess.run(["git", "ls-files", "*.yaml"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    found = []
    for path in paths:
        try:
            cassette = load_cassette(ROOT / path)
        except Exception:  # not a cassette (a workflow, a fault rules file)
            continue
        for interaction in cassette.interactions:
            for message in (interaction.request, interaction.response):
                found += [message.body.decode("latin-1"), message.body.decode("utf-8", "replace")]
                found += [value for _, value in message.headers]
    found = [text for text in found if text]
    # the cassettes' hrefs are the docs' `//v1/...`: the same bodies with root and absolute links, JSON-escaped too
    linked = [text.replace('"//', '"/') for text in found] + [text.replace('"//', '"https://fe1.contoso.com/')
                                                              for text in found]
    return found + linked + [text.replace("/", "\\/") for text in linked]


BODIES = _bodies()


def test_the_repositorys_cassettes_have_links_to_compare():
    assert sum(plain_rewrite(body) != body for body in BODIES) >= 10


@pytest.mark.parametrize("body", BODIES)
def test_real_bodies_give_the_plain_patterns_results(body):
    assert_same(body)


@pytest.mark.parametrize("body", [body for body in BODIES if "href" in body.lower()][:20])
def test_real_bodies_cut_at_their_links_give_the_plain_patterns_results(body):
    for m in re.finditer("href|authorization_uri", body, re.IGNORECASE):
        for cut in (m.start() - 1, m.start(), m.start() + 1, m.end(), m.end() + 12):
            assert_same(body[max(cut, 0):])
            assert_same(body[:max(cut, 0)])


@pytest.mark.parametrize("text", [
    "", "href", "HREF=", "href=https://a", "xhref=https://a", "-href=https://a", "\u00e9href=https://a",
    'href="https://a"', 'Href : "https://a', "href=/x", "href=//x", "href=\\/x", "authorization_uri=https://a",
    "AUTHORIZATION_URI=https://b", "authorızation_urı=https://c", "authorİzation_uri=https://d",
    "href=https://ahref=https://b", "href=/href=/x", "hrefhref=https://a", "hre", "https://a", 'x"href":"https:\\/\\/a\\/b"',
])
def test_edge_cases_give_the_plain_patterns_results(text):
    assert_same(text)
    assert_same(text + " ")
    assert_same("ſK" + text)


def test_caseless_puts_an_ascii_letter_wherever_ignorecase_matches_one():
    letter = re.compile("[a-z]", re.IGNORECASE)
    for char in map(chr, range(0x80, 0x110000)):
        if letter.fullmatch(char) and len(char.lower()) == 1:  # other lengths: the plain pattern runs instead
            low = caseless(char)
            assert low.isascii() and re.fullmatch(low, char, re.IGNORECASE), char
