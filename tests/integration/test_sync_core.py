"""The sync core over a recording destination: diffing, state after acknowledgement, dead
letters, dry run, backfill guard, users and tasks. (The adapters and the whole sync are also
tested against the sandbox through the real client libraries.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from handoff.config import load_model
from handoff.crm.base import FieldSpec, ProvisionResult, RecordResult, TaskSpec, UpsertRecord
from handoff.sync.mapping import load_mapping
from handoff.sync.run import ObjectSummary, SyncSummary, run_sync
from handoff.warehouse import Warehouse
from tests.conftest import SAMPLE_END

MODEL = load_model("pql_default")
MAPPING = load_mapping()


class RecordingDestination:
    """Keeps records in memory, counts calls, and rejects the keys it is told to reject."""

    name = "memory"

    def __init__(self) -> None:
        self.api_calls = 0
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}
        self.reject: set[str] = set()
        self.upserted: list[str] = []
        self.tasks: dict[str, TaskSpec] = {}

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        return self.objects.get("companies", {})

    def provision(self, obj: str, group: str, fields: list[FieldSpec]) -> ProvisionResult:
        return ProvisionResult(created=[f.name for f in fields], existing=[])

    def upsert(self, obj: str, key_field: str, records: list[UpsertRecord]) -> list[RecordResult]:
        self.api_calls += 1
        out = []
        store = self.objects.setdefault(obj, {})
        for rec in records:
            if rec.key in self.reject:
                out.append(RecordResult(rec.key, ok=False, error="INVALID_INTEGER: bad value"))
                continue
            created = rec.key not in store
            store[rec.key] = dict(rec.fields)
            if obj == "companies":
                self.upserted.append(rec.key)
            out.append(RecordResult(rec.key, ok=True, crm_id=f"id-{rec.key}", created=created))
        return out

    def read(self, obj: str, key_field: str, keys: list[str], fields: list[str]):
        self.api_calls += 1
        store = self.objects.get(obj, {})
        return {k: store[k] for k in keys if k in store}

    def owners(self) -> dict[str, str]:
        return {}

    def create_tasks(self, tasks: list[TaskSpec], task_key_field: str) -> list[RecordResult]:
        self.api_calls += 1
        out = []
        for t in tasks:
            if t.account_key not in self.records:
                out.append(RecordResult(t.key, ok=False, error="ACCOUNT_NOT_FOUND"))
                continue
            created = t.key not in self.tasks
            self.tasks.setdefault(t.key, t)
            out.append(RecordResult(t.key, ok=True, crm_id=f"task-{t.key}", created=created))
        return out


def sync(url: str, dest: RecordingDestination, **kw: Any) -> SyncSummary:
    with Warehouse(url) as wh:
        return run_sync(wh, dest, MODEL, MAPPING, "hubspot", **kw)


def acc(summary: SyncSummary) -> ObjectSummary:
    return summary.objects["account"]


def test_first_sync_then_rerun_sends_nothing(scored: str) -> None:
    dest = RecordingDestination()
    first = sync(scored, dest)
    assert first.as_of == SAMPLE_END
    n = acc(first).records
    assert n > 100 and acc(first).sent == n == acc(first).created
    assert first.total("failed") == 0
    record = dest.records["atlasbit.io"]
    assert record["handoff_account_key"] == "atlasbit.io"
    assert record["handoff_model_version"] == MODEL.model_version
    assert record["name"]  # the account's name, so reps see a named company
    users = first.objects["user"]
    assert users.records == users.created == len(dest.objects["contacts"]) > 0
    contact = next(iter(dest.objects["contacts"].values()))
    assert contact["handoff_pql_status"] in ("hot", "warm") and contact["lastname"]
    calls = dest.api_calls
    again = sync(scored, dest)
    assert again.total("sent") == 0 and acc(again).unchanged == n
    assert again.objects["tasks"].unchanged == first.objects["tasks"].created
    assert dest.api_calls == calls  # zero calls of any kind


def test_changed_subset_only(scored: str) -> None:
    dest = RecordingDestination()
    n = acc(sync(scored, dest)).records
    with Warehouse(scored) as wh:
        wh.execute(
            "UPDATE score_history SET score = score + 1 WHERE entity_type = 'account' "
            f"AND as_of = TIMESTAMP '{SAMPLE_END}' AND entity_id IN ('atlasbit.io', 'atlasloop.com')"
        )
    dest.upserted.clear()
    result = sync(scored, dest)
    assert sorted(dest.upserted) == ["atlasbit.io", "atlasloop.com"]
    assert acc(result).sent == 2 and acc(result).updated == 2 and acc(result).unchanged == n - 2
    assert result.objects["user"].sent == 0


def test_rejected_record_is_dead_lettered_then_retried_until_it_succeeds(scored: str) -> None:
    dest = RecordingDestination()
    dest.reject = {"atlasbit.io"}
    first = acc(sync(scored, dest))
    n = first.records
    assert first.failed == 1 and first.dead_lettered == 1 and first.sent == n
    with Warehouse(scored) as wh:
        dl = wh.query("SELECT * FROM dead_letter")
        assert list(dl["record_key"]) == ["atlasbit.io"]
        assert dl.loc[0, "error"] == "INVALID_INTEGER: bad value"
    second = acc(sync(scored, dest))  # unchanged data, but the failure is retried
    assert second.sent == 1 and second.retried == 1 and second.failed == 1
    assert second.dead_lettered == 0  # same open dead letter, one more attempt
    dest.reject.clear()
    third = acc(sync(scored, dest))
    assert third.sent == 1 and third.failed == 0
    with Warehouse(scored) as wh:
        dl = wh.query("SELECT attempts, resolved_at FROM dead_letter")
        assert dl.loc[0, "attempts"] == 2 and dl["resolved_at"].notna().all()
        ok = "SELECT count(*) FROM sync_state WHERE last_status = 'ok' AND object = 'companies'"
        assert wh.scalar(ok) == n
    assert sync(scored, dest).total("sent") == 0


def test_dry_run_writes_nothing_and_previews_changes(scored: str) -> None:
    dest = RecordingDestination()
    preview = sync(scored, dest, dry_run=True)
    assert dest.upserted == [] and dest.tasks == {}
    assert preview.total("sent") == 0 and acc(preview).records > 100
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
    assert [(p["field"], p["new"]) for p in preview.preview] == [("handoff_pqa_score", 1234)]
    assert preview.objects["tasks"].unchanged == len(dest.tasks)
    assert preview.preview[0]["old"] != 1234


def test_backfilled_snapshot_never_reaches_the_crm(scored: str) -> None:
    dest = RecordingDestination()
    result = sync(scored, dest, as_of=SAMPLE_END - timedelta(days=1))
    assert result.skipped_reason is not None and "backfill" in result.skipped_reason
    assert dest.api_calls == 0 and dest.records == {} and dest.tasks == {}
    with Warehouse(scored) as wh:
        runs = wh.query("SELECT skipped_reason, sent FROM sync_runs")
    assert runs.loc[0, "sent"] == 0 and "backfill" in runs.loc[0, "skipped_reason"]


def test_one_task_per_routed_episode_due_at_the_sla(scored: str) -> None:
    dest = RecordingDestination()
    result = sync(scored, dest)
    with Warehouse(scored) as wh:
        routed = wh.query(
            "SELECT episode_id, account_domain, owner_email, sla_due_at FROM routing_decisions "
            f"WHERE as_of = TIMESTAMP '{SAMPLE_END}' AND decision = 'routed'"
        )
    assert len(routed) > 0
    assert set(dest.tasks) == set(routed["episode_id"].astype(str))
    assert result.objects["tasks"].created == len(routed)
    row = routed.iloc[0]
    task = dest.tasks[str(row["episode_id"])]
    assert task.account_key == row["account_domain"] and task.owner_email == row["owner_email"]
    assert task.due_at == row["sla_due_at"].to_pydatetime()
    assert "Trigger:" in task.body and "TALKING POINTS" in task.body  # the context package


def test_a_task_waits_for_its_account(scored: str) -> None:
    dest = RecordingDestination()
    with Warehouse(scored) as wh:
        domain = wh.scalar(
            "SELECT min(account_domain) FROM routing_decisions "
            f"WHERE as_of = TIMESTAMP '{SAMPLE_END}' AND decision = 'routed'"
        )
    dest.reject = {domain}
    first = sync(scored, dest)
    assert first.objects["tasks"].pending == 1
    assert all(t.account_key != domain for t in dest.tasks.values())
    dest.reject.clear()
    second = sync(scored, dest)
    assert second.objects["tasks"].created == 1 and second.objects["tasks"].pending == 0
    assert any(t.account_key == domain for t in dest.tasks.values())


def test_the_scoring_time_alone_sends_nothing_and_rounding_hides_noise(scored: str) -> None:
    dest = RecordingDestination()
    where = f"entity_type = 'account' AND as_of = TIMESTAMP '{SAMPLE_END}'"
    with Warehouse(scored) as wh:
        wh.execute(f"UPDATE score_history SET score = floor(score) + 0.1 WHERE {where}")
    sync(scored, dest)
    with Warehouse(scored) as wh:
        # a decaying signal moves scores by fractions of a point every day
        wh.execute(f"UPDATE score_history SET score = score + 0.2 WHERE {where}")
    again = sync(scored, dest)
    assert acc(again).sent == 0  # PQA scores are written rounded to whole points
    with Warehouse(scored) as wh:
        wh.execute(
            f"UPDATE score_history SET score = score + 3 WHERE {where} AND entity_id = 'atlasbit.io'"
        )
    changed = sync(scored, dest)
    assert acc(changed).sent == 1
    assert dest.records["atlasbit.io"]["handoff_scored_at"] is not None  # sent along with it


def test_an_adapter_chooses_how_many_records_it_is_handed(scored: str) -> None:
    dest = RecordingDestination()
    dest.batch_records = 50  # type: ignore[attr-defined]
    sizes: list[int] = []
    upsert = dest.upsert

    def counting(obj: str, key_field: str, records: list[UpsertRecord]) -> list[RecordResult]:
        if obj == "companies":
            sizes.append(len(records))
        return upsert(obj, key_field, records)

    dest.upsert = counting  # type: ignore[method-assign]
    n = acc(sync(scored, dest)).records
    assert sizes == [50] * (n // 50) + ([n % 50] if n % 50 else [])
