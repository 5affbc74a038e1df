"""A mitmdump script for tests: the work inside each of ucwa-vcr's flow hooks raises.

Usage (after addons/ucwa.py, with at least one fault rule so that the faults hook looks one up):
    mitmdump -s addons/ucwa.py -s tests/e2e/failing_inside_hooks.py --set ucwa_record_mode=none \\
        --set 'ucwa_inject=DELETE nothing$=ServiceFailure' ...

Stands for a bug in ucwa-vcr's own code: the faults hook's rule look-up, the replay hook's matching and the
recorder's learning all raise. Each raise says `failing_inside_hooks: what`.
"""

from __future__ import annotations

import logging
from typing import Any

from ucwa_vcr.fault_rules import FaultPlan
from ucwa_vcr.match import Matcher
from ucwa_vcr.proxy.session import CassetteSession

logger = logging.getLogger(__name__)


def raiser(what: str) -> Any:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"failing_inside_hooks: {what}")

    return fail


FaultPlan.pick = raiser("FaultPlan.pick")  # type: ignore[method-assign]
Matcher.match = raiser("Matcher.match")  # type: ignore[method-assign]
CassetteSession.learn = raiser("CassetteSession.learn")  # type: ignore[method-assign]
logger.warning("failing_inside_hooks: patched FaultPlan.pick, Matcher.match, CassetteSession.learn")
