"""Simulate: answer onlineMeetings requests the recording never saw, from a UCWA model learned from the cassette.

Usage (pure: no mitmproxy; the replay addon hands requests in and gets cassette Responses back):

    sim = Simulation.from_interactions(cassette.interactions)
    response = sim.answer(request)   # None: not a meeting request, replay from the tape as usual
    events = sim.pending_events()    # the model's own changes, as event-channel entries

Modules: `tape` reads the recording and its timeline, `style` learns how the server writes and answers,
`meetings` holds the state, `render` writes answers, `wire` converts JSON and XML, `shapes` draws new ids,
`events` writes event-channel entries, `reference` is the fallback of the reference pages.
"""

from __future__ import annotations

from .events import EventStyle, MeetingEvent, events_body
from .simulator import Simulation
from .style import Style, describe

__all__ = ["EventStyle", "MeetingEvent", "Simulation", "Style", "describe", "events_body"]
