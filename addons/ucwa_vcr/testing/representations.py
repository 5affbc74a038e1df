"""The fake origin's UCWA representations: its resources in JSON and XML, and the bodies clients send it."""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from ..protocol import UCWA_NS, parse_xml, representation
from .urls import (
    APPS,
    COMMUNICATION,
    CONVERSATIONS,
    MAKE_ME_AVAILABLE,
    ME,
    MESSAGING,
    MESSAGING_INVITATIONS,
    MY_ONLINE_MEETINGS,
    PRESENCE,
    REPORT_MY_ACTIVITY,
    ROOT,
    USER,
    XFRAME,
)

JSON = "application/json; charset=utf-8"
XML = "application/xml; charset=utf-8"
MEETING_FIELDS = ("accessLevel", "attendees", "automaticLeaderAssignment", "description", "entryExitAnnouncement",
                  "expirationTime", "leaders", "lobbyBypassForPhoneUsers", "phoneUserAdmission", "subject")
PUT_MARKER = "please pass this in a PUT request"
NOT_FOUND_PAGE = b"<html><body>Not Found</body></html>"  # IIS's 404, outside UCWA


def xml_resource(rel: str, href: str, props: dict[str, Any], links: dict[str, str] | None = None) -> str:
    """A UCWA XML resource element with links, properties and property lists."""
    parts = [f"<resource rel={quoteattr(rel)} href={quoteattr(href)} xmlns={quoteattr(UCWA_NS)}>"]
    parts += [f"<link rel={quoteattr(r)} href={quoteattr(h)} />" for r, h in (links or {}).items()]
    for name, value in props.items():
        if isinstance(value, list):
            items = "".join(f"<item>{escape(str(v))}</item>" for v in value)
            parts.append(f"<propertyList name={quoteattr(name)}>{items}</propertyList>")
        else:
            parts.append(f"<property name={quoteattr(name)}>{escape(str(value))}</property>")
    parts.append("</resource>")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + "\n".join(parts)


def parse_input(body: bytes, content_type: str) -> dict[str, Any]:
    """The properties of a UCWA request body, JSON or XML `<input>`."""
    if not body:
        return {}
    if "xml" in content_type:
        root = parse_xml(body)
        out: dict[str, Any] = {}
        for el in root:
            name = el.get("name")
            if el.tag == f"{{{UCWA_NS}}}propertyList":
                out[name] = [item.text or "" for item in el]
            elif name:
                out[name] = el.text or ""
        return out
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("body is not a JSON object")
    return data


def json_body(data: Any) -> bytes:
    """A JSON body as UCWA servers write it: indented, with every `/` escaped."""
    return json.dumps(data, indent=1).replace("/", "\\/").encode()


def resource(rel: str, href: str, props: dict[str, Any], links: dict[str, str], accept: str) -> tuple[bytes, str]:
    """A resource's body and Content-Type: XML if Accept asks for it, JSON otherwise."""
    if representation(accept) == "xml":
        return xml_resource(rel, href, props, links).encode(), XML
    hrefs = {"self": {"href": href}, **{r: {"href": h} for r, h in links.items()}}
    return json_body({"rel": rel, **props, "_links": hrefs}), JSON


def discovery(base: str, pool: str | None = None) -> dict[str, Any]:
    """The discovery (root) resource; `base` is the scheme and host the client used, `pool` (scheme and host) the
    front-end pool its user link sends the client to (`base` if None)."""
    return {"_links": {"self": {"href": base + ROOT},
                       "user": {"href": f"{pool or base}{USER}?originalDomain=contoso.com"},
                       "xframe": {"href": base + XFRAME}}}


def user(base: str) -> dict[str, Any]:
    """The signed-in user resource, linking to the applications resource."""
    return {"_links": {"self": {"href": base + USER},
                       "applications": {"href": base + APPS},
                       "xframe": {"href": base + XFRAME}}}


def token(access_token: str) -> bytes:
    """The password grant's answer (compact JSON, as the web ticket service writes it)."""
    return json.dumps({"access_token": access_token, "expires_in": 28364, "ms_rtc_identityscope": "local",
                       "token_type": "Bearer"}).encode()


def application(href: str, app_id: str, ack: int, available: bool = False) -> dict[str, Any]:
    """The application resource at `href`, with its event channel and the embedded me, onlineMeetings and
    communication (`available`: whether makeMeAvailable was done)."""
    return {"culture": "en-US", "userAgent": "fake-ucwa", "type": "Application", "id": app_id,
            "_links": {"self": {"href": href}, "events": {"href": f"{href}/events?ack={ack}"}},
            "_embedded": {"me": me(href, available),
                          "onlineMeetings": {"_links": {
                              "self": {"href": f"{href}/onlineMeetings"},
                              "myOnlineMeetings": {"href": href + MY_ONLINE_MEETINGS}},
                              "rel": "onlineMeetings"},
                          "communication": {"supportedModalities": ["Messaging"], "_links": {
                              "self": {"href": href + COMMUNICATION},
                              "startMessaging": {"href": href + MESSAGING_INVITATIONS},
                              "conversations": {"href": href + CONVERSATIONS}},
                              "rel": "communication"}},
            "rel": "application"}


def me(app: str, available: bool) -> dict[str, Any]:
    """The signed-in user under application `app`: makeMeAvailable until done, then presence and reportMyActivity."""
    links = {"self": {"href": app + ME}}
    if available:
        links |= {"presence": {"href": app + PRESENCE}, "reportMyActivity": {"href": app + REPORT_MY_ACTIVITY}}
    else:
        links["makeMeAvailable"] = {"href": app + MAKE_ME_AVAILABLE}
    return {"uri": "sip:fake@contoso.com", "name": "Fake User", "emailAddresses": ["fake@contoso.com"],
            "_links": links, "rel": "me"}


def presence(app: str, availability: str) -> dict[str, Any]:
    return {"availability": availability, "_links": {"self": {"href": app + PRESENCE}}, "rel": "presence"}


def messaging(conversation: str, state: str) -> dict[str, Any]:
    """A conversation's messaging modality: sendMessage and stopMessaging while it is Connected."""
    href = conversation + MESSAGING
    links = {"self": {"href": href}, "conversation": {"href": conversation}}
    if state == "Connected":
        links |= {"sendMessage": {"href": f"{href}/messages"}, "stopMessaging": {"href": f"{href}/terminate"}}
    return {"state": state, "_links": links, "rel": "messaging"}


def meeting(mid: str, props: dict[str, Any]) -> dict[str, Any]:
    """A myOnlineMeeting's properties: those the client set and those the server adds."""
    return {**props, "onlineMeetingId": mid, "joinUrl": f"https://meet.contoso.com/fake/{mid}",
            "organizerUri": "sip:fake@contoso.com", "3f1b0b62-7e5f-4c9b-9c9a-5a0f2d9a7d11": PUT_MARKER}


def meetings(href: str, props: dict[str, dict[str, Any]], accept: str) -> tuple[bytes, str]:
    """The myOnlineMeetings resource at `href` embedding each meeting (id -> its props), and its Content-Type."""
    mids = sorted(props)
    if representation(accept) == "xml":
        inner = "".join(xml_resource("myOnlineMeeting", f"{href}/{mid}", meeting(mid, props[mid])).split("\n", 1)[1]
                        for mid in mids)
        text = xml_resource("myOnlineMeetings", href, {}).replace("</resource>", inner + "</resource>")
        return text.encode(), XML
    return json_body({"rel": "myOnlineMeetings", "_links": {"self": {"href": href}}, "_embedded": {
        "myAssignedOnlineMeeting": [],
        "myOnlineMeeting": [{"rel": "myOnlineMeeting", **meeting(mid, props[mid]),
                             "_links": {"self": {"href": f"{href}/{mid}"}}} for mid in mids]}}), JSON


def events(app: str, ack: int, happened: list[dict[str, Any]]) -> dict[str, Any]:
    """An event channel answer for application `app`: the links on, and what happened, by sender.

    An event's "sender" key ((rel, href) of what sent it; onlineMeetings if absent) is not shown.
    """
    data: dict[str, Any] = {"_links": {"self": {"href": f"{app}/events?ack={ack}"},
                                       "next": {"href": f"{app}/events?ack={ack + 1}"}}}
    senders: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for event in happened:
        sender = event.get("sender") or ("onlineMeetings", f"{app}/onlineMeetings")
        senders.setdefault(sender, []).append({k: v for k, v in event.items() if k != "sender"})
    if senders:
        data["sender"] = [{"rel": rel, "href": href, "events": shown} for (rel, href), shown in senders.items()]
    return data
