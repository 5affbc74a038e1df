"""ucwa-vcr's errors: one base, each with a str() that is one line fit to show a user as it is."""

from __future__ import annotations


class UcwaVcrError(Exception):
    """Anything ucwa-vcr refuses or cannot do; str() is one line naming the file, option or value."""


class UsageError(UcwaVcrError, ValueError):
    """A value ucwa-vcr does not take: a command's argument (the cassette tools exit 2) or an option (refused
    with one line; at the proxy's start mitmproxy then exits 1)."""


class FileError(UcwaVcrError):
    """A cassette, rules file or capture that cannot be read or written; str() names the file (and line)."""


class CassetteError(UcwaVcrError, ValueError):
    """Cassette data that does not follow the schema; `where` is the path to the bad node inside it."""

    def __init__(self, message: str, where: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.where = where


class RuleError(UcwaVcrError, ValueError):
    """A fault rule that cannot be used; str() names the rule and the field."""
