"""What one incremental read of one CRM object returned, before it is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Changes:
    """Full rows, partial rows (only some columns known: the stored values of `keep` stay),
    the new watermark (the newest last-modified time read, CRM clock) and the records read."""

    table: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    partial: list[dict[str, Any]] = field(default_factory=list)
    keep: tuple[str, ...] = ()
    watermark: datetime | None = None
    read: int = 0
