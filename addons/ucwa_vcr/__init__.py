"""ucwa-vcr: record, redact, replay and mutate Skype for Business UCWA traffic with mitmproxy."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

# The cassette `ucwa-vcr replay` serves when given none: the samples of Microsoft's myOnlineMeetings page.
DEFAULT_CASSETTE = Path(__file__).with_name("seed.yaml")
# The file to pass to `mitmdump -s` (`ucwa-vcr addon` prints it; addons/ucwa.py in a checkout links to it).
ADDON_SCRIPT = Path(__file__).parent / "addon" / "ucwa.py"


def make_parts() -> list[object]:
    """ucwa-vcr's parts in hook order (the loopback guard first: it sets where the proxy listens).

    Requests: faults first (an injected answer wins), then replay. Responses: the recorder keeps the real
    answer before faults may patch or break it. In reverse mode, UcwaLinks (after the recorder, before faults and
    replay) routes `/_ucwa_vcr/...` requests to their host and makes answers' links lead back through the proxy.
    Last, the offline guard: offline, what nobody answered gets the proxy's own 500, and no server connection is
    opened.
    """
    from .proxy.faults import UcwaFaults
    from .proxy.guard import UcwaOfflineGuard
    from .proxy.links import UcwaLinks
    from .proxy.loopback import UcwaLoopback
    from .proxy.record import UcwaRecorder
    from .proxy.replay import UcwaReplayer
    from .proxy.session import CassetteSession

    session = CassetteSession()
    replayer = UcwaReplayer(session)
    return [UcwaLoopback(), session, UcwaRecorder(session), UcwaLinks(session), UcwaFaults(session, replayer),
            replayer, UcwaOfflineGuard(session)]


def make_addons() -> list[object]:
    """What mitmproxy loads: the parts (make_parts) as one addon (proxy.composite.UcwaVcr)."""
    from .proxy.composite import UcwaVcr

    return [UcwaVcr(make_parts())]
