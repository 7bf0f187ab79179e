"""The domain map: each users' email domain -> its company's registrable domain (or none).

Feature SQL joins it (when it exists) so that `eu.acme.com` and `ACME.com` users roll up into
one `acme.com` account and personal mail never forms an organisation. Rebuilt in full on
every run; it is small (one row per distinct email domain).
"""

from __future__ import annotations

import pandas as pd

from handoff.config.source import SourceConfig
from handoff.enrich.domains import normalize_domains
from handoff.features import DOMAIN_MAP_TABLE
from handoff.warehouse import Warehouse, ident

DOMAIN_MAP_DDL = "email_domain VARCHAR NOT NULL, account_domain VARCHAR"


def write_domain_map(wh: Warehouse, source: SourceConfig) -> int:
    """Rebuild the domain map from the users table; returns the number of email domains."""
    u = source.users
    mail = wh.query(
        f"SELECT DISTINCT lower(trim(split_part({ident(u.email)}, '@', 2))) AS email_domain "
        f"FROM {ident(u.table)}"
    )["email_domain"].dropna()
    frame = pd.DataFrame(
        {
            "email_domain": mail.astype(str).to_numpy(),
            "account_domain": normalize_domains(mail, set(source.freemail_domains))
            .astype(object)
            .to_numpy(),
        }
    )
    frame["account_domain"] = frame["account_domain"].where(frame["account_domain"].notna(), None)
    return wh.replace_df(DOMAIN_MAP_TABLE, frame, {}, DOMAIN_MAP_DDL)
