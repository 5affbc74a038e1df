"""Azure AD's OAuth 2.0 token endpoint, as Skype for Business Online clients used it (the fake's online flavour).

`POST /<tenant>/oauth2/token` (v1; `/oauth2/v2.0/token` too) takes a form with grant_type=password (client_id,
resource, username, password) or grant_type=refresh_token, and answers the way login.microsoftonline.com did:
a JWT access token (its audience the resource asked for), a refresh token and an unsigned JWT id token.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from .representations import NOT_FOUND_PAGE

if TYPE_CHECKING:
    from .endpoints import Request
    from .fake_origin import FakeUcwa
    from .handler import Handler

# The Skype for Business Online service principal, and the scopes its tokens carried.
SKYPE_ONLINE = "00000004-0000-0ff1-ce00-000000000000"
SCOPES = "Contacts.ReadWrite Conversations.Initiate Conversations.Receive Meetings.ReadWrite User.ReadWrite"
_HEADERS = {"Cache-Control": "no-cache, no-store", "Pragma": "no-cache", "Expires": "-1",
            "X-Content-Type-Options": "nosniff"}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(header: dict[str, Any], claims: dict[str, Any], signature: str) -> str:
    """A compact JWT: base64url JSON header and claims, and `signature` as given (a fake one)."""
    def part(data: dict[str, Any]) -> str:
        return b64url(json.dumps(data, separators=(",", ":")).encode())

    return f"{part(header)}.{part(claims)}.{signature}"


def signature_of(secret: str) -> str:
    """`secret` as a JWT signature segment: itself if it is base64url already, else base64url-encoded."""
    return secret if _BASE64URL.fullmatch(secret) else b64url(secret.encode())


def tenant_id(tenant: str) -> str:
    """A stable directory id for a tenant name (or the id itself)."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, tenant.lower()))


def tokens(fake: FakeUcwa, form: dict[str, str], tenant: str, v2: bool) -> dict[str, Any]:
    """The token answer for a granted request: a new access token (remembered as issued), the fake's refresh
    token and an id token for the user."""
    now, tid = int(time.time()), tenant_id(tenant)
    user = form.get("username", "fake@contoso.com")
    resource = form.get("resource", "")
    iss = f"https://sts.windows.net/{tid}/"
    common = {"iss": iss, "iat": now, "nbf": now, "exp": now + 3599, "amr": ["pwd"], "tid": tid,
              "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, user.lower())), "unique_name": user, "upn": user}
    access = jwt({"typ": "JWT", "alg": "RS256", "x5t": "fakeX5tThumbprint", "kid": "fakeX5tThumbprint"},
                 {"aud": resource or SKYPE_ONLINE, **common, "appid": form.get("client_id", ""), "scp": SCOPES,
                  "uti": secrets.token_urlsafe(16), "ver": "1.0"}, signature_of(fake.token))
    id_token = jwt({"typ": "JWT", "alg": "none"},
                   {"aud": form.get("client_id", ""), **common, "family_name": "User", "given_name": "Fake",
                    "name": "Fake User", "ver": "1.0"}, "")
    with fake.lock:
        fake.issued.add(access)
    if v2:
        return {"token_type": "Bearer", "scope": form.get("scope", SCOPES), "expires_in": 3599,
                "ext_expires_in": 3599, "access_token": access, "refresh_token": fake.refresh_token,
                "id_token": id_token}
    return {"token_type": "Bearer", "scope": SCOPES, "expires_in": "3599", "ext_expires_in": "3599",
            "expires_on": str(now + 3599), "not_before": str(now), "resource": resource, "access_token": access,
            "refresh_token": fake.refresh_token, "id_token": id_token}


def token(h: Handler, req: Request) -> None:
    """POST /<tenant>/oauth2/token: the password grant with the fake's password, or its refresh token."""
    fake = h.fake
    if not fake.online:  # an on-premises front end has no such page
        return h.respond(404, NOT_FOUND_PAGE, "text/html")
    form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
    grant = form.get("grant_type", "")
    if grant == "password":
        refused = None if form.get("password") == fake.password else (
            50126, "Error validating credentials due to invalid username or password.")
    elif grant == "refresh_token":
        refused = None if form.get("refresh_token") == fake.refresh_token else (
            70008, "The provided authorization code or refresh token has expired due to inactivity.")
    else:
        return _error(h, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'.")
    if refused:
        return _error(h, "invalid_grant", *refused)
    answer = tokens(fake, form, req.params["tenant"], req.path.endswith("/v2.0/token"))
    h.respond(200, json.dumps(answer, separators=(",", ":")).encode(), "application/json; charset=utf-8", _HEADERS)


def _error(h: Handler, error: str, code: int, description: str) -> None:
    body = {"error": error, "error_description": f"AADSTS{code}: {description}", "error_codes": [code]}
    h.respond(400, json.dumps(body, separators=(",", ":")).encode(), "application/json; charset=utf-8", _HEADERS)
