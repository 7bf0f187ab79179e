"""The stages the DAGs, the CLI and the tests call: each opens the warehouse, runs, closes.

Every stage takes an explicit `as_of`; nothing reads the wall clock to decide what to score.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from handoff.config import load_model, load_source
from handoff.features import extract_features
from handoff.scoring import SCORE_HISTORY_TABLE, score_snapshot
from handoff.warehouse import Warehouse, literal, naive_utc

log = logging.getLogger(__name__)


def extract_stage(
    warehouse_url: str, as_of: datetime, source_path: str | Path | None = None
) -> dict[str, Any]:
    src = load_source(source_path)
    with Warehouse(warehouse_url) as wh:
        counts = extract_features(wh, src, as_of)
    return {"as_of": naive_utc(as_of).isoformat(), **asdict(counts)}


def score_stage(
    warehouse_url: str, as_of: datetime, model: str | Path | None = None
) -> dict[str, Any]:
    m = load_model(model)
    with Warehouse(warehouse_url) as wh:
        summary = score_snapshot(wh, m, as_of, where=str(model or "pql_default"))
    out = asdict(summary)
    out["as_of"] = summary.as_of.isoformat()
    return out


def top_accounts(
    warehouse_url: str, as_of: datetime, model_version: str, n: int = 10
) -> pd.DataFrame:
    """The n highest-scoring accounts of a snapshot, with their tier and reasons."""
    sql = f"""
        SELECT entity_id AS account, score, status, status_label, breakdown, reasons
        FROM {SCORE_HISTORY_TABLE}
        WHERE entity_type = 'account' AND as_of = {literal(naive_utc(as_of))}
          AND model_version = {literal(model_version)}
        ORDER BY score DESC, entity_id
        LIMIT {int(n)}
    """
    with Warehouse(warehouse_url) as wh:
        df = wh.query(sql)
    df["reasons"] = df["reasons"].map(json.loads)
    df["breakdown"] = df["breakdown"].map(json.loads)
    return df
