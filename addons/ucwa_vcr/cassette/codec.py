"""The cassette file format: YAML text to and from the model, with one-line errors that name the line.

Only a safe loader is used (libyaml's when available). Cassettes in the shape the writer emits are read by yaml_rs
instead, some ten times faster, where that is sure to give what the safe loader gives (`fast_parse`). Pure: no
mitmproxy and no file writes here.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from ..errors import CassetteError, FileError
from .model import VERSION, Cassette, Interaction, Shared

fast_loads: Callable[..., Any] | None
try:
    from yaml_rs import loads as fast_loads
except ImportError:  # a wheel missing for this platform: PyYAML reads every cassette, only slower
    fast_loads = None

logger = logging.getLogger(__name__)

SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# The most an aliased document may expand to (nodes plus characters), beyond twice its text.
EXPANSION_LIMIT = 1_000_000
# Ends every write of a cassette being recorded; what follows the last one was cut short by a kill.
COMPLETE = "# ucwa-vcr: complete up to here (recording)\n"


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    pass


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line bodies as literal blocks keep JSON/XML readable in a diff; the emitter falls back
    # to a quoted style by itself whenever a block could not give the exact string back.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_interaction(interaction: Interaction) -> bytes:
    """One interaction as a UTF-8 YAML sequence item, ready to append under `interactions:`: exactly the bytes of
    `pyyaml_dump`, written directly where `_template` is sure of them (some five times faster)."""
    data = interaction.to_data()
    text = _template(data)
    return pyyaml_dump(data) if text is None else text.encode("utf-8")


def pyyaml_dump(data: dict[str, Any]) -> bytes:
    """An interaction's data (`Interaction.to_data`) as PyYAML writes it: the reference for `dump_interaction`."""
    text = str(yaml.dump([data], Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=_WIDTH))
    # The emitter ends a document holding a block that keeps its final line breaks (`|+`) with "...": in a cassette,
    # where another interaction may follow, that would end the document there (and the file fail to load).
    return text.removesuffix("...\n").encode("utf-8")


# -- the template: what libyaml writes for the usual shapes, without PyYAML's representer and emitter ---------
# Mirrors libyaml's yaml_emitter_analyze_scalar and select_scalar_style for block context, only for characters it
# writes as they are: printable to it (no C0/C1 control, tab, DEL, surrogate, BOM, U+FFFE/U+FFFF, nor a character
# beyond the BMP, which it escapes) and no line break but "\n" (U+0085, U+2028, U+2029 and "\r" are breaks to it).
# Anything else -- and a line that could reach the width, where libyaml folds at a space -- returns None: PyYAML
# writes that interaction. tests/unit/test_fast_dump.py compares the two byte for byte.
_WIDTH = 4096
# The characters past ASCII that are text to libyaml's emitter and to both readers (a regex class range): printable,
# no line break of YAML 1.1 (U+0085, U+2028, U+2029), no byte order mark, no U+FFFE/U+FFFF, within the BMP.
_BMP_TEXT = "\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
_PRINTABLE = "\x20-\x7e" + _BMP_TEXT
_LINE_TEXT = re.compile(f"[{_PRINTABLE}]*")
# A literal block libyaml keeps literal needs no indentation indicator (no leading space or break), no space before
# a break or at the end; one final break at most (more would be `|+`, which PyYAML ends with "...").
_LITERAL_TEXT = re.compile(f"(?! )[{_PRINTABLE}][{_PRINTABLE}\n]*")
_SPACE_BREAK = re.compile(" \n")  # a regex finds it in text full of spaces faster than `in` does
# Characters that, first, make a scalar not plain (libyaml's indicators), and a space.
_NOT_FIRST = frozenset("#,[]{}&*!|>'\"%@` ")
_RESOLVER = yaml.resolver.Resolver()  # what the dumpers resolve with: a plain scalar must read back as a str
_STR = "tag:yaml.org,2002:str"
_FLOAT = re.compile(r"-?[0-9]+\.[0-9]+")  # repr() of a float the float resolver reads back, written plain


def _template(data: dict[str, Any]) -> str | None:
    """The interaction `data` as libyaml writes it (`- ` and a block mapping), or None where not sure."""
    out: list[str] = []
    return "".join(out) if _mapping(data, "  ", "- ", out) else None


def _mapping(data: dict[str, Any], indent: str, lead: str, out: list[str]) -> bool:
    """Append the non-empty block mapping `data` with its keys at `indent`, the first after `lead` (`- ` in a
    sequence item, else `indent`); False where not sure."""
    if not data:
        return False
    for n, (key, value) in enumerate(data.items()):
        if not (type(key) is str and _plain_key(key)):
            return False
        head = (indent if n else lead) + key + ":"
        if type(value) is dict:
            out.append(head + "\n")
            if not _mapping(value, indent + "  ", indent + "  ", out):
                return False
        elif type(value) is list:
            out.append(head + (" []\n" if not value else "\n"))  # a sequence in a mapping is not indented
            if not all(_item(item, indent, out) for item in value):
                return False
        else:
            text = _scalar(value, head, indent + "  ")
            if text is None:
                return False
            out.append(text)
    return True


def _item(value: Any, indent: str, out: list[str]) -> bool:
    """Append the block sequence item `value` (a mapping or a one-line scalar) at `indent`; False where not sure."""
    if type(value) is dict:
        return _mapping(value, indent + "  ", indent + "- ", out)
    text = _scalar(value, indent + "-", None)
    if text is not None:
        out.append(text)
    return text is not None


@functools.cache
def _plain_key(key: str) -> bool:
    """Whether libyaml writes `key` plain as a simple key (the model's keys: a few, cached)."""
    return 0 < len(key) <= 128 and _line_scalar(key) == key


def _scalar(value: Any, head: str, block_indent: str | None) -> str | None:
    """`head`, then the scalar `value` as libyaml writes it, to the end of its line(s): a literal block (lines at
    `block_indent`, None: never) for text with a line break; None where not sure."""
    if type(value) is str:
        if "\n" in value:
            return None if block_indent is None else _literal_block(value, head, block_indent)
        text = _line_scalar(value)
    elif type(value) is bool:
        text = "true" if value else "false"
    elif type(value) is int and -10**18 < value < 10**18:
        text = str(value)
    elif type(value) is float and _FLOAT.fullmatch(repr(value)):
        text = repr(value)
    else:
        return None
    # libyaml folds a plain or quoted scalar at a space past the width: only a shorter line is surely one line.
    if text is None or len(head) + 1 + len(text) > _WIDTH and " " in text:
        return None
    return f"{head} {text}\n"


def _line_scalar(text: str) -> str | None:
    """`text` (no "\\n") as libyaml writes a str scalar in block context before any folding: plain where that is
    allowed and the resolver reads it back as a str, else single-quoted; None where it would double-quote."""
    if not _LINE_TEXT.fullmatch(text):
        return None
    if text and _plain_allowed(text) and _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR:
        return text
    return "'" + text.replace("'", "''") + "'"


def _plain_allowed(text: str) -> bool:
    """Whether libyaml allows the non-empty one-line `text` (of _LINE_TEXT's characters) as a plain scalar in block
    context: no indicator first, no leading or trailing space, no `: `, ` #` or final `:`."""
    first, lone = text[0], len(text) == 1 or text[1] == " "
    return not (first in _NOT_FIRST or text[-1] == " " or (first in "?-" and lone) or text.startswith(("---", "..."))
                or text.endswith(":") or ": " in text or " #" in text)


def _literal_block(text: str, head: str, indent: str) -> str | None:
    """`head`, then `text` (with a line break) as libyaml writes it with the literal style the representer asks
    for: its lines at `indent`, empty ones empty; None where libyaml would quote it, or write an indicator or `|+`."""
    if not _LITERAL_TEXT.fullmatch(text) or _SPACE_BREAK.search(text) or text.endswith((" ", "\n\n")):
        return None
    chomp = "" if text.endswith("\n") else "-"
    lines = indent + text.removesuffix("\n").replace("\n", "\n" + indent)  # first and last lines are not empty
    while f"\n{indent}\n" in lines:  # each pass empties at least every other line of a run of empty ones
        lines = lines.replace(f"\n{indent}\n", "\n\n")
    return f"{head} |{chomp}\n{lines}\n"


def cut_tail(text: str) -> tuple[str, int | None]:
    """The text up to the end of its last complete write, and the 1-based line where a cut tail starts
    (None when there is none): a recording killed mid-write leaves one."""
    if COMPLETE not in text or text.endswith(COMPLETE):
        return text, None
    end = text.rfind("\n" + COMPLETE)  # never on the first line: no write of ours puts it there
    if end < 0:
        return text, None
    complete = text[:end + 1 + len(COMPLETE)]
    return complete, complete.count("\n") + 1


def without_cut_tail(text: str, name: str) -> str:
    """The text up to its last complete write, warning (with `name` and the line) when a cut tail is dropped."""
    complete, line = cut_tail(text)
    if line is not None:
        logger.warning("%s:%d: ignoring the %d characters from here on: a recording was interrupted while writing "
                       "them", name, line, len(text) - len(complete))
    return complete


def line_of(text: str, where: tuple[str | int, ...]) -> int | None:
    """The 1-based line of the node at `where`, or of its deepest existing parent."""
    try:
        root = yaml.compose(text, Loader=SafeLoader)
    except yaml.YAMLError:
        return None
    return node_at(root, where)[1]


def node_at(root: yaml.Node | None, where: tuple[str | int, ...]) -> tuple[yaml.Node | None, int | None]:
    """The node at `where` in a composed YAML tree (None when there is none there), and the 1-based line of it
    or of its deepest existing parent."""
    node, line = root, None
    for step in where:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return node, line


class _Aliased(Exception):
    """A YAML alias where none is allowed (raised by the loader, given a line by load_yaml)."""


class _Loader(SafeLoader):  # type: ignore[misc,valid-type]
    """The safe loader; a value its constructor cannot build (a 5000-digit integer, month 13) is a marked error,
    and with `refuse_aliases` so is a node built a second time: that is an alias."""

    refuse_aliases = False

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # Checked here rather than by walking the composed nodes first: a walk costs some 15% of the load.
        if self.refuse_aliases and node in self.constructed_objects:
            raise _Aliased
        try:
            return super().construct_object(node, deep)
        except (ArithmeticError, AttributeError, LookupError, TypeError, ValueError) as e:
            raise yaml.constructor.ConstructorError(None, None, _unbuildable(node, e), node.start_mark) from None


def _unbuildable(node: yaml.Node, error: Exception) -> str:
    """What is wrong with a scalar the constructor refused, in one line."""
    kind = str(node.tag).rpartition(":")[2]
    if kind == "int" and "digits" in str(error):  # Python's cap on int() against quadratic-time conversions
        return f"an integer of {len(str(node.value))} digits is too long (at most {sys.get_int_max_str_digits()})"
    if isinstance(error, ArithmeticError | ValueError):
        return f"not a valid {kind}: {error}"
    return f"{_one_line(repr(node.value), 60)} is not a valid {kind}"


class _RecursiveAlias(Exception):
    """A YAML node that contains itself through an alias (`&a [*a]`), anchored at `line`."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _expanded_size(root: yaml.Node) -> tuple[int, bool]:
    """The size of a composed document with every alias expanded (nodes plus scalar characters), and whether it
    has an alias; _RecursiveAlias for a node that contains itself. Iterative: libyaml nests up to 1000 levels,
    deeper than Python's recursion allows."""
    size: dict[int, int] = {}
    path: set[int] = set()  # the nodes being walked: the current node's ancestors
    aliased = False
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            path.discard(key)
            own = len(node.value) if isinstance(node, yaml.ScalarNode) else 0
            size[key] = 1 + own + sum(size[id(child)] for child in _children(node))
        elif key in path:
            raise _RecursiveAlias(node.start_mark.line + 1)
        elif key in size:  # reached a second time: through an alias
            aliased = True
        else:
            path.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(_children(node)))
    return size[id(root)], aliased


def _first_alias(text: str) -> tuple[int, str]:
    """The line and anchor name of the first alias in YAML text (read as events: no expansion)."""
    for event in yaml.parse(text, Loader=SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            return (event.start_mark.line + 1 if event.start_mark else 1), str(event.anchor)
    return 1, "?"


def _check_expansion(node: yaml.Node, text: str, name: str) -> None:
    """Refuse a recursive alias, and aliases that expand the data beyond max(EXPANSION_LIMIT, twice the text):
    a 574-byte "billion laughs" file stands for gigabytes once anything walks it (json.dumps, a patch)."""
    try:
        size, aliased = _expanded_size(node)
    except _RecursiveAlias as e:
        raise FileError(f"{name}:{e.line}: a recursive alias: the node anchored here contains itself") from None
    limit = max(EXPANSION_LIMIT, 2 * len(text))
    if aliased and size > limit:
        line, anchor = _first_alias(text)
        raise FileError(f"{name}:{line}: aliases (*{anchor}) expand this file to more than {limit} characters")


def load_yaml(text: str, name: str, aliases: bool = True) -> Any:
    """Plain data from YAML text with the safe loader; errors say `name:line: what is wrong`, in one line.

    `aliases=False` refuses YAML aliases (cassettes: ucwa-vcr never writes them); otherwise (rules files, which
    people write) aliases are read, but not a recursive one or an expansion beyond EXPANSION_LIMIT.
    """
    loader = None
    try:
        loader = _Loader(text)
        loader.refuse_aliases = not aliases
        node = loader.get_single_node()
        if node is None:
            return None
        if aliases:
            _check_expansion(node, text, name)
        return loader.construct_document(node)
    except _Aliased:
        line, anchor = _first_alias(text)
        raise FileError(f"{name}:{line}: YAML aliases (*{anchor}) are not allowed in a cassette "
                        "(ucwa-vcr never writes them)") from None
    except yaml.YAMLError as e:
        raise FileError(_yaml_error(e, text, name)) from None
    except (RecursionError, UnicodeError) as e:  # nesting with the pure-Python loader (libyaml caps it); surrogates
        raise FileError(f"{name}: cannot read: {_one_line(str(e))}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_error(e: yaml.YAMLError, text: str, name: str) -> str:
    """`name:line: problem` for a YAML error, in one line."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    line = f":{mark.line + 1}" if mark is not None else ""
    if isinstance(e, yaml.reader.ReaderError):
        return (f"{name}:{_line_at(text, e.position)}: character #x{e.character:04x} is not allowed in YAML "
                f"({e.reason})")
    problem = str(getattr(e, "problem", None) or e).strip()
    if "could not determine a constructor" in problem:
        problem = f"unsupported YAML tag ({problem.split('tag')[-1].strip()}); only plain data is read"
    return f"{name}{line}: {_one_line(problem.splitlines()[0] if problem else 'not YAML')}"


def _line_at(text: str, position: int) -> int:
    """The 1-based line of a reader error's position: libyaml counts UTF-8 bytes, the Python reader characters."""
    if SafeLoader is yaml.SafeLoader:
        return text.count("\n", 0, position) + 1
    return text.encode("utf-8", "surrogatepass")[:position].count(b"\n") + 1


def _one_line(text: str, limit: int = 300) -> str:
    """Text with control characters escaped and cut to `limit` characters: fit for a one-line message."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return shown + ("..." if len(text) > limit else "")


def parse(text: str, name: str) -> Cassette:
    """Parse cassette text; errors say `name:line: what is wrong`."""
    text = without_cut_tail(text, name)
    cassette = fast_parse(text)
    return cassette if cassette is not None else _safe_parse(text, name)


def _safe_parse(text: str, name: str) -> Cassette:
    """The cassette in `text` as PyYAML's safe loader reads it; errors say `name:line: what is wrong`."""
    return validated(load_yaml(text, name, aliases=False), text, name)


def validated(data: Any, text: str, name: str) -> Cassette:
    """The cassette parsed YAML `data` holds; FileError says `name:line: what is wrong` (line found in `text`)."""
    try:
        return Cassette.from_data(data)
    except CassetteError as e:
        place = f" (at {'.'.join(str(p) for p in e.where)})" if e.where else ""
        raise FileError(f"{name}:{line_of(text, e.where) or 1}: {e.message}{place}") from None


def load_cassette(path: str | os.PathLike[str]) -> Cassette:
    """Load a cassette file, or raise FileError with one line naming the file and the line.

    A file in the writer's shape is read by yaml_rs a slice at a time (see `fast_parse`): the load never holds
    the whole text beside the model. Any other file is read whole: by PyYAML, or by `parse` when a recording was
    cut short in it (the fast path may read what comes before the cut).
    """
    try:
        with open(path, "rb") as file:
            cassette = _read(_file_slices(file))
        if cassette is not None:
            return cassette
    except (OSError, ValueError):  # declined: read_text words what is wrong with the file, PyYAML what is in it
        pass
    text = read_text(path)
    return _safe_parse(text, str(path)) if cut_tail(text)[1] is None else parse(text, str(path))


def read_text(path: str | os.PathLike[str], what: str = "cassette") -> str:
    """A file's text, or FileError with one line naming the file (and the line, for bytes that are not UTF-8)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise FileError(f"{path}: no such {what}") from None
    except OSError as e:
        raise FileError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise FileError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x}); a {what} is UTF-8") from None


# -- the fast path: yaml_rs reads what the writer emits -----------------------------------------------
# yaml_rs reads YAML 1.2 (with YAML 1.1's 0b and 1_000 integers), PyYAML's safe loader YAML 1.1: they read the
# same text differently (yes/no/on/off, 017, 1:30, 1e3, timestamps, "<<" and "=", unknown tags, raw U+0085 and
# U+2028, control characters, flow collections, several documents). So yaml_rs reads only _HEAD followed by text
# that matches _ITEMS, a grammar of the writer's output narrow enough that both read it alike: no tag, anchor,
# alias, directive, document marker, flow collection (but `[]`), comment (but the COMPLETE line) or key the model
# does not know, and each scalar only in a form both read as the same value. Where the writer never goes it is
# narrower still, with no difference known (a byte order mark, tabs, a line break after a space in quotes or to
# column 0, lines of spaces in a block, indentation indicators but 2, duplicate keys): false alarms only cost time.
# tests/unit/test_fast_yaml.py compares the two on the writer's output and on mutated text.

# Printable characters but the line breaks of YAML 1.1 (U+0085, U+2028, U+2029), the byte order mark and tab:
# PyYAML's reader refuses the rest; \n is the only line break allowed.
_NON_ASCII = _BMP_TEXT + "\U00010000-\U0010ffff"
_CHAR = r"\x20-\x7e" + _NON_ASCII
# A plain scalar both read as that string: no bool or null word of YAML 1.1 or 1.2; a character that no number,
# timestamp, .inf or .nan has (so never 1e3, 017, 0o17, 1:30, 2026-01-01); no indicator first (nor `<` or `=`,
# YAML 1.1's merge and value keys); no ": " or " #" inside; no trailing space.
_PLAIN = (r"(?!(?i:y|n|yes|no|on|off|true|false|null)\n)"
          r"(?=[^\n]*[^\n0-9A-Fa-f+\-._: xXoObBtTzZiInNyY~])"
          r"(?![\s\-?:,\[\]{}#&*!|>'\"%@`<=])"
          rf"(?:[\x21\x22\x24-\x39\x3b-\x7e{_NON_ASCII}]++|:(?![ \n])|#| ++(?=[^ \n#]))++")
# Quoted scalars: a line break inside as the writer folds (not after a space, not to column 0); double-quoted
# escapes are those both know.
_FOLD = r"(?<! )\n(?=[ \n])"
_SINGLE = rf"'(?:[\x20-\x26\x28-\x7e{_NON_ASCII}]++|''|{_FOLD})*+'"
_DOUBLE = (rf'"(?:[\x20\x21\x23-\x5b\x5d-\x7e{_NON_ASCII}]++|{_FOLD}|\\\n(?=[ \n])'
           r'|\\[0abtnvfre "/\\N_LP]|\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8})*+"')
_FLOW = f"(?:{_SINGLE}|{_DOUBLE}|{_PLAIN})"
_NUMBER = r"(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,20}(?:e[-+][0-9]{1,3})?)?"


def _literal(indent: int) -> str:
    """A literal block scalar, its lines indented by `indent` (as the first line shows or `|2` states; the key is
    two less), as the writer makes them: no line of spaces alone, none ending with a space."""
    return (rf"\|(?:[-+]?\n\n*+(?= {{{indent}}}[^ \n])|2[-+]?\n)"
            rf"(?:(?: {{{indent}}}[{_CHAR}]*(?<! ))?\n)*+")


_FIELD = (rf"    (?:(?:method|url|reason|body)(?:_base64)?: (?:{_FLOW}\n|{_literal(6)})|status: {_NUMBER}\n"
          rf"|raw: (?:true|false)\n|headers: \[\]\n|headers:\n(?:    - (?:base64: )?{_FLOW}\n)*+)")
_ITEM = (rf"- request:\n(?:{_FIELD})*+  response:\n(?:{_FIELD})*+"
         rf"(?:  (?:started(?:_base64)?: (?:{_FLOW}\n|{_literal(4)})|duration: {_NUMBER}\n))*+")
_COMPLETE = re.escape(COMPLETE)
# The interactions after _HEAD: no other YAML text is read by yaml_rs (`interactions: []` is left to PyYAML).
_ITEMS = re.compile(rf"(?:{_ITEM}|{_COMPLETE})*+")
_HEAD = f"version: {VERSION}\ninteractions:\n"
# Characters read and parsed at once (yaml_rs's objects take some 3 times a slice's size): of 32 KiB to 1 MiB,
# 256 KiB gave the lowest peak.
_SLICE = 2**18


def fast_parse(text: str) -> Cassette | None:
    """The cassette in `text` read by yaml_rs, or None when this fast path declines (see `_read`). PyYAML then
    reads the text, and words the error, if any, with its line."""
    if not text.startswith(_HEAD):
        return None
    try:
        return _read(_slices(text, len(_HEAD)))
    except ValueError:  # yaml_rs's YAMLDecodeError (a duplicate key, a "\ud800" escape), CassetteError
        return None


def _read(slices: Iterable[str]) -> Cassette | None:
    """The interactions the slices hold, read by yaml_rs, each slice made part of the model before the next is
    read (a load holds the model and one slice's objects); None when yaml_rs is not installed or a slice does not
    match _ITEMS; ValueError when yaml_rs or the model refuses a slice."""
    if fast_loads is None:
        return None
    interactions: list[Interaction] = []
    for piece in slices:
        if not _ITEMS.fullmatch(piece):
            return None
        shared = Shared()  # one per slice: a memo of every distinct header line would grow with the file
        # a duplicate key is an error (PyYAML keeps the last one: it reads such files); None: only COMPLETE lines
        for item in fast_loads(piece, parse_datetime=False, duplicate_key_policy="error") or ():
            interactions.append(Interaction.from_data(item, ("interactions", len(interactions)), shared))
    return Cassette(interactions)


def _slices(text: str, start: int) -> Iterator[str]:
    """`text` from `start` on, in slices of at least _SLICE characters cut where an interaction starts. Exact: a
    slice is read only when it matches _ITEMS, where a line "- request:" does nothing but start an interaction,
    and what a cut elsewhere leaves (an open quote) does not match."""
    while start < len(text):
        end = text.find("\n- request:\n", start + _SLICE) + 1 or len(text)
        yield text[start:end]
        start = end


def _file_slices(file: BinaryIO) -> Iterator[str]:
    """A cassette file's text after _HEAD in slices cut where an interaction starts, read as they are needed;
    ValueError when the file does not start with _HEAD, is not UTF-8, or has a cut tail (`parse` drops it)."""
    if file.read(len(_HEAD)) != _HEAD.encode():
        raise ValueError("not in the writer's shape")
    data, piece, marked = file.read(_SLICE), "", False
    while data:
        block = file.read(_SLICE)  # read ahead: at the end, the rest is one slice
        end = data.rfind(b"\n- request:\n") + 1 if block else len(data)
        if end:
            piece = data[:end].decode("utf-8")
            marked = marked or COMPLETE in piece
            yield piece
        data = data[end:] + block
    if marked and not piece.endswith(COMPLETE):
        raise ValueError("a cut tail")
