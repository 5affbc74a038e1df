"""The cassette file format: YAML text to and from the model, with one-line errors that name the line.

Only a safe loader is used (libyaml's when available). Pure: no mitmproxy and no file writes here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import yaml

from ..errors import CassetteError, FileError
from .model import Cassette, Interaction

logger = logging.getLogger(__name__)

SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
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
        node = yaml.compose(text, Loader=SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
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
    return line


def load_yaml(text: str, name: str) -> Any:
    """Plain data from YAML text with the safe loader; errors say `name:line: what is wrong`."""
    try:
        return yaml.load(text, Loader=SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        if "could not determine a constructor" in str(problem):
            problem = f"unsupported YAML tag ({problem.split('tag')[-1].strip()}); cassettes are plain data"
        raise FileError(f"{name}{line}: {problem}") from None


def parse(text: str, name: str) -> Cassette:
    """Parse cassette text; errors say `name:line: what is wrong`."""
    text = without_cut_tail(text, name)
    return validated(load_yaml(text, name), text, name)


def validated(data: Any, text: str, name: str) -> Cassette:
    """The cassette parsed YAML `data` holds; FileError says `name:line: what is wrong` (line found in `text`)."""
    try:
        return Cassette.from_data(data)
    except CassetteError as e:
        place = f" (at {'.'.join(str(p) for p in e.where)})" if e.where else ""
        raise FileError(f"{name}:{line_of(text, e.where) or 1}: {e.message}{place}") from None


def read_text(path: str | os.PathLike[str], what: str = "cassette") -> str:
    """A file's text, or FileError with one line naming the file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise FileError(f"{path}: cannot read: {e}") from None


