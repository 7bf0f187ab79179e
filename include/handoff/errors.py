"""Errors that tell the user which file, key or record is wrong, and what is wrong with it."""

from __future__ import annotations


class HandoffError(Exception):
    """Base class for errors Handoff reports to its users."""


class ConfigError(HandoffError):
    """A configuration file is missing, unreadable or invalid.

    `problems` lists (key path, message) pairs; the string form names the file and each key.
    """

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}: invalid configuration"]
        lines += [f"  - {key or '<root>'}: {msg}" for key, msg in problems]
        super().__init__("\n".join(lines))


class WarehouseError(HandoffError):
    """The warehouse refused a statement or is missing a table or column."""
