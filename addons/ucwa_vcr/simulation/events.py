"""Event-channel entries for the model's own changes (EventChannelDetails.md): added, updated, deleted.

A meeting the model creates, changes or deletes is announced as a server would: an event on the meeting's link,
grouped under its sender. The sender (and whether events carry an `in` link to the collection) is taken from
the recording's own meeting events when it has some; otherwise it is the onlineMeetings resource.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from ..cassette.model import Interaction
from ..protocol import APPLICATION_ID, UCWA_NS, is_events, representation
from .wire import json_resource


@dataclass(frozen=True)
class EventStyle:
    """Who sends meeting events, relative to the application (`/onlineMeetings`), and how they link."""

    sender_rel: str = "onlineMeetings"
    sender_path: str = "/onlineMeetings"
    with_in: bool = False


@dataclass(frozen=True)
class MeetingEvent:
    """One change the model made, as an event-channel entry."""

    type: str  # added, updated or deleted
    rel: str  # myOnlineMeeting (or myAssignedOnlineMeeting)
    href: str  # the meeting
    sender_rel: str
    sender_href: str
    collection: str = ""  # the `in` link's href, when the recorded server sends one

    def to_json(self) -> dict[str, Any]:
        """The entry as it stands in a JSON sender's `events`."""
        entry: dict[str, Any] = {"link": {"rel": self.rel, "href": self.href}}
        if self.collection:
            entry["in"] = {"rel": "myOnlineMeetings", "href": self.collection}
        entry["type"] = self.type
        return entry


def learn_events(interactions: Sequence[Interaction]) -> EventStyle:
    """The sender and shape of the recording's meeting events (the default when it has none)."""
    for interaction in interactions:
        if not is_events(urlsplit(interaction.request.url).path) or interaction.response.raw:
            continue
        data = json_resource(interaction.response.body) or {}
        for sender in data.get("sender") or []:
            for event in (sender.get("events") or []) if isinstance(sender, dict) else []:
                link = event.get("link") if isinstance(event, dict) else None
                if isinstance(link, dict) and "/myOnlineMeetings/" in str(link.get("href", "")):
                    href = str(sender.get("href", ""))
                    app = APPLICATION_ID.search(href)
                    path = href[app.end():] if app else EventStyle.sender_path
                    return EventStyle(str(sender.get("rel", "onlineMeetings")), path, "in" in event)
    return EventStyle()


def events_body(events: Sequence[MeetingEvent], self_href: str, next_href: str, accept: str) -> tuple[bytes, str]:
    """A whole event-channel answer carrying `events` (JSON or XML as Accept asks) and its Content-Type."""
    senders: dict[tuple[str, str], list[MeetingEvent]] = {}
    for event in events:
        senders.setdefault((event.sender_rel, event.sender_href), []).append(event)
    if representation(accept) == "xml":
        parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<events href={quoteattr(self_href)} xmlns="{UCWA_NS}">',
                 f"<link rel=\"next\" href={quoteattr(next_href)} />"]
        for (rel, href), found in senders.items():
            parts.append(f"<sender rel={quoteattr(rel)} href={quoteattr(href)}>")
            parts += [f"<{e.type} rel={quoteattr(e.rel)} href={quoteattr(e.href)} />" for e in found]
            parts.append("</sender>")
        parts.append("</events>")
        return "\n".join(parts).encode("utf-8"), "application/xml; charset=utf-8"
    data: dict[str, Any] = {"_links": {"self": {"href": self_href}, "next": {"href": next_href}}}
    if senders:
        data["sender"] = [{"rel": rel, "href": href, "events": [e.to_json() for e in found]}
                          for (rel, href), found in senders.items()]
    return json.dumps(data).encode("utf-8"), "application/json; charset=utf-8"
