"""Writing cassette files: atomic replacement, and appending while a session is recorded (crash-safe)."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import FileError
from .codec import COMPLETE, dump_interaction
from .model import VERSION, Cassette, Interaction

_COMPLETE_BYTES = COMPLETE.encode()


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


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raise FileError now if the cassette could not be written later."""
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise FileError(f"cannot write cassette {path}: folder {folder} does not exist")
    if target.is_dir():
        raise FileError(f"cannot write cassette {path}: it is a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{target.name}.", suffix=".check"):
            pass
    except OSError as e:
        raise FileError(f"cannot write cassette {path}: {e.strerror or e}") from None


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


def save_cassette(path: str | os.PathLike[str], cassette: Cassette) -> None:
    """Write a whole cassette atomically."""
    write_cassette(path, [dump_interaction(i) for i in cassette.interactions])
