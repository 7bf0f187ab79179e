"""Company domains from emails, URLs and host names (offline public suffix snapshot)."""

from __future__ import annotations

import pandas as pd
import pytest

from handoff.config import load_source
from handoff.enrich.domains import normalize_domain, normalize_domains

FREEMAIL = set(load_source().freemail_domains)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("acme.com", "acme.com"),
        ("  ACME.com  ", "acme.com"),
        ("www.acme.com", "acme.com"),
        ("acme.com.", "acme.com"),
        ("app.eu.acme.com", "acme.com"),
        ("acme.co.uk", "acme.co.uk"),
        ("www.shop.acme.co.uk", "acme.co.uk"),
        ("Jane.Doe@Acme.com", "acme.com"),
        ("jane@mail.acme.co.uk", "acme.co.uk"),
        ("mailto:jane@acme.io", "acme.io"),
        ("https://www.acme.com/pricing?x=1#top", "acme.com"),
        ("http://user:secret@app.acme.com:8443/path", "acme.com"),
        ("acme.com:8080", "acme.com"),
        ("acme.com/about", "acme.com"),
        ("bücher.de", "xn--bcher-kva.de"),
    ],
)
def test_company_domains(value: str, expected: str) -> None:
    assert normalize_domain(value, FREEMAIL) == expected


@pytest.mark.parametrize(
    "value",
    [
        "gmail.com",
        "jane@gmail.com",
        "JANE@GMAIL.COM",
        "https://mail.yahoo.com/inbox",  # a subdomain of a free-mail domain
        "someone@googlemail.com",
        "192.168.1.10",
        "http://10.0.0.1:8080/x",
        "http://[::1]:80/",
        "2001:db8::1",
        "localhost",
        "intranet",
        "acme.invalid",  # no public suffix
        "not a domain",
        "foo..com",
        "-acme.com",
        "",
        "   ",
        None,
        42,
        "@",
    ],
)
def test_no_company(value: object) -> None:
    assert normalize_domain(value, FREEMAIL) is None


def test_free_mail_only_when_listed() -> None:
    assert normalize_domain("jane@gmail.com") == "gmail.com"
    assert normalize_domain("jane@gmail.com", {"gmail.com"}) is None


def test_series_keeps_index_and_gives_none() -> None:
    values = pd.Series(
        ["a@Acme.com", None, "b@gmail.com", "www.acme.com", float("nan"), "x.co.uk"],
        index=[10, 11, 12, 13, 14, 15],
    )
    out = normalize_domains(values, FREEMAIL)
    assert list(out.index) == [10, 11, 12, 13, 14, 15]
    assert out.tolist() == ["acme.com", None, None, "acme.com", None, "x.co.uk"]
