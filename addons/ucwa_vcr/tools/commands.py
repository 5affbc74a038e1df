"""The cassette tools of `ucwa-vcr`: show, diff, lint, redact, import, export.

Usage:
    ucwa-vcr show today.yaml [--filter '~m POST & ~u myOnlineMeetings'] [--json]
    ucwa-vcr show today.yaml 7                      # exchange 7 whole, bodies pretty-printed
    ucwa-vcr diff before.yaml after.yaml [--strict] [--json]   # exit 1 when they differ, like diff(1)
    ucwa-vcr lint cassettes/*.yaml                  # non-zero when a live secret or a broken file is found
    ucwa-vcr redact old.yaml [-o clean.yaml]        # in place keeps old.yaml.orig (refused if it exists)
    ucwa-vcr redact --pseudonymize old.yaml         # also consistent fakes for people, addresses and meetings
    ucwa-vcr lint --pii cassettes/*.yaml            # also personal data left (never printing it)
    ucwa-vcr import capture.saz|session.har|flows.mitm -o today.yaml [--append | --force]
    ucwa-vcr export today.yaml -o today.har|vcr.yaml

Output is rich (tables, highlighted bodies, coloured diffs, progress) on a terminal, plain otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

from ..cassette.codec import load_cassette
from ..cassette.model import Cassette, Message
from ..cassette.writer import check_writable, save_cassette
from ..errors import FileError, UcwaVcrError, UsageError
from ..pseudonyms import Pseudonymizer, PseudonymizingRedactor, load_key, write_mapping
from ..redact import RedactionRules, Redactor
from ..text import counted
from . import exporter, importer
from .diff import IGNORED_HEADERS, MISSING, diff
from .lint import lint
from .show import describe_parts, pretty_body, rows, select, shown


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout, but lines never break inside a header name such as Last-Modified."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return textwrap.fill(" ".join(text.split()), width, initial_indent=indent, subsequent_indent=indent,
                             break_on_hyphens=False)


def add_parsers(sub: Any) -> None:
    """Add the cassette tool subcommands to the `ucwa-vcr` parser."""
    show = sub.add_parser("show", help="list the exchanges of a cassette, or print one whole",
                          description="One row per exchange, or exchange N whole with bodies pretty-printed.")
    show.add_argument("cassette")
    show.add_argument("index", nargs="?", type=int, help="print this exchange whole")
    show.add_argument("--filter", metavar="EXPR", help="mitmproxy flow filter, e.g. '~m POST & ~u myOnlineMeetings'")
    show.add_argument("--json", action="store_true", help="machine-readable output")

    dif = _diff_parser(sub)
    lin = sub.add_parser("lint", help="find live secrets and broken cassettes (for pre-commit and CI)",
                         description="Exit 1 when a cassette holds anything today's redaction would change (a live "
                                     "secret) or does not parse; one line per finding.")
    lin.add_argument("cassettes", nargs="+")
    lin.add_argument("--pii", action="store_true",
                     help="also report personal data left (SIP URIs, e-mail addresses, phone numbers, names in name "
                          "fields) that are no pseudonyms; the values are never printed")
    _redaction_args(lin)

    red = sub.add_parser("redact", help="apply today's redaction rules to an existing cassette",
                         description="Redact CASSETTE in place, first copying it to CASSETTE.orig (which still "
                                     "holds the secrets), or into --output, leaving CASSETTE as it is. An existing "
                                     "CASSETTE.orig is never overwritten: redacting in place is then refused.")
    red.add_argument("cassette")
    red.add_argument("-o", "--output", help="write here instead of in place (no backup needed)")
    red.add_argument("--force", action="store_true", help="replace the --output file if it exists")
    _redaction_args(red)
    pseudonym_args(red)

    imp = sub.add_parser("import", help="make a cassette from a HAR, mitmproxy flow file or Fiddler .saz",
                         description="Read exchanges from HAR files (browser developer tools), mitmproxy flow files "
                                     "(mitmdump -w) or Fiddler archives (.saz), redact them, and write a cassette. An "
                                     "existing cassette is added to with --append, replaced with --force, and "
                                     "otherwise left alone (the import is refused).")
    imp.add_argument("sources", nargs="+", metavar="SOURCE")
    imp.add_argument("-o", "--output", required=True,
                     help="cassette to write; if it exists, --append or --force says what to do with it")
    imp.add_argument("--format", choices=("auto", *importer.FORMATS), default="auto",
                     help="input format (default: by content)")
    imp.add_argument("--append", action="store_true", help="add to the existing cassette")
    imp.add_argument("--force", action="store_true", help="replace the existing cassette")
    _redaction_args(imp)
    pseudonym_args(imp)

    exp = sub.add_parser("export", help="write a cassette as HAR or as a VCR.py cassette",
                         description="Export to HAR (browser tools, other HTTP tools) or to a VCR.py cassette.")
    exp.add_argument("cassette")
    exp.add_argument("-o", "--output", required=True, help="file to write (.har, or .yaml for VCR.py)")
    exp.add_argument("--format", choices=("har", "vcrpy"), help="default: har for .har files, else vcrpy")
    exp.add_argument("--force", action="store_true", help="replace the output file if it exists")

    for parser, tool in ((show, _show), (dif, _diff), (lin, _lint), (red, _redact), (imp, _import), (exp, _export)):
        parser.set_defaults(tool=tool)


def _diff_parser(sub: Any) -> argparse.ArgumentParser:
    ignored = ", ".join(IGNORED_HEADERS)
    dif: argparse.ArgumentParser = sub.add_parser(
        "diff", help="what changed between two cassettes (exit 1 when they differ)", formatter_class=_Formatter,
        description="Exchanges added, removed or changed from A to B, paired the way replay matches requests; of "
                    "each pair the response status, headers and body are compared (header names in any case and "
                    "order, a repeated header's values in order). "
                    f"Unless --strict, these headers are ignored: {ignored}; and so are application ids, "
                    "\\/Date(...)\\/ and ISO 8601 timestamps in other header values and in bodies, and ETag fields "
                    "in bodies. Exit status: 0 when A and B are the same, 1 when they differ, 2 on bad input.")
    dif.add_argument("a", help="the cassette before")
    dif.add_argument("b", help="the cassette after")
    dif.add_argument("--strict", action="store_true",
                     help=f"compare everything: also the headers {ignored}, and application ids, dates and "
                          "ETags in other headers and in bodies")
    dif.add_argument("--json", action="store_true", help="machine-readable output")
    return dif


def _redaction_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redact-header", action="append", default=[], metavar="NAME", help="extra header to redact")
    parser.add_argument("--redact-field", action="append", default=[], metavar="NAME",
                        help="extra form/query/JSON/XML field to redact")


def _rules(args: argparse.Namespace) -> RedactionRules:
    return RedactionRules.with_extra(args.redact_header, args.redact_field)


def pseudonym_args(parser: argparse.ArgumentParser) -> None:
    """--pseudonymize and its key, extra fields and map file (record, redact, import)."""
    group = parser.add_argument_group("pseudonyms")
    group.add_argument("--pseudonymize", action="store_true",
                       help="also give people, addresses, domains, phone numbers and meetings consistent fake values")
    group.add_argument("--pseudonym-key", metavar="KEY",
                       help="key of the pseudonyms (default: the owner's key file ~/.config/ucwa-vcr/pseudonym.key)")
    group.add_argument("--pseudonym-field", action="append", default=[], metavar="NAME",
                       help="extra field whose value is personal (repeatable)")
    group.add_argument("--pseudonym-map", metavar="FILE",
                       help="write the real-to-pseudonym map here (for your eyes only; keep it out of the cassettes)")


def _redactor(args: argparse.Namespace, existing: Cassette) -> tuple[Redactor, Pseudonymizer | None]:
    """The redactor of `redact` and `import`, pseudonymizing with --pseudonymize."""
    if not args.pseudonymize:
        return Redactor.adding_to(existing, _rules(args)), None
    try:
        pseudonymizer = Pseudonymizer(load_key(args.pseudonym_key or ""), args.pseudonym_field)
    except OSError as e:
        raise UsageError(f"--pseudonym-key: no key given and the key file cannot be used: {e}") from None
    return PseudonymizingRedactor.adding_to_cassette(existing, _rules(args), pseudonymizer), pseudonymizer


def _save_mapping(args: argparse.Namespace, pseudonymizer: Pseudonymizer | None) -> str:
    if pseudonymizer is None:
        return ""
    if args.pseudonym_map:
        write_mapping(Path(args.pseudonym_map), pseudonymizer.mapping)
        return f"; pseudonyms map in {args.pseudonym_map}"
    return ", pseudonymized"


def run(args: argparse.Namespace, console: Console | None = None) -> int:
    """Run a cassette tool; errors are one line on stderr and exit code 2."""
    console = console or Console(highlight=False, soft_wrap=True)  # long URLs and headers stay on one line
    try:
        return int(args.tool(args, console))
    except UcwaVcrError as e:
        print(f"ucwa-vcr {args.command}: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`ucwa-vcr show today.yaml | head`): stop quietly, as Unix tools do. Python's own
        # flush of stdout at exit would fail again, so stdout becomes /dev/null first.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as e:  # e.g. the backup beside a cassette in a read-only folder
        print(f"ucwa-vcr {args.command}: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2


def _show(args: argparse.Namespace, console: Console) -> int:
    cassette = load_cassette(args.cassette)
    if args.index is not None:
        if not 0 <= args.index < len(cassette.interactions):
            raise UsageError(f"{args.cassette}: no exchange {args.index} "
                                   f"(it holds {len(cassette.interactions)}: 0 to {len(cassette.interactions) - 1})")
        return _show_one(cassette, args.index, args.json, console)
    try:
        chosen = select(cassette, args.filter) if args.filter else None
    except ValueError as e:
        raise UsageError(f"--filter {args.filter!r}: {e}") from None
    found = rows(cassette, chosen)
    if args.json:
        print(json.dumps([r.as_dict() for r in found], indent=1))
    elif console.is_terminal:
        table = Table("#", "method", "path", "status", "UCWA error", "size", "ms", title=str(args.cassette))
        for r in found:
            style = "red" if r.status >= 400 else ""
            path = f"{r.path} ({counted(r.parts, 'part')})" if r.parts else r.path
            table.add_row(str(r.index), r.method, path, str(r.status), r.error, str(r.size), f"{r.duration_ms:g}",
                          style=style)
        console.print(table)
    else:
        print("#\tmethod\tpath\tstatus\terror\tsize\tms")
        for r in found:
            path = f"{r.path} ({counted(r.parts, 'part')})" if r.parts else r.path
            print(f"{r.index}\t{r.method}\t{path}\t{r.status}\t{r.error}\t{r.size}\t{r.duration_ms:g}")
    return 0


def _show_one(cassette: Cassette, index: int, as_json: bool, console: Console) -> int:
    i = cassette.interactions[index]
    if as_json:
        print(json.dumps({"index": index, **i.to_data()}, indent=1, ensure_ascii=False))
        return 0

    def part(title: str, message: Message) -> None:
        console.print(shown(title), style="bold", markup=False)
        for name, value in message.headers:
            console.print(shown(f"{name}: {value}"), markup=False)
        text, lexer = pretty_body(message)
        if text:
            console.print()
            console.print(Syntax(text, lexer, word_wrap=True) if console.is_terminal else text, markup=False)

    batch = describe_parts(i)
    if batch:
        console.print(f"batch of {counted(len(batch), 'part')}:", style="bold", markup=False)
        for line in batch:
            console.print(f"  {line}", markup=False)
        console.print()
    part(f"{i.request.method} {i.request.url}", i.request)
    console.print()
    part(f"{i.response.status} {i.response.reason}   ({i.duration * 1000:g} ms, started {i.started})", i.response)
    return 0


def _diff(args: argparse.Namespace, console: Console) -> int:
    result = diff(load_cassette(args.a), load_cassette(args.b), strict=args.strict)
    if args.json:
        print(json.dumps(result.as_dict(), indent=1, ensure_ascii=False))
        return 1 if result.differs else 0
    out = console.print if console.is_terminal else (lambda text, style="", **_: print(text))
    for n, label in result.removed:
        out(f"- removed  A#{n}  {label}", style="red", markup=False)
    for n, label in result.added:
        out(f"+ added    B#{n}  {label}", style="green", markup=False)
    for c in result.changed:
        out(f"~ changed  A#{c.position_a} B#{c.position_b}  {c.label}", style="yellow", markup=False)
        if c.status:
            out(f"    status: {c.status[0]} -> {c.status[1]}", markup=False)
        for name, was_header, now_header in c.headers:
            out(f"    header {name}: {_or_absent(was_header)} -> {_or_absent(now_header)}", markup=False)
        for where, was, now in c.fields:
            out(f"    {where}: {was} -> {now}", markup=False)
        for line in c.text:
            out(f"    {line}", style="red" if line.startswith("-") else "green" if line.startswith("+") else "",
                markup=False)
    print(f"{len(result.added)} added, {len(result.removed)} removed, {len(result.changed)} changed, "
          f"{result.same} unchanged")
    return 1 if result.differs else 0


def _or_absent(value: str | None) -> str:
    return MISSING if value is None else value


def _lint(args: argparse.Namespace, console: Console) -> int:
    findings = [line for path in args.cassettes for line in lint(path, _rules(args), pii=args.pii)]
    for line in findings:
        print(line)
    print(f"{len(findings)} finding{'s' if len(findings) != 1 else ''} in {len(args.cassettes)} "
          f"cassette{'s' if len(args.cassettes) != 1 else ''}", file=sys.stderr)
    return 1 if findings else 0


def _redact(args: argparse.Namespace, console: Console) -> int:
    source = Path(args.cassette)
    target = Path(args.output) if args.output else source
    backup = None if args.output else source.with_name(source.name + ".orig")
    if args.output and os.path.realpath(target) == os.path.realpath(source):
        raise UsageError(f"-o {args.output}: that is the cassette itself; leave out -o to redact it in place "
                         f"(keeping {source.name}.orig)")
    cassette = load_cassette(source)
    if backup is not None and os.path.lexists(backup):
        raise FileError(_backup_taken(backup))
    if args.output:
        _refuse_to_replace(target, args.force)
    redactor, pseudonymizer = _redactor(args, cassette)
    clean = Cassette([redactor.interaction(i) for i in cassette.interactions])
    changed = sum(a != b for a, b in zip(cassette.interactions, clean.interactions, strict=True))
    check_writable(target)
    if backup is None:
        save_cassette(target, clean)
        where = f"the original is still in {source}, unchanged"
    else:
        _keep_backup(source, backup)
        try:
            save_cassette(target, clean)
        except BaseException:
            backup.unlink()  # the cassette is as it was, and a stale backup would block the next try
            raise
        where = f"the original, secrets and all, is in {backup}"
    print(f"{target}: {changed} of {counted(len(clean.interactions), 'exchange')} redacted"
          f"{_save_mapping(args, pseudonymizer)}; {where}")
    return 0


def _backup_taken(backup: Path) -> str:
    return (f"{backup} already exists (a backup from an earlier redact?) and is never overwritten; nothing written: "
            f"move it away first, or write the redacted copy elsewhere with -o")


def _keep_backup(source: Path, backup: Path) -> None:
    """Copy the cassette to its backup, refusing if a file of that name appeared meanwhile."""
    try:
        copy = backup.open("xb")
    except FileExistsError:
        raise FileError(_backup_taken(backup)) from None
    try:
        with copy, source.open("rb") as original:
            shutil.copyfileobj(original, copy)
        shutil.copystat(source, backup)
    except OSError:
        backup.unlink(missing_ok=True)  # half a copy would pass for the original later
        raise


def _import(args: argparse.Namespace, console: Console) -> int:
    target = Path(args.output)
    if args.append and args.force:
        raise UsageError("--append and --force together: choose one (--append adds to the cassette, --force "
                         "replaces it)")
    check_writable(target)
    replacing = os.path.lexists(target) and not args.append
    if replacing and not args.force:
        raise UsageError(f"-o {target}: the cassette already exists; nothing written: add --append to add to it, "
                         f"or --force to replace it")
    existing = load_cassette(target) if args.append and target.exists() else Cassette()

    def progress(items: Iterable[int], total: int) -> Iterable[int]:
        if not console.is_terminal:
            return items
        from rich.progress import track
        return track(items, total=total, description="importing", console=console)

    interactions = [i for source in args.sources for i in importer.read_source(source, args.format, progress)]
    redactor, pseudonymizer = _redactor(args, existing)
    cassette = Cassette(existing.interactions + [redactor.interaction(i) for i in interactions])
    save_cassette(target, cassette)
    note = "; the cassette that was there is replaced" if replacing else ""
    print(f"{target}: {counted(len(interactions), 'exchange')} imported, redacted{_save_mapping(args, pseudonymizer)} "
          f"({len(cassette.interactions)} in all){note}")
    return 0


def _refuse_to_replace(target: Path, force: bool) -> None:
    """UsageError when `-o target` exists and --force was not given: a file is never replaced without a word."""
    if os.path.lexists(target) and not force:
        raise UsageError(f"-o {target}: it exists; nothing written: add --force to replace it, or choose another file")


def _export(args: argparse.Namespace, console: Console) -> int:
    out = Path(args.output)
    fmt = args.format or ("har" if out.suffix.lower() == ".har" else "vcrpy")
    cassette = load_cassette(args.cassette)
    _refuse_to_replace(out, args.force)
    exporter.export(cassette.interactions, out, fmt)
    what = "HAR" if fmt == "har" else "a VCR.py cassette"
    print(f"{out}: {counted(len(cassette.interactions), 'exchange')} as {what}")
    return 0
