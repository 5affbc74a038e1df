"""Loading cassette files through a cache of parsed cassettes (YAML parsing is the slow part)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from pathlib import Path

from ..redact import Redactor
from .codec import load_yaml, read_text, validated, without_cut_tail
from .model import VERSION, Cassette
from .writer import write_atomic

logger = logging.getLogger(__name__)

CACHE_BUDGET = 512 * 2**20  # bytes of parsed cassettes kept; the least recently used go first
# Entries are named `2-<sha256>.json`; the bare `<sha256>.json` of earlier versions may hold live secrets.
_ENTRY = "2-{}.json"
_OLD_ENTRY = re.compile(r"[0-9a-f]{64}\.json")


def cache_folder() -> Path | None:
    """Where parsed cassettes are cached (UCWA_VCR_CACHE; `off` disables), by default ~/.cache/ucwa-vcr."""
    setting = os.environ.get("UCWA_VCR_CACHE", "")
    if setting == "off":
        return None
    if setting:
        return Path(setting)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ucwa-vcr"


def load_cassette(path: str | os.PathLike[str]) -> Cassette:
    """Load a cassette file, or raise FileError with one line naming the file and the line.

    YAML parsing costs about 0.3 s per MiB even with libyaml; the parsed cassette is therefore cached as
    JSON under the SHA-256 of the file's text, and a cassette seen before loads from there, some 20 times
    faster. Any change to the file is a new key; the cache keeps the most recently used entries within
    CACHE_BUDGET. A cassette holding anything redaction would change (a live secret) is never cached:
    the cache outlives the file, and must not keep a secret the user then redacts or deletes.
    """
    text = without_cut_tail(read_text(path), str(path))
    folder = cache_folder()
    cached = folder / _ENTRY.format(hashlib.sha256(text.encode("utf-8")).hexdigest()) if folder else None
    if cached is not None and cached.is_file():
        try:
            cassette = Cassette.from_data(json.loads(cached.read_bytes()))
            os.utime(cached)  # recently used: evicted last
            return cassette
        except (OSError, ValueError, RecursionError):
            pass  # an unreadable cache entry: parse the YAML as if there were none
    cassette = validated(load_yaml(text, str(path), aliases=False), text, str(path))
    if cached is not None:
        if holds_live_secrets(cassette):
            logger.debug("%s: not cached: it holds live secrets (see `ucwa-vcr lint`)", path)
            return cassette
        data = {"version": VERSION, "interactions": [i.to_data() for i in cassette.interactions]}
        with contextlib.suppress(OSError):
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(cached, [json.dumps(data).encode("utf-8")])
            _evict(cached.parent, keep=cached)
    return cassette


def holds_live_secrets(cassette: Cassette) -> bool:
    """Whether today's default redaction would change anything in the cassette (stops at the first change)."""
    redactor = Redactor()
    return any(redactor.interaction(i) != i for i in cassette.interactions)


def _evict(folder: Path, keep: Path) -> None:
    """Remove the least recently used cache entries beyond CACHE_BUDGET bytes (never `keep`), and any entry
    of an earlier version (those were written without the secret check)."""
    entries = []
    for entry in folder.glob("*.json"):
        with contextlib.suppress(OSError):  # another process may be evicting too
            if _OLD_ENTRY.fullmatch(entry.name):
                entry.unlink()
                continue
            stat = entry.stat()
            entries.append((stat.st_mtime, stat.st_size, entry))
    total = 0
    for _, size, entry in sorted(entries, key=lambda e: e[0], reverse=True):
        total += size
        if total > CACHE_BUDGET and entry != keep:
            entry.unlink(missing_ok=True)
