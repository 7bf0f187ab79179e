"""The same data gives identical features and scores on DuckDB and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from handoff.config import load_model, load_source
from handoff.features import extract_features
from handoff.scoring import score_snapshot
from handoff.warehouse import Warehouse
from tests.conftest import SAMPLE_END

pytestmark = pytest.mark.postgres


def _copy_sample_to_postgres(sample: Path, pg: Warehouse) -> None:
    con = duckdb.connect(str(sample), read_only=True)
    for table in ("accounts", "users", "events"):
        pg.load_df(table, con.sql(f"SELECT * FROM {table}").df())
    con.close()


@pytest.mark.parametrize("model_name", ["pql_default", "pql_fit_value_intent"])
def test_duckdb_and_postgres_score_identically(
    sample_copy: Path, pg_url: str, model_name: str
) -> None:
    model = load_model(model_name)
    src = load_source()
    out = {}
    with Warehouse(pg_url) as pg:
        assert pg.dialect == "postgres"
        _copy_sample_to_postgres(sample_copy, pg)
    for name, url in (("duckdb", str(sample_copy)), ("postgres", pg_url)):
        with Warehouse(url) as wh:
            extract_features(wh, src, SAMPLE_END)
            score_snapshot(wh, model, SAMPLE_END)
            scores = wh.query(
                "SELECT entity_type, entity_id, score, status, breakdown, reasons "
                "FROM score_history ORDER BY entity_type, entity_id"
            )
            feats = wh.query("SELECT * FROM account_features ORDER BY account_domain")
        out[name] = (scores, feats)
    duck, pg_ = out["duckdb"], out["postgres"]
    assert len(duck[0]) > 100
    pd.testing.assert_frame_equal(duck[0], pg_[0], check_dtype=False)
    cols = [c for c in duck[1].columns if c not in ("as_of",)]
    pd.testing.assert_frame_equal(
        duck[1][cols].reset_index(drop=True),
        pg_[1][cols].reset_index(drop=True),
        check_dtype=False,
    )
