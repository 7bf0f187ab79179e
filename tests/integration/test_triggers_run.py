"""run_triggers on a scored sample warehouse: the frame, idempotent reruns, state carried
between as_ofs, customers, and the same run on PostgreSQL."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from handoff.errors import HandoffError
from handoff.pipeline import extract_stage, score_stage
from handoff.sla import load_calendar
from handoff.triggers import load_triggers, run_triggers, trigger_frame
from handoff.triggers.frame import FRAME_FEATURES
from handoff.warehouse import Warehouse
from tests.conftest import SAMPLE_END

DAY1 = SAMPLE_END - timedelta(days=2)
DAY2 = SAMPLE_END - timedelta(days=1)


def _score(url: str, *days: datetime) -> str:
    version = ""
    for day in days:
        extract_stage(url, day)
        version = score_stage(url, day)["model_version"]
    return version


@pytest.fixture(scope="module")
def scored_path(sample_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The sample with features and scores of DAY1 and DAY2 (copy it before writing)."""
    path = tmp_path_factory.mktemp("triggers") / "scored.duckdb"
    shutil.copy(sample_path, path)
    return path, _score(str(path), DAY1, DAY2)


@pytest.fixture
def scored(scored_path: tuple[Path, str], tmp_path: Path) -> tuple[str, str]:
    """A writable copy of the scored sample: (warehouse url, model version)."""
    dest = tmp_path / "scored.duckdb"
    shutil.copy(scored_path[0], dest)
    return str(dest), scored_path[1]


def _events(wh: Warehouse) -> pd.DataFrame:
    return wh.query(
        "SELECT * FROM trigger_events ORDER BY fired_at, account_domain, trigger_id"
    ).reset_index(drop=True)


def _evaluations(wh: Warehouse) -> pd.DataFrame:
    return wh.query(
        "SELECT * FROM trigger_evaluations ORDER BY as_of, account_domain, trigger_id"
    ).reset_index(drop=True)


def test_frame_on_the_sample(scored: tuple[str, str]) -> None:
    url, mv = scored
    with Warehouse(url) as wh:
        frame = trigger_frame(wh, DAY2, mv)
        n_accounts = wh.scalar(f"SELECT count(*) FROM account_features WHERE as_of = '{DAY2}'")
    assert len(frame) == n_accounts and frame["account_domain"].is_unique
    assert set(FRAME_FEATURES) <= set(frame.columns)
    assert (frame["prev_as_of"] == pd.Timestamp(DAY1)).all()
    assert frame["hot_users"].sum() > 0 and frame["enterprise_interest_7d"].sum() > 0
    assert frame["pricing_max_seconds_7d"].max() > 0
    assert (frame["pricing_max_seconds_7d"] <= frame["max_pricing_seconds_30d"]).all()
    assert frame["is_customer"].sum() == (frame["plan"] == "business").sum() > 0
    assert frame["tier_rank"].notna().all()


def test_run_is_idempotent_and_carries_state(scored: tuple[str, str]) -> None:
    url, mv = scored
    cfg, cal = load_triggers(), load_calendar()
    with Warehouse(url) as wh:
        first = run_triggers(wh, DAY1, mv, cfg, cal)
        assert first.previous_as_of is None
        assert first.evaluated == len(cfg.triggers) * wh.scalar(
            f"SELECT count(*) FROM account_features WHERE as_of = '{DAY1}'"
        )
        assert first.fired > 0 and first.fired == sum(first.by_trigger.values())
        events1, evals1 = _events(wh), _evaluations(wh)

        again = run_triggers(wh, DAY1, mv, cfg, cal)
        assert again == first
        pd.testing.assert_frame_equal(_events(wh), events1)
        pd.testing.assert_frame_equal(_evaluations(wh), evals1)

        second = run_triggers(wh, DAY2, mv, cfg, cal)
        assert second.previous_as_of == DAY1
        events2 = _events(wh)
        # no (account, trigger) pair fires on both days: an episode fires once
        pairs = events2.groupby(["account_domain", "trigger_id"]).size()
        assert (pairs == 1).all()
        # what fired on day 2 did not hold on day 1
        day2 = events2[events2["fired_at"] == DAY2]
        held1 = evals1[evals1["holds"]].set_index(["account_domain", "trigger_id"]).index
        fired_again = day2.set_index(["account_domain", "trigger_id"]).index.intersection(held1)
        assert fired_again.empty
        # rerunning day 1 after day 2 leaves everything as it was
        run_triggers(wh, DAY1, mv, cfg, cal)
        pd.testing.assert_frame_equal(_events(wh), events2)
        assert run_triggers(wh, DAY2, mv, cfg, cal) == second
        pd.testing.assert_frame_equal(_events(wh), events2)
        # SLA due dates are after the firing
        assert (events2["sla_due_at"] > events2["fired_at"]).all()


def test_customers_table_decides_who_is_a_customer(scored: tuple[str, str]) -> None:
    url, mv = scored
    con = duckdb.connect(url)
    customer = con.execute(
        "SELECT account_domain FROM account_features WHERE enterprise_interest_30d > 0 "
        "ORDER BY account_domain LIMIT 1"
    ).fetchone()[0]
    con.execute(f"CREATE TABLE customers AS SELECT '{customer.upper()}' AS account_domain")
    con.close()
    with Warehouse(url) as wh:
        frame = trigger_frame(wh, DAY1, mv)
        assert frame.loc[frame["is_customer"], "account_domain"].tolist() == [customer]
        run_triggers(wh, DAY1, mv)
        ev = wh.query(f"SELECT * FROM trigger_events WHERE account_domain = '{customer}'")
    expansion = {t.id for t in load_triggers().triggers if t.expansion}
    assert set(ev["trigger_id"]) <= expansion
    assert ev["is_customer"].all()


def test_needs_features_and_scores(sample_copy: Path, scored: tuple[str, str]) -> None:
    with Warehouse(str(sample_copy)) as wh, pytest.raises(HandoffError, match="extract the"):
        run_triggers(wh, DAY1, "pql_default@2026.11.1")
    with Warehouse(scored[0]) as wh, pytest.raises(HandoffError, match="score that snapshot"):
        run_triggers(wh, DAY1, "pql_default@nope")
    with Warehouse(scored[0]) as wh:  # nothing was written
        assert not wh.has_table("trigger_events")


@pytest.mark.postgres
def test_postgres_matches_duckdb(scored: tuple[str, str], pg_url: str) -> None:
    con = duckdb.connect(scored[0], read_only=True)
    with Warehouse(pg_url) as pg:
        for table in ("accounts", "users", "events"):
            pg.load_df(table, con.sql(f"SELECT * FROM {table}").df())
    con.close()
    out = {}
    mv = _score(pg_url, DAY1, DAY2)
    assert mv == scored[1]
    for name, url in (("duckdb", scored[0]), ("postgres", pg_url)):
        with Warehouse(url) as wh:
            summaries = [run_triggers(wh, d, mv) for d in (DAY1, DAY2)]
            assert run_triggers(wh, DAY2, mv) == summaries[-1]  # idempotent there too
            out[name] = (summaries, _events(wh).drop(columns=["evidence"]))
    assert out["duckdb"][0] == out["postgres"][0]
    pd.testing.assert_frame_equal(out["duckdb"][1], out["postgres"][1], check_dtype=False)
