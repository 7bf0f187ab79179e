"""A Clearbit-like firmographics CSV for the sample product, derived from its accounts.

Each account's name, head count and industry come from the accounts table; its country is
drawn from a hash of the domain and its annual revenue from its size (revenue per employee
also drawn from the hash). About `missing_share` of the domains are left out, so the
enrichment stage meets companies the provider does not know. Same warehouse, same file.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import duckdb

# (ISO 3166-1 alpha-2, weight): a B2B SaaS customer base, US-heavy
COUNTRIES = [
    ("US", 45), ("GB", 10), ("DE", 8), ("CA", 6), ("FR", 5), ("AU", 4), ("NL", 4),
    ("IN", 4), ("SE", 3), ("BR", 3), ("ES", 2), ("SG", 2), ("JP", 2), ("IE", 2),
]  # fmt: skip
CSV_COLUMNS = ["domain", "name", "employees", "industry", "country", "annual_revenue"]


def _unit(domain: str, salt: str) -> float:
    """A number in [0, 1) fixed by the domain (stable across runs and platforms)."""
    digest = hashlib.sha256(f"{salt}:{domain}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def country_of(domain: str) -> str:
    total = sum(w for _, w in COUNTRIES)
    point = _unit(domain, "country") * total
    for code, weight in COUNTRIES:
        point -= weight
        if point < 0:
            return code
    return COUNTRIES[-1][0]


def revenue_of(domain: str, employees: int | None) -> float | None:
    """Annual revenue in USD: head count x 60k-250k per employee, rounded to 10k."""
    if employees is None:
        return None
    per_employee = 60_000 + 190_000 * _unit(domain, "revenue")
    return float(round(employees * per_employee, -4))


def is_left_out(domain: str, missing_share: float) -> bool:
    return _unit(domain, "missing") < missing_share


def write_firmographics_csv(
    warehouse_path: str | Path, out_csv: str | Path, missing_share: float = 0.05
) -> int:
    """Write the CSV for the accounts in the DuckDB sample at `warehouse_path`.

    Returns the number of companies written (the accounts less the ~5% left out).
    """
    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT domain, name, employees, industry FROM accounts ORDER BY domain"
        ).fetchall()
    finally:
        con.close()
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    written = 0
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for domain, name, employees, industry in rows:
            if is_left_out(domain, missing_share):
                continue
            employees = None if employees is None else int(employees)
            revenue = revenue_of(domain, employees)
            writer.writerow(
                [
                    domain,
                    name,
                    "" if employees is None else employees,
                    industry or "",
                    country_of(domain),
                    "" if revenue is None else f"{revenue:.0f}",
                ]
            )
            written += 1
    tmp.replace(out)
    return written
