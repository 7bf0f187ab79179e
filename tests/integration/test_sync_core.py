"""The sync core over a recording destination: diffing, state after acknowledgement, dead
letters, dry run, backfill guard. (The real CRM adapters are tested against the sandbox.)"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from handoff.config import load_model
from handoff.crm.base import FieldSpec, ProvisionResult, RecordResult, TaskSpec, UpsertRecord
from handoff.pipeline import context_stage, extract_stage, route_stage, score_stage, triggers_stage
from handoff.sync.mapping import load_mapping
from handoff.sync.run import run_sync
from handoff.warehouse import Warehouse
from tests.conftest import SAMPLE_END

MODEL = load_model("pql_default")
MAPPING = load_mapping()


class RecordingDestination:
    """Keeps records in memory, counts calls, and rejects the keys it is told to reject."""

    name = "memory"

    def __init__(self) -> None:
        self.api_calls = 0
        self.records: dict[str, dict[str, Any]] = {}
        self.reject: set[str] = set()
        self.upserted: list[str] = []

    def provision(self, obj: str, group: str, fields: list[FieldSpec]) -> ProvisionResult:
        return ProvisionResult(created=[f.name for f in fields], existing=[])

    def upsert(self, obj: str, key_field: str, records: list[UpsertRecord]) -> list[RecordResult]:
        self.api_calls += 1
        out = []
        for rec in records:
            if rec.key in self.reject:
                out.append(RecordResult(rec.key, ok=False, error="INVALID_INTEGER: bad value"))
                continue
            created = rec.key not in self.records
            self.records[rec.key] = dict(rec.fields)
            self.upserted.append(rec.key)
            out.append(RecordResult(rec.key, ok=True, crm_id=f"id-{rec.key}", created=created))
        return out

    def read(self, obj: str, key_field: str, keys: list[str], fields: list[str]):
        self.api_calls += 1
        return {k: self.records[k] for k in keys if k in self.records}

    def owners(self) -> dict[str, str]:
        return {}

    def create_tasks(self, tasks: list[TaskSpec], task_key_field: str) -> list[RecordResult]:
        return []


@pytest.fixture(scope="module")
def scored_template(sample_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample scored, triggered, routed and packaged for two days (built once)."""
    path = tmp_path_factory.mktemp("scored") / "scored.duckdb"
    shutil.copy(sample_path, path)
    for day in (SAMPLE_END - timedelta(days=1), SAMPLE_END):
        extract_stage(str(path), day)
        score_stage(str(path), day)
        triggers_stage(str(path), day)
        route_stage(str(path), day)
        context_stage(str(path), day)
    return path


@pytest.fixture
def scored(scored_template: Path, tmp_path: Path) -> str:
    dest = tmp_path / "scored.duckdb"
    shutil.copy(scored_template, dest)
    return str(dest)


def sync(url: str, dest: RecordingDestination, **kw: Any):
    with Warehouse(url) as wh:
        return run_sync(wh, dest, MODEL, MAPPING, "hubspot", **kw)


def test_first_sync_then_rerun_sends_nothing(scored: str) -> None:
    dest = RecordingDestination()
    first = sync(scored, dest)
    assert first.as_of == SAMPLE_END
    n = first.records
    assert n > 100 and first.sent == n == first.created
    assert first.failed == 0
    record = dest.records["atlasbit.io"]
    assert record["handoff_account_key"] == "atlasbit.io"
    assert record["handoff_model_version"] == MODEL.model_version
    calls = dest.api_calls
    again = sync(scored, dest)
    assert again.sent == 0 and again.unchanged == n
    assert dest.api_calls == calls  # zero write calls


def test_changed_subset_only(scored: str) -> None:
    dest = RecordingDestination()
    n = sync(scored, dest).records
    with Warehouse(scored) as wh:
        wh.execute(
            "UPDATE score_history SET score = score + 1 WHERE entity_type = 'account' "
            f"AND as_of = TIMESTAMP '{SAMPLE_END}' AND entity_id IN ('atlasbit.io', 'atlasloop.com')"
        )
    dest.upserted.clear()
    result = sync(scored, dest)
    assert sorted(dest.upserted) == ["atlasbit.io", "atlasloop.com"]
    assert result.sent == 2 and result.updated == 2 and result.unchanged == n - 2


def test_rejected_record_is_dead_lettered_then_retried_until_it_succeeds(scored: str) -> None:
    dest = RecordingDestination()
    dest.reject = {"atlasbit.io"}
    first = sync(scored, dest)
    n = first.records
    assert first.failed == 1 and first.dead_lettered == 1 and first.sent == n
    with Warehouse(scored) as wh:
        dl = wh.query("SELECT * FROM dead_letter")
        assert list(dl["record_key"]) == ["atlasbit.io"]
        assert dl.loc[0, "error"] == "INVALID_INTEGER: bad value"
    second = sync(scored, dest)  # unchanged data, but the failure is retried
    assert second.sent == 1 and second.retried == 1 and second.failed == 1
    assert second.dead_lettered == 0  # same open dead letter, one more attempt
    dest.reject.clear()
    third = sync(scored, dest)
    assert third.sent == 1 and third.failed == 0
    with Warehouse(scored) as wh:
        dl = wh.query("SELECT attempts, resolved_at FROM dead_letter")
        assert dl.loc[0, "attempts"] == 2 and dl["resolved_at"].notna().all()
        assert wh.scalar("SELECT count(*) FROM sync_state WHERE last_status = 'ok'") == n
    assert sync(scored, dest).sent == 0


def test_dry_run_writes_nothing_and_previews_changes(scored: str) -> None:
    dest = RecordingDestination()
    preview = sync(scored, dest, dry_run=True)
    assert dest.upserted == []
    assert preview.sent == 0 and preview.records > 100
    rows = [p for p in preview.preview if p["key"] == "atlasbit.io"]
    assert {p["field"] for p in rows} >= {"handoff_account_key", "handoff_pqa_score"}
    assert all(p["old"] is None for p in rows)
    with Warehouse(scored) as wh:
        assert wh.scalar("SELECT count(*) FROM sync_state") == 0
    sync(scored, dest)
    with Warehouse(scored) as wh:
        wh.execute(
            "UPDATE score_history SET score = 1234.5 WHERE entity_type = 'account' "
            f"AND as_of = TIMESTAMP '{SAMPLE_END}' AND entity_id = 'atlasbit.io'"
        )
    preview = sync(scored, dest, dry_run=True)
    assert [(p["field"], p["new"]) for p in preview.preview] == [("handoff_pqa_score", 1234.5)]
    assert preview.preview[0]["old"] != 1234.5


def test_backfilled_snapshot_never_reaches_the_crm(scored: str) -> None:
    dest = RecordingDestination()
    result = sync(scored, dest, as_of=SAMPLE_END - timedelta(days=1))
    assert result.skipped_reason is not None and "backfill" in result.skipped_reason
    assert dest.api_calls == 0 and dest.records == {}
    with Warehouse(scored) as wh:
        runs = wh.query("SELECT skipped_reason, sent FROM sync_runs")
    assert runs.loc[0, "sent"] == 0 and "backfill" in runs.loc[0, "skipped_reason"]
