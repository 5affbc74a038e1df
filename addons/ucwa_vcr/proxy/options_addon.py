"""The base of ucwa-vcr's addons: options declared from `ucwa_vcr.options`, checked, and bad values in one line."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mitmproxy import addonmanager, exceptions, optmanager

from ..errors import UcwaVcrError
from ..options import OPTIONS

logger = logging.getLogger(__name__)


class OptionsAddon:
    """An addon whose bad options give one clear line, at start as well as later.

    Subclasses name their options in `OPTIONS` (specs in ucwa_vcr.options) and take them up in `apply()`,
    which runs only when one of them changed, after their choices and minimums have been checked.
    mitmproxy logs an OptionsError raised while `-s` loads a script with a traceback; before the proxy
    runs, the error is logged as one line instead (mitmproxy then exits 1, as with any startup error).
    Once running, the OptionsError refuses the change as usual.
    """

    OPTIONS: Sequence[str] = ()
    _running = False
    _refused = False  # a change was just refused: mitmproxy's next configure only announces the old values again
    options: optmanager.OptManager

    def load(self, loader: addonmanager.Loader) -> None:
        # Options are read from this proxy's own master, never from the global ctx, so that several
        # masters in one process (a pytest session proxy and mitmproxy's test helpers) do not mix.
        self.options = loader.master.options
        for name in self.OPTIONS:
            spec = OPTIONS[name]
            loader.add_option(name, spec.type, spec.default, spec.help)

    def running(self) -> None:
        self._running = True

    def configure(self, updated: set[str]) -> None:
        ours = [name for name in self.OPTIONS if name in updated]  # in OPTIONS order: the report is repeatable
        if not ours:
            return
        if self._refused:
            # apply() changes nothing unless it succeeds, so the values being restored are still in force:
            # taking them up again would reload the cassette or rebuild the fault plan, losing state.
            self._refused = False
            return
        try:
            for name in ours:
                OPTIONS[name].check(getattr(self.options, name))
            self.apply(updated)
        except (UcwaVcrError, exceptions.OptionsError) as e:
            if self._running:
                self._refused = True
                raise exceptions.OptionsError(str(e)) from None
            logger.error("ucwa-vcr: %s", e)

    def apply(self, updated: set[str]) -> None:
        """Take up changed options (called when one of ours changed); raise UsageError naming the option and
        the value, having changed nothing."""
