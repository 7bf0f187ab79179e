"""Company domains from emails, URLs and host names: one registrable domain per company.

`normalize_domain("Jane@Mail.Acme.co.uk", freemail)` is "acme.co.uk". Personal mail
domains (gmail.com, ...), IP addresses and anything without a public suffix give None: a
personal address never forms an organisation. The public suffix list is tldextract's
bundled snapshot; nothing is fetched from the network.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from functools import lru_cache

import pandas as pd
import tldextract

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    # no suffix_list_urls and no cache dir: the bundled snapshot only, no network, no files
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _host(value: str) -> str:
    """The host part of an email, a URL or a bare host name, lower-cased."""
    text = value.strip().lower()
    text = text.removeprefix("mailto:")
    if "://" in text:
        text = text.split("://", 1)[1]
    text = re.split(r"[/?#]", text, maxsplit=1)[0]
    if "@" in text:  # an email, or user:password@host in a URL
        text = text.rsplit("@", 1)[1]
    if text.startswith("["):  # [IPv6]:port
        return text.split("]", 1)[0].lstrip("[")
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.strip().strip(".").removeprefix("www.")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _ascii(host: str) -> str | None:
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def normalize_domain(value: object, freemail: Collection[str] = ()) -> str | None:
    """The registrable company domain of an email, URL or domain; None if there is none.

    Lower-cases and strips whitespace, scheme, user info, path, port and `www.`; maps a
    subdomain to its registrable domain (`eu.app.acme.co.uk` -> `acme.co.uk`). Returns None
    for personal mail domains in `freemail`, IP addresses, and junk (no public suffix,
    invalid labels, empty or non-string input).
    """
    if not isinstance(value, str) or not value.strip():
        return None
    host = _host(value)
    if not host or _is_ip(host):
        return None
    host = _ascii(host)
    if host is None or not all(_LABEL.match(label) for label in host.split(".")):
        return None
    ext = _extractor()(host)
    if not ext.suffix or not ext.domain:
        return None
    domain = f"{ext.domain}.{ext.suffix}"
    if host in freemail or domain in freemail:
        return None
    return domain


def normalize_domains(values: pd.Series, freemail: Collection[str] = ()) -> pd.Series:
    """`normalize_domain` over a Series (each distinct value is worked out once)."""
    free = frozenset(freemail)
    mapping = {v: normalize_domain(v, free) for v in pd.unique(values.dropna())}
    return pd.Series(
        [mapping.get(v) if isinstance(v, str) else None for v in values],
        index=values.index,
        dtype=object,
        name=values.name,
    )
