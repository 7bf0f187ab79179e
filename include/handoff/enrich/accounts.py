"""Which domains to enrich, and the ICP fit of the accounts from the stored firmographics."""

from __future__ import annotations

import pandas as pd

from handoff.config.source import SourceConfig
from handoff.enrich.cache import FIRMOGRAPHICS_COLUMNS, read_firmographics
from handoff.enrich.domains import normalize_domains
from handoff.enrich.icp import IcpConfig, fit
from handoff.warehouse import Warehouse, ident


def domains_to_enrich(wh: Warehouse, source: SourceConfig) -> list[str]:
    """Company domains of the accounts table and of users' work emails, normalised.

    Personal mail domains (source.freemail_domains), IPs and junk are left out.
    """
    a, u = source.accounts, source.users
    acc = wh.query(f"SELECT DISTINCT {ident(a.domain)} AS v FROM {ident(a.table)}")["v"]
    mail = wh.query(
        f"SELECT DISTINCT split_part({ident(u.email)}, '@', 2) AS v FROM {ident(u.table)}"
    )["v"]
    values = pd.concat([acc, mail], ignore_index=True)
    found = normalize_domains(values, set(source.freemail_domains)).dropna()
    return sorted(set(found))


def account_fit(wh: Warehouse, icp: IcpConfig, domains: list[str] | None = None) -> pd.DataFrame:
    """Stored firmographics with the ICP fit columns, one row per domain in `domains`
    (default: every stored domain). Domains never enriched come back with status None and
    fit_tier 'unknown'."""
    firmo = read_firmographics(wh, domains)
    if domains is not None:
        frame = pd.DataFrame({"domain": sorted(set(domains))})
        firmo = frame.merge(firmo, on="domain", how="left")[FIRMOGRAPHICS_COLUMNS]
        firmo["status"] = firmo["status"].astype(object).where(firmo["status"].notna(), None)
    return fit(firmo, icp)
