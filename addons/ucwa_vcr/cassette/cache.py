"""Loading cassette files through a cache of parsed cassettes (YAML parsing is the slow part)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from .codec import load_yaml, read_text, validated, without_cut_tail
from .model import Cassette
from .writer import write_atomic

CACHE_BUDGET = 512 * 2**20  # bytes of parsed cassettes kept; the least recently used go first


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

    YAML parsing costs about 0.3 s per MiB even with libyaml; the parsed data is therefore cached as
    JSON under the SHA-256 of the file's bytes (the same redacted content, nothing more), and a
    cassette seen before loads from there, some 20 times faster. Any change to the file is a new key;
    the cache keeps the most recently used entries within CACHE_BUDGET.
    """
    text = without_cut_tail(read_text(path), str(path))
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
    cassette = validated(data, text, str(path))
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


