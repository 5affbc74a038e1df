"""The `ucwa-vcr` command: runs mitmproxy in-process with ucwa-vcr's addons.

Usage:
    ucwa-vcr record cassettes/today.yaml            # proxy on 127.0.0.1:8080, records the UCWA session
    ucwa-vcr replay [cassettes/today.yaml]          # offline; with no cassette, serves the shipped seed
    ucwa-vcr replay --reverse https://fe1.contoso.com --listen-port 8443
    ucwa-vcr replay today.yaml --faults faults.yaml --inject 'POST myOnlineMeetings$=TooManyOnlineMeetings'
    ucwa-vcr record today.yaml --pseudonymize       # people, addresses and meetings get consistent fakes
    ucwa-vcr replay today.yaml --simulate           # meetings the recording never saw, from a learned model
    mitmdump -s "$(ucwa-vcr addon)" --set ucwa_cassette=today.yaml    # the same addons under mitmdump
    ucwa-vcr show|diff|lint|redact|import|export ...  (see commands.py)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from .. import ADDON_SCRIPT, DEFAULT_CASSETTE, __version__, make_addons
from ..options import OPTIONS, Exhausted, RecordMode, RecordScope
from . import commands


def _common(parser: argparse.ArgumentParser) -> None:
    net = parser.add_argument_group("proxy")
    net.add_argument("--listen-host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1; anything else is reachable from the network)")
    net.add_argument("--listen-port", type=int, default=8080, help="port to listen on (default 8080)")
    how = net.add_mutually_exclusive_group()
    how.add_argument("--reverse", metavar="URL",
                     help="reverse proxy for this UCWA server (for clients without proxy settings)")
    how.add_argument("--upstream", metavar="URL", help="send traffic through this upstream (corporate) proxy")
    net.add_argument("--hosts", metavar="REGEX", help="hosts treated as UCWA (default: recognised by URL)")
    net.add_argument("--confdir", metavar="DIR", help="mitmproxy's folder for its CA (default ~/.mitmproxy)")
    net.add_argument("--set", dest="sets", action="append", default=[], metavar="OPTION=VALUE",
                     help="any mitmproxy or ucwa_ option, as with mitmdump --set (repeatable)")
    net.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")
    mutate = parser.add_argument_group("faults")
    mutate.add_argument("--faults", metavar="FILE", help="fault rules file (YAML): UCWA errors, delays, broken answers")
    mutate.add_argument("--inject", action="append", default=[], metavar="'METHOD PATH=ERROR'",
                        help="inject a documented UCWA error or a transport fault, e.g. "
                             "'POST myOnlineMeetings$=TooManyOnlineMeetings' (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `ucwa-vcr`."""
    parser = argparse.ArgumentParser(
        prog="ucwa-vcr", description="Record, redact and replay Skype for Business UCWA traffic (mitmproxy addons).")
    parser.add_argument("--version", action="version", version=f"ucwa-vcr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rec = sub.add_parser("record", help="proxy to a UCWA server and record the session, redacted",
                         description="Proxy to a UCWA server and write the session into CASSETTE, secrets redacted.")
    rec.add_argument("cassette", help="cassette file to write (YAML)")
    recording = [m.value for m in (RecordMode.ALL, RecordMode.NEW_EPISODES, RecordMode.ONCE)]  # replay is offline
    rec.add_argument("--record-mode", default=RecordMode.ALL.value, choices=recording,
                     help="all: record everything (default); new_episodes: replay what is recorded, record the "
                          "rest; once: record only if the cassette does not exist yet")
    rec.add_argument("--meetings-only", action="store_true",
                     help="record only the onlineMeetings resources, not the whole session")
    rec.add_argument("--redact-header", action="append", default=[], metavar="NAME", help="extra header to redact")
    rec.add_argument("--redact-field", action="append", default=[], metavar="NAME",
                     help="extra form/query/JSON/XML field to redact")
    commands.pseudonym_args(rec)
    _common(rec)

    rep = sub.add_parser("replay", help="answer from a cassette, offline",
                         description="Answer UCWA requests from CASSETTE without contacting any server.")
    rep.add_argument("cassette", nargs="?", default=str(DEFAULT_CASSETTE),
                     help="cassette to replay (default: the shipped myOnlineMeetings seed)")
    rep.add_argument("--latency", type=int, default=OPTIONS["ucwa_latency"].default, metavar="PERCENT",
                     help="replay recorded durations: 0 at once, 100 as recorded (default %(default)s)")
    rep.add_argument("--event-hold", type=int, default=OPTIONS["ucwa_event_hold"].default, metavar="SECONDS",
                     help="hold unrecorded event P-GETs this long, then answer like an idle channel "
                          "(default %(default)s)")
    rep.add_argument("--simulate", action="store_true",
                     help="answer myOnlineMeetings and its meetings from a model learned from the cassette: creates, "
                          "updates and deletes the recording never saw get consistent answers in its style")
    rep.add_argument("--exhausted", default=OPTIONS["ucwa_exhausted"].default, choices=[e.value for e in Exhausted],
                     help="when a request's recorded answers are used up: repeat the last, or miss "
                          "(default %(default)s)")
    commands.pseudonym_args(rep)
    _common(rep)
    sub.add_parser("addon", help="print the path of the addon file for mitmdump -s",
                   description='Print the path of the file that wires ucwa-vcr\'s addons into mitmproxy, inside the '
                               'installed package: mitmdump -s "$(ucwa-vcr addon)" --set ucwa_cassette=...')
    commands.add_parsers(sub)
    return parser


def options_for(args: argparse.Namespace) -> dict[str, Any]:
    """mitmproxy option values for parsed arguments."""
    opts: dict[str, Any] = {"listen_host": args.listen_host, "listen_port": args.listen_port,
                            "ucwa_cassette": args.cassette}
    if args.reverse:
        opts["mode"] = [f"reverse:{args.reverse}"]
    elif args.upstream:
        opts["mode"] = [f"upstream:{args.upstream}"]
    if args.hosts:
        opts["ucwa_hosts"] = args.hosts
    if args.confdir:
        opts["confdir"] = args.confdir
    if args.quiet:
        opts.update(flow_detail=0, termlog_verbosity="warn")
    if args.faults:
        opts["ucwa_faults"] = args.faults
    if args.inject:
        opts["ucwa_inject"] = args.inject
    if args.pseudonymize:  # replay: live requests get the pseudonyms the cassette holds before they are matched
        opts.update(ucwa_pseudonymize=True, ucwa_pseudonym_key=args.pseudonym_key or "",
                    ucwa_pseudonym_fields=args.pseudonym_field, ucwa_pseudonym_map=args.pseudonym_map or "")
    if args.command == "record":
        scope = RecordScope.MEETINGS if args.meetings_only else RecordScope.SESSION
        opts.update(ucwa_record_mode=args.record_mode, ucwa_record_scope=scope.value,
                    ucwa_redact_headers=args.redact_header, ucwa_redact_fields=args.redact_field)
    else:
        opts.update(ucwa_record_mode=RecordMode.NONE.value, ucwa_latency=args.latency, ucwa_event_hold=args.event_hold,
                    ucwa_exhausted=args.exhausted, ucwa_simulate=args.simulate)
    return opts


async def _serve(opts: dict[str, Any], sets: Sequence[str]) -> int:
    from mitmproxy import exceptions, options
    from mitmproxy.tools.dump import DumpMaster

    logging.getLogger().setLevel(logging.DEBUG)  # as mitmdump does: termlog_verbosity filters what is shown
    for stream in (sys.stdout, sys.stderr):  # each line as it happens, also into a file or `| tee`
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)
    for noisy in ("asyncio", "hpack", "quic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    master = DumpMaster(options.Options(), with_termlog=True, with_dumper=True)
    master.addons.add(*make_addons())
    try:
        master.options.update(**opts)
        if sets:
            master.options.set(*sets)
    except exceptions.OptionsError as e:
        print(f"ucwa-vcr: {e}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, master.shutdown)
    await master.run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ucwa-vcr` console script."""
    args = build_parser().parse_args(argv)
    if hasattr(args, "tool"):  # show, diff, lint, redact, import, export
        return commands.run(args)
    if args.command == "addon":
        print(ADDON_SCRIPT)
        return 0
    return asyncio.run(_serve(options_for(args), args.sets))


if __name__ == "__main__":
    sys.exit(main())
