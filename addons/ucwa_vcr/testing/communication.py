"""What the fake answers about the signed-in user and instant messaging: me, makeMeAvailable, presence,
reportMyActivity, startMessaging, a conversation's messaging, sendMessage and stopMessaging.

The other party accepts every invitation at once: startMessaging queues the whole exchange of events (conversation
added, invitation started and completed, messaging connected) before it answers.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from . import representations
from .endpoints import Refused, Request, read_input
from .urls import COMMUNICATION, CONVERSATIONS, ME, MESSAGING, MESSAGING_INVITATIONS, PRESENCE

if TYPE_CHECKING:
    from .fake_origin import FakeUcwa
    from .handler import Handler


def me(h: Handler, req: Request) -> None:
    h.respond_json(200, representations.me(req.app, h.fake.available))


def make_me_available(h: Handler, req: Request) -> None:
    """POST makeMeAvailable: the user can now be reached; presence and reportMyActivity appear on me."""
    read_input(req)
    fake, sender = h.fake, ("me", req.app + ME)
    with fake.lock:
        fake.available = True
        fake.push_event("presence", req.app + PRESENCE, "added", sender)
        fake.push_event("me", req.app + ME, "updated", sender)
    h.respond(204)


def presence(h: Handler, req: Request) -> None:
    h.respond_json(200, representations.presence(req.app, h.fake.availability))


def set_presence(h: Handler, req: Request) -> None:
    availability = read_input(req).get("availability")
    if not isinstance(availability, str):
        raise Refused("ParameterValidationFailure")
    fake = h.fake
    with fake.lock:
        fake.availability = availability
        fake.push_event("presence", req.app + PRESENCE, "updated", ("me", req.app + ME))
    h.respond(204)


def report_my_activity(h: Handler, req: Request) -> None:
    """POST reportMyActivity: keeps the user from turning Away; nothing to answer."""
    h.respond(204)


def start_messaging(h: Handler, req: Request) -> None:
    """POST messagingInvitations: 201 with the invitation's Location; the conversation follows as events."""
    if not isinstance(read_input(req).get("to"), str):
        raise Refused("ParameterValidationFailure")
    fake, cid, invitation = h.fake, uuid.uuid4().hex, f"{req.app}{MESSAGING_INVITATIONS}/{uuid.uuid4().hex}"
    conversation = f"{req.app}{CONVERSATIONS}/{cid}"
    communication = ("communication", req.app + COMMUNICATION)
    with fake.lock:
        fake.conversations[cid] = {"state": "Connected", "messages": 0}
        fake.push_event("conversation", conversation, "added", communication)
        fake.push_event("messagingInvitation", invitation, "started", communication)
        fake.push_event("messaging", conversation + MESSAGING, "updated", ("conversation", conversation))
        fake.push_event("messagingInvitation", invitation, "completed", communication)
    h.respond(201, headers={"Location": invitation})


def messaging(h: Handler, req: Request) -> None:
    with h.fake.lock:
        state = _conversation(h.fake, req.params["cid"])["state"]
    h.respond_json(200, representations.messaging(_conversation_href(req), state))


def send_message(h: Handler, req: Request) -> None:
    """POST a conversation's messaging/messages with a text/plain or text/html body: 201 with its Location."""
    if not req.headers.get("Content-Type", "").startswith(("text/plain", "text/html")):
        raise Refused("UnsupportedMediaType")
    fake, conversation = h.fake, _conversation_href(req)
    with fake.lock:
        state = _conversation(fake, req.params["cid"])
        if state["state"] != "Connected":
            raise Refused("Conflict")
        state["messages"] += 1
        message = f"{conversation}{MESSAGING}/messages/{state['messages']}"
        fake.push_event("message", message, "completed", ("conversation", conversation))
    h.respond(201, headers={"Location": message})


def stop_messaging(h: Handler, req: Request) -> None:
    fake, conversation = h.fake, _conversation_href(req)
    with fake.lock:
        _conversation(fake, req.params["cid"])["state"] = "Disconnected"
        fake.push_event("messaging", conversation + MESSAGING, "updated", ("conversation", conversation))
        fake.push_event("conversation", conversation, "deleted", ("communication", req.app + COMMUNICATION))
    h.respond(204)


def _conversation(fake: FakeUcwa, cid: str) -> dict[str, Any]:
    """The conversation `cid` (call with fake.lock held); ResourceNotFound if there is none."""
    if cid not in fake.conversations:
        raise Refused("ResourceNotFound")
    return fake.conversations[cid]


def _conversation_href(req: Request) -> str:
    return f"{req.app}{CONVERSATIONS}/{req.params['cid']}"
