"""Errors of the enrichment stage: each names the file, line, column or provider at fault."""

from __future__ import annotations

from handoff.errors import HandoffError


class EnrichmentError(HandoffError):
    """Enrichment cannot go on: bad provider data or a provider refusing us."""


class FirmographicsFileError(EnrichmentError):
    """A firmographics CSV is unreadable or malformed (the message names file, line, column)."""

    def __init__(self, path: str, line: int | None, column: str | None, problem: str) -> None:
        self.path, self.line, self.column, self.problem = path, line, column, problem
        where = path
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {problem}")


class ProviderAuthError(EnrichmentError):
    """The provider rejected the credentials (HTTP 401/403). Never carries the token."""
