"""Cassette files: safe YAML loading with one-line errors, readable dumping, crash-safe writes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from .cassette import VERSION, Cassette, CassetteError, Interaction

logger = logging.getLogger(__name__)

SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Ends every write of a cassette being recorded; what follows the last one was cut short by a kill.
COMPLETE = "# ucwa-vcr: complete up to here (recording)\n"
_COMPLETE_BYTES = COMPLETE.encode()
_BaseDumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class StoreError(Exception):
    """A cassette that cannot be read or written; str() is one line naming the file."""


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


def write_cassette(path: str | os.PathLike[str], chunks: Sequence[bytes], tail: bytes = b"") -> None:
    """Write a cassette atomically from already dumped interactions (no re-serialisation)."""
    head = f"version: {VERSION}\ninteractions:{'' if chunks else ' []'}\n".encode()
    write_atomic(path, [head, b"".join(chunks) + tail])  # one write call: a call per chunk would churn the GIL


class CassetteWriter:
    """Writes a cassette while it is recorded: each batch of exchanges costs its own size, not the file's.

    The first write replaces the file atomically (what was loaded, then the new exchanges); the later ones
    append their exchanges in one write call. Every write ends with the COMPLETE line, so one that a kill
    cut short is recognised on load (`cut_tail`) and dropped -- its clients had not been answered
    yet. A failed append makes the next write a whole atomic one again. `finish()` leaves the file in its
    final form: rewritten atomically once more, without the COMPLETE lines. Thread-safe.
    """

    def __init__(self, path: str | os.PathLike[str], loaded: Sequence[Interaction]) -> None:
        self.path = Path(path)
        self._loaded = loaded
        self._loaded_chunks: list[bytes] | None = None
        self._chunks: list[bytes] = []
        self._appendable = False  # the file ends with a complete write of everything so far
        self._final = True  # the file on disk is in its final form (nothing written yet, or finished)
        self._lock = threading.Lock()

    def write(self, chunks: Sequence[bytes]) -> None:
        """Add dumped interactions; when this returns they are on disk (OSError when they could not be)."""
        with self._lock:
            self._chunks += chunks
            self._final = False
            appendable, self._appendable = self._appendable, False  # until this write is complete
            if not (appendable and self._append(chunks)):
                self._rewrite(tail=_COMPLETE_BYTES)
            self._appendable = True

    def _append(self, chunks: Sequence[bytes]) -> bool:
        """Append in one write; False when the file is gone (never re-created headless: written whole)."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            return False
        with os.fdopen(fd, "ab") as f:
            f.write(b"".join(chunks) + _COMPLETE_BYTES)
        return True

    def finish(self) -> None:
        """Rewrite the file in its final form, without the COMPLETE lines (no-op when nothing was written)."""
        with self._lock:
            if not self._final:
                self._rewrite()
                self._final, self._appendable = True, False

    def _rewrite(self, tail: bytes = b"") -> None:
        # What was loaded is serialised here, once, and only when something is recorded -- never at load,
        # where replay-only sessions would pay for it for nothing.
        if self._loaded_chunks is None:
            self._loaded_chunks = [dump_interaction(i) for i in self._loaded]
        write_cassette(self.path, self._loaded_chunks + self._chunks, tail)


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


def _without_cut_tail(text: str, name: str) -> str:
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
        raise StoreError(f"{name}{line}: {problem}") from None


def parse(text: str, name: str) -> Cassette:
    """Parse cassette text; errors say `name:line: what is wrong`."""
    text = _without_cut_tail(text, name)
    return _validated(load_yaml(text, name), text, name)


def _validated(data: Any, text: str, name: str) -> Cassette:
    try:
        return Cassette.from_data(data)
    except CassetteError as e:
        place = f" (at {'.'.join(str(p) for p in e.where)})" if e.where else ""
        raise StoreError(f"{name}:{line_of(text, e.where) or 1}: {e.message}{place}") from None


def read_text(path: str | os.PathLike[str], what: str = "cassette") -> str:
    """A file's text, or StoreError with one line naming the file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise StoreError(f"{path}: cannot read: {e}") from None


CACHE_BUDGET = 512 * 2**20  # bytes of parsed cassettes kept; the least recently used go first


def cache_folder() -> Path | None:
    """Where parsed cassettes are cached (UCWA_VCR_CACHE; `off` disables), by default ~/.cache/ucwa-vcr."""
    setting = os.environ.get("UCWA_VCR_CACHE", "")
    if setting == "off":
        return None
    if setting:
        return Path(setting)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ucwa-vcr"


def load(path: str | os.PathLike[str]) -> Cassette:
    """Load a cassette file, or raise StoreError with one line naming the file and the line.

    YAML parsing costs about 0.3 s per MiB even with libyaml; the parsed data is therefore cached as
    JSON under the SHA-256 of the file's bytes (the same redacted content, nothing more), and a
    cassette seen before loads from there, some 20 times faster. Any change to the file is a new key;
    the cache keeps the most recently used entries within CACHE_BUDGET.
    """
    text = _without_cut_tail(read_text(path), str(path))
    folder = cache_folder()
    cached = folder / f"{hashlib.sha256(text.encode('utf-8')).hexdigest()}.json" if folder else None
    if cached is not None and cached.is_file():
        try:
            cassette = Cassette.from_data(json.loads(cached.read_bytes()))
            os.utime(cached)  # recently used: evicted last
            return cassette
        except (OSError, ValueError):
            pass  # an unreadable cache entry: parse the YAML as if there were none
    data = load_yaml(text, str(path))
    cassette = _validated(data, text, str(path))
    if cached is not None:
        with contextlib.suppress(OSError):
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(cached, [json.dumps(data, default=str).encode("utf-8")])
            _evict(cached.parent, keep=cached)
    return cassette


def _evict(folder: Path, keep: Path) -> None:
    """Remove the least recently used cache entries beyond CACHE_BUDGET bytes (never `keep`)."""
    entries = []
    for entry in folder.glob("*.json"):
        with contextlib.suppress(OSError):  # another process may be evicting too
            stat = entry.stat()
            entries.append((stat.st_mtime, stat.st_size, entry))
    total = 0
    for _, size, entry in sorted(entries, key=lambda e: e[0], reverse=True):
        total += size
        if total > CACHE_BUDGET and entry != keep:
            entry.unlink(missing_ok=True)


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raise StoreError now if the cassette could not be written later."""
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise StoreError(f"cannot write cassette {path}: folder {folder} does not exist")
    if target.is_dir():
        raise StoreError(f"cannot write cassette {path}: it is a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{target.name}.", suffix=".check"):
            pass
    except OSError as e:
        raise StoreError(f"cannot write cassette {path}: {e.strerror or e}") from None


def write_atomic(path: str | os.PathLike[str], parts: Iterable[bytes]) -> None:
    """Replace `path` with the concatenated `parts` so that a reader or a killed process sees the old or the new
    file, never half.

    No fsync: the rename is atomic for any process, and a kill leaves the page cache to the kernel; only a
    power cut could lose the last writes, a cost not worth an fsync per recorded exchange.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.writelines(parts)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(path: str | os.PathLike[str], cassette: Cassette) -> None:
    """Write a whole cassette atomically."""
    write_cassette(path, [dump_interaction(i) for i in cassette.interactions])
