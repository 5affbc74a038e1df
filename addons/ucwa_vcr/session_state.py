"""The state a client's UCWA session is in, as fault rules and the token lifetime leave it: an expired token, an
expired application; and the 401 challenge an expired token is answered with.

Pure: no mitmproxy here. `SessionState` is told of every request (`seen`), asked what an expired session answers
one (`answer`), and told of every completed exchange (`answered`): a token fetched again (a 2xx answer to a POST
to the web ticket service or Azure AD's token endpoint) ends an expired token, and an application created again
(a 2xx answer to a POST to the applications resource) ends the expired applications. Times are seconds on any
clock that only goes forward (the caller's); nothing here reads a clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .cassette.model import Interaction, Response
from .match import url_parts
from .protocol import AAD_TOKEN_PATH, APPLICATION_ID

EXPIRES = ("token", "application")  # what an `expire:` rule can expire
DEFAULT_APPLICATION_ERROR = "ApplicationNotFound"
ANY_APPLICATION = "*"  # expired before any application was seen: every application is
LIFETIME = "ucwa_token_lifetime"  # what expired a token that outlived the option's seconds

WEB_TICKET_PATH = re.compile(r"/webticket/oauthtoken/?$", re.IGNORECASE)  # path case varies between servers
APPLICATIONS_PATH = re.compile(r"/v1/applications/?$")  # the resource a POST creates an application at
USER_PATH = re.compile(r"/autodiscover/autodiscoverservice\.svc/root/oauth/user$", re.IGNORECASE)

# ucwa-protocol.md's 401, for a cassette that holds none: IIS's page, both challenges.
_GRANTS = "urn:microsoft.rtc:windows,urn:microsoft.rtc:anonmeeting,password"
_BEARER = 'Bearer trusted_issuers="", client_id="00000004-0000-0ff1-ce00-000000000000"'
_PAGE = (b"<html><head><title>401 - Unauthorized: Access is denied due to invalid credentials.</title></head>"
         b"<body><h1>Server Error</h1><h2>401 - Unauthorized: Access is denied due to invalid credentials.</h2>"
         b"<h3>You do not have permission to view this directory or page using the credentials that you supplied."
         b"</h3></body></html>")


def is_token_request(method: str, path: str) -> bool:
    """Whether a request fetches a token: a POST to the web ticket service or to Azure AD's token endpoint."""
    return method.upper() == "POST" and bool(WEB_TICKET_PATH.search(path) or AAD_TOKEN_PATH.match(path))


def is_application_creation(method: str, path: str) -> bool:
    """Whether a request creates an application: a POST to …/v1/applications."""
    return method.upper() == "POST" and bool(APPLICATIONS_PATH.search(path))


def application_of(path: str) -> str | None:
    """The id of the application a path is under (its own resource, events, meetings…), or None."""
    found = APPLICATION_ID.search(path)
    return found.group(2) if found else None


def signed_in(authorization: str) -> bool:
    """Whether an Authorization header value carries a bearer token."""
    return authorization.strip().lower().startswith("bearer ")


@dataclass(frozen=True)
class Expired:
    """What an expired session answers a request: the 401 challenge (`error` None) or a documented error."""

    what: str  # "token" or "application"
    by: str  # the label of the rule that expired it, or LIFETIME
    error: str | None = None


@dataclass
class SessionState:
    """An expired token and expired applications, until the client fetches a token or creates an application."""

    token_lifetime: float = 0  # seconds a fetched token lives (0: for ever)
    token_fetched: float | None = None  # when the last token was fetched
    token_expired_by: str | None = None  # the rule that expired the token
    applications: dict[str, Expired] = field(default_factory=dict)  # expired application ids (or ANY_APPLICATION)
    last_application: str | None = None  # the id of the application the latest request was under

    def seen(self, path: str) -> None:
        """Note the application a request is under: the one a later `expire: application` means."""
        app = application_of(path)
        if app is not None:
            self.last_application = app

    def expire_token(self, by: str) -> None:
        """Signed-in requests get the 401 challenge until a token is fetched."""
        self.token_expired_by = by

    def expire_application(self, path: str, by: str, error: str | None = None) -> str:
        """Expire the application `path` is under (else the latest one seen, else every one); its id."""
        app = application_of(path) or self.last_application or ANY_APPLICATION
        self.applications[app] = Expired("application", by, error or DEFAULT_APPLICATION_ERROR)
        return app

    def token_expiry(self, now: float) -> str | None:
        """What expired the token (a rule's label, or LIFETIME), or None while it is valid."""
        if self.token_expired_by is not None:
            return self.token_expired_by
        if self.token_lifetime and self.token_fetched is not None and now - self.token_fetched >= self.token_lifetime:
            return LIFETIME
        return None

    def application_expiry(self, path: str) -> Expired | None:
        """How the application `path` is under expired, or None (not under one, or not expired)."""
        app = application_of(path)
        if app is None:
            return None
        return self.applications.get(app) or self.applications.get(ANY_APPLICATION)

    def answer(self, method: str, path: str, authorization: str, now: float) -> Expired | None:
        """What the session's state answers a request instead of the server (an expired token first, as a server
        checks the token before the resource), or None: the request goes on."""
        if signed_in(authorization) and not is_token_request(method, path):
            by = self.token_expiry(now)
            if by is not None:
                return Expired("token", by)
        return self.application_expiry(path)

    def answered(self, method: str, path: str, status: int, now: float) -> str | None:
        """Take in a completed exchange (a server's or the cassette's answer): "token" when it fetched a token,
        "application" when it created an application, else None."""
        if not 200 <= status < 300:
            return None
        if is_token_request(method, path):
            self.token_fetched, self.token_expired_by = now, None
            return "token"
        if is_application_creation(method, path):
            self.applications.clear()
            return "application"
        return None

    def clear(self) -> None:
        """Nothing expired any more (the token's lifetime still counts from its fetch)."""
        self.token_expired_by = None
        self.applications.clear()

    def describe(self, now: float) -> list[str]:
        """One line per expired thing, as `ucwa.faults.list` ends with them."""
        lines = []
        by = self.token_expiry(now)
        if by is not None:
            lines.append(f"session: token expired ({by}): signed-in requests get the 401 challenge until a token "
                         "is fetched")
        for app, expired in self.applications.items():
            which = "every application" if app == ANY_APPLICATION else f"application {app}"
            lines.append(f"session: {which} expired ({expired.by}): its requests get {expired.error} until an "
                         "application is created")
        return lines


def recorded_challenge(interactions: list[Interaction], host: str = "") -> Response | None:
    """The latest recorded 401 of the user resource, one on `host` first; else the latest recorded 401 that
    carries a challenge; else None."""
    user: Response | None = None  # the user resource's, on another host
    other: Response | None = None  # another resource's, with a challenge
    for interaction in reversed(interactions):
        response = interaction.response
        if response.status != 401:
            continue
        _scheme, where, _port, path, _query = url_parts(interaction.request.url)
        if USER_PATH.search(path):
            if where == host.lower():
                return response
            user = user or response
        elif other is None and any(k.lower() == "www-authenticate" for k, _ in response.headers):
            other = response
    return user or other


def built_challenge(origin: str) -> Response:
    """A 401 shaped like a real front end's, naming the web ticket service at `origin` (scheme://host[:port])."""
    return Response(status=401, reason="Unauthorized", body=_PAGE, headers=[
        ("Content-Type", "text/html"), ("Server", "Microsoft-IIS/8.5"),
        ("WWW-Authenticate", _BEARER),
        ("WWW-Authenticate", f'MsRtcOAuth href="{origin}/WebTicket/oauthtoken",grant_type="{_GRANTS}"'),
        ("X-Powered-By", "ASP.NET"), ("X-Content-Type-Options", "nosniff")])
