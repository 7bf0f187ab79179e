"""The sample warehouse, score_history idempotency, and scoring without some firmographics."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from handoff.config import load_model, load_source
from handoff.config.loader import DEFAULT_CONFIG_DIR
from handoff.features import extract_features
from handoff.sample import SampleSpec, generate
from handoff.scoring import score_snapshot
from handoff.warehouse import Warehouse
from tests.conftest import SAMPLE_END

FAMILIES = load_source().event_families


def test_sample_covers_every_signal_family(sample_path: Path) -> None:
    con = duckdb.connect(str(sample_path), read_only=True)
    names = {r[0] for r in con.sql("SELECT DISTINCT event_name FROM events").fetchall()}
    con.close()
    for family, events in FAMILIES.items():
        assert set(events) <= names, f"family {family} has no events in the sample"


def test_sample_shape(sample_path: Path) -> None:
    con = duckdb.connect(str(sample_path), read_only=True)
    q = lambda sql: con.execute(sql).fetchall()[0]  # noqa: E731
    assert q("SELECT count(*) FROM accounts")[0] == 150
    assert q("SELECT max(occurred_at) < TIMESTAMP '2026-11-01' FROM events")[0]
    assert q("SELECT count(*) FROM users WHERE email LIKE '%@gmail.com'")[0] > 0
    assert q("SELECT count(DISTINCT title) FROM users")[0] > 20
    trajectories = {
        r[0] for r in con.sql("SELECT DISTINCT trajectory FROM hidden_propensity").fetchall()
    }
    assert trajectories == {"growth", "stable", "decline", "churn"}
    # the hidden truth is its own table and no scoring input
    assert "propensity" not in [c[0] for c in con.sql("DESCRIBE accounts").fetchall()]
    con.close()


def test_generator_is_deterministic(tmp_path: Path) -> None:
    spec = SampleSpec(accounts=40, seed=3, end=SAMPLE_END, days=60)
    summaries = [generate(tmp_path / f"{i}.duckdb", spec) for i in range(2)]
    assert summaries[0].events == summaries[1].events
    frames = []
    for i in range(2):
        con = duckdb.connect(str(tmp_path / f"{i}.duckdb"), read_only=True)
        frames.append(con.sql("SELECT * FROM events ORDER BY event_id").df())
        con.close()
    pd.testing.assert_frame_equal(frames[0], frames[1])


def test_score_history_rerun_replaces_and_new_as_of_appends(sample_copy: Path) -> None:
    model = load_model("pql_default")
    with Warehouse(sample_copy) as wh:
        extract_features(wh, load_source(), SAMPLE_END)
        first = score_snapshot(wh, model, SAMPLE_END)
        score_snapshot(wh, model, SAMPLE_END)
        n = wh.scalar("SELECT count(*) FROM score_history")
        assert n == first.users + first.accounts
        earlier = SAMPLE_END - timedelta(days=7)
        extract_features(wh, load_source(), earlier)
        second = score_snapshot(wh, model, earlier)
        assert wh.scalar("SELECT count(*) FROM score_history") == n + second.users + second.accounts
        # a second model version writes beside, never over, the first
        other = score_snapshot(wh, load_model("pql_fit_value_intent"), SAMPLE_END)
        by_model = wh.query(
            "SELECT model_version, count(*) AS n FROM score_history "
            f"WHERE as_of = TIMESTAMP '{SAMPLE_END}' GROUP BY 1 ORDER BY 1"
        )
        assert list(by_model["n"]) == [first.users + first.accounts, other.users + other.accounts]
        dupes = wh.scalar(
            "SELECT count(*) FROM (SELECT as_of, model_version, entity_type, entity_id "
            "FROM score_history GROUP BY ALL HAVING count(*) > 1)"
        )
        assert dupes == 0


def test_scores_track_the_hidden_propensity(sample_copy: Path) -> None:
    with Warehouse(sample_copy) as wh:
        extract_features(wh, load_source(), SAMPLE_END)
        score_snapshot(wh, load_model("pql_default"), SAMPLE_END)
        corr = wh.scalar(
            "SELECT corr(h.score, p.propensity) FROM score_history h "
            "JOIN hidden_propensity p ON p.entity = h.entity_id WHERE h.entity_type = 'account'"
        )
    assert corr > 0.2


def test_scoring_without_an_industry_column(sample_copy: Path, tmp_path: Path) -> None:
    data = yaml.safe_load((DEFAULT_CONFIG_DIR / "source.yaml").read_text())
    data["accounts"]["firmographics"] = {"employees": "employees"}
    src_path = tmp_path / "source.yaml"
    src_path.write_text(yaml.safe_dump(data))
    with Warehouse(sample_copy) as wh:
        extract_features(wh, load_source(src_path), SAMPLE_END)
        summary = score_snapshot(wh, load_model("pql_default"), SAMPLE_END)
    assert summary.skipped_signals == ["target_industry", "icp_match"]
    assert "tier_1" not in summary.account_tier_counts  # tier 1 needs an ICP match
