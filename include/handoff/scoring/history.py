"""Score one as_of snapshot and append it to score_history (idempotent per slice)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from handoff.config.model import ScoringModel
from handoff.features import ACCOUNT_FEATURES_TABLE, USER_FEATURES_TABLE
from handoff.scoring.engine import score_frames
from handoff.warehouse import Warehouse, literal, naive_utc

log = logging.getLogger(__name__)

SCORE_HISTORY_TABLE = "score_history"
SCORE_HISTORY_DDL = """
    as_of TIMESTAMP NOT NULL,
    model_version VARCHAR NOT NULL,
    entity_type VARCHAR NOT NULL,
    entity_id VARCHAR NOT NULL,
    account_domain VARCHAR,
    score DOUBLE,
    status VARCHAR,
    status_label VARCHAR,
    breakdown VARCHAR,
    reasons VARCHAR,
    scored_at TIMESTAMP
"""


@dataclass(frozen=True)
class SnapshotSummary:
    as_of: datetime
    model_version: str
    users: int
    accounts: int
    user_status_counts: dict[str, int]
    account_tier_counts: dict[str, int]
    skipped_signals: list[str]


def score_snapshot(
    wh: Warehouse, model: ScoringModel, as_of: datetime, where: str = "model"
) -> SnapshotSummary:
    """Score the feature slice of `as_of` and replace its rows in score_history.

    The (as_of, model_version) slice is deleted and rewritten in one transaction, so a
    rerun replaces rows and never duplicates them.
    """
    as_of = naive_utc(as_of)
    users = wh.query(
        f"SELECT * FROM {USER_FEATURES_TABLE} WHERE as_of = {literal(as_of)} ORDER BY user_id"
    )
    accounts = wh.query(
        f"SELECT * FROM {ACCOUNT_FEATURES_TABLE} WHERE as_of = {literal(as_of)} "
        "ORDER BY account_domain"
    )
    if users.empty:
        log.warning("no user features as of %s: nothing to score", as_of)
    result = score_frames(model, users, accounts, as_of, where=where)
    now = datetime.now(UTC).replace(tzinfo=None)
    frames = []
    for kind, df in (("user", result.users), ("account", result.accounts)):
        frames.append(
            df.assign(
                as_of=as_of,
                model_version=model.model_version,
                entity_type=kind,
                scored_at=now,
            )
        )
    rows = pd.concat(frames, ignore_index=True)[
        [
            "as_of", "model_version", "entity_type", "entity_id", "account_domain", "score",
            "status", "status_label", "breakdown", "reasons", "scored_at",
        ]
    ]  # fmt: skip
    wh.replace_df(
        SCORE_HISTORY_TABLE,
        rows,
        {"as_of": as_of, "model_version": model.model_version},
        SCORE_HISTORY_DDL,
    )
    summary = SnapshotSummary(
        as_of=as_of,
        model_version=model.model_version,
        users=len(result.users),
        accounts=len(result.accounts),
        user_status_counts=result.users["status"].value_counts().to_dict(),
        account_tier_counts=result.accounts["status"].value_counts().to_dict(),
        skipped_signals=result.skipped_signals,
    )
    log.info(
        "scored %d users and %d accounts as of %s with %s: tiers %s",
        summary.users, summary.accounts, as_of, model.model_version, summary.account_tier_counts,
    )  # fmt: skip
    return summary
