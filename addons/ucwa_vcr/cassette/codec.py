"""The cassette file format: YAML text to and from the model, with one-line errors that name the line.

Only a safe loader is used (libyaml's when available). Pure: no mitmproxy and no file writes here.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from ..errors import CassetteError, FileError
from .model import Cassette, Interaction

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
    """One interaction as a UTF-8 YAML sequence item, ready to append under `interactions:`."""
    text = yaml.dump([interaction.to_data()], Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=4096)
    return str(text).encode("utf-8")


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
    return validated(load_yaml(text, name, aliases=False), text, name)


def validated(data: Any, text: str, name: str) -> Cassette:
    """The cassette parsed YAML `data` holds; FileError says `name:line: what is wrong` (line found in `text`)."""
    try:
        return Cassette.from_data(data)
    except CassetteError as e:
        place = f" (at {'.'.join(str(p) for p in e.where)})" if e.where else ""
        raise FileError(f"{name}:{line_of(text, e.where) or 1}: {e.message}{place}") from None


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
