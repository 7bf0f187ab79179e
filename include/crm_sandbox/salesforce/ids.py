"""Salesforce-style record ids: 15 case-sensitive characters plus a 3-character checksum."""

from __future__ import annotations

import re

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")

# Key prefixes of the objects the sandbox emulates.
KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "Lead": "00Q",
    "Opportunity": "006",
    "Task": "00T",
    "User": "005",
    "CustomField": "00N",
    "BulkJob": "750",
    "QueryLocator": "01g",
}


def checksum(id15: str) -> str:
    """The 3-character suffix Salesforce appends to a 15-character id."""
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def make_id(prefix: str, counter: int, pod: str = "Hd") -> str:
    """An 18-character id: key prefix, a fixed pod part, a base-62 counter, the checksum."""
    digits = []
    n = counter
    while n:
        n, r = divmod(n, 62)
        digits.append(_BASE62[r])
    body = "".join(reversed(digits)).rjust(15 - len(prefix) - len(pod) - 1, "0")
    id15 = f"{prefix}{pod}0{body}"
    if len(id15) != 15:
        raise ValueError(f"counter {counter} does not fit a 15-character id")
    return id15 + checksum(id15)


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None when malformed."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        return None
    id15 = value[:15]
    return id15 + checksum(id15)


def prefix_of(record_id: str) -> str:
    return record_id[:3]
