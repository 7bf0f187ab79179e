"""The whole sync against the CRM sandbox, for both CRMs: connection -> destination ->
provisioning -> accounts, PQL users and rep tasks, through the real hubspot-api-client and
simple-salesforce over HTTPS. The sandbox's request log is the referee for what was written.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests

from crm_sandbox.server import SandboxServer
from handoff.crm.connect import (
    ConnectionFields,
    connection_from_env,
    hubspot_destination,
    salesforce_destination,
)
from handoff.pipeline import sync_stage
from handoff.sync.mapping import load_mapping
from handoff.warehouse import Warehouse
from tests.conftest import SAMPLE_END

MAPPING = load_mapping()
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
READ_POSTS = ("/batch/read", "/search", "/query")  # POSTs that only read (HubSpot)
ACCOUNT = {"hubspot": "companies", "salesforce": "Account"}
USER = {"hubspot": "contacts", "salesforce": "Lead"}


SANDBOX_USERS = "roster"  # routed owners resolve to CRM users (conftest)


def connection(server: SandboxServer, crm: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The destination built the way the CLI builds it: from an AIRFLOW_CONN_* variable."""
    extra: dict[str, Any] = {"ca_bundle": server.ca_bundle}
    if crm == "hubspot":
        conn = {"conn_type": "http", "host": server.base_url, "password": server.token}
    else:
        extra["instance_url"] = server.base_url
        conn = {"conn_type": "salesforce", "password": server.token}
    monkeypatch.setenv(f"AIRFLOW_CONN_{crm.upper()}_DEFAULT", json.dumps(conn | {"extra": extra}))
    fields = connection_from_env(f"{crm}_default")
    key = MAPPING.account.key(crm).name(crm)  # type: ignore[arg-type]
    if crm == "hubspot":
        dest = hubspot_destination(fields, company_key_field=key)
        dest.backoff_initial, dest.backoff_max = 0.01, 0.05
        return dest
    dest = salesforce_destination(fields, account_key_field=key)
    dest.backoff_initial, dest.backoff_max = 0.01, 0.05
    return dest


def writes(server: SandboxServer, since: str | None = None) -> list[dict]:
    log = server.requests(since=since) if since else server.requests()
    return [
        r
        for r in log
        if r["method"] in WRITES
        and not any(r["path"].endswith(p) or p + "?" in r["path"] for p in READ_POSTS)
        and "/query" not in r["path"]
    ]


def crm_records(server: SandboxServer, crm: str, obj: str, fields: list[str]) -> list[dict]:
    """Every live record of an object, read straight from the sandbox's API."""
    dest_session = requests.Session()
    dest_session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    dest_session.verify = server.ca_bundle
    headers = {"Authorization": f"Bearer {server.token}"}
    out: list[dict] = []
    if crm == "hubspot":
        after = None
        while True:
            params = {"limit": 100, "properties": ",".join(fields)}
            if after:
                params["after"] = after
            r = dest_session.get(
                f"{server.base_url}/crm/v3/objects/{obj}", params=params, headers=headers
            )
            body = r.json()
            out += [x["properties"] | {"id": x["id"]} for x in body["results"]]
            after = body.get("paging", {}).get("next", {}).get("after")
            if not after:
                return out
    url = f"{server.base_url}/services/data/v62.0/query"
    r = dest_session.get(
        url, params={"q": f"SELECT Id, {', '.join(fields)} FROM {obj}"}, headers=headers
    )
    body = r.json()
    out += body["records"]
    while not body["done"]:
        body = dest_session.get(server.base_url + body["nextRecordsUrl"], headers=headers).json()
        out += body["records"]
    return out


def key_field(crm: str) -> str:
    return MAPPING.account.key(crm).name(crm)  # type: ignore[arg-type]


def task_key(crm: str) -> str:
    return getattr(MAPPING.task_key, crm)


def routed(url: str) -> Any:
    with Warehouse(url) as wh:
        return wh.query(
            "SELECT episode_id, account_domain, owner_email FROM routing_decisions "
            f"WHERE as_of = TIMESTAMP '{SAMPLE_END}' AND decision = 'routed'"
        )


CRMS = pytest.mark.parametrize("crm", ["hubspot", "salesforce"])


@CRMS
def test_first_sync_then_a_rerun_writes_nothing(
    crm: str, scored: str, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = connection(sandbox, crm, monkeypatch)
    first = sync_stage(scored, dest, crm)
    accounts = first.objects["account"]
    assert accounts.records > 100 and accounts.created == accounts.records
    assert first.total("failed") == 0
    records = crm_records(sandbox, crm, ACCOUNT[crm], [key_field(crm)])
    assert len(records) == accounts.records
    assert len({r[key_field(crm)] for r in records}) == len(records)
    users = crm_records(sandbox, crm, USER[crm], ["email" if crm == "hubspot" else "Email"])
    assert len(users) == first.objects["user"].records > 0

    # one task per routed episode, owned by the routed rep's CRM user, on its account
    expected = routed(scored)
    assert len(expected) > 0
    if crm == "hubspot":
        owners = {o["email"]: o["id"] for o in dest.client.crm.owners.owners_api.get_page().to_dict()["results"]}  # fmt: skip
        tasks = crm_records(sandbox, crm, "tasks", [task_key(crm), "hubspot_owner_id"])
        by_episode = {t[task_key(crm)]: t["hubspot_owner_id"] for t in tasks}
    else:
        owners = {u["Email"]: u["Id"] for u in crm_records(sandbox, crm, "User", ["Email"])}
        tasks = crm_records(sandbox, crm, "Task", [task_key(crm), "OwnerId", "WhatId"])
        by_episode = {t[task_key(crm)]: t["OwnerId"] for t in tasks}
    assert sorted(by_episode) == sorted(expected["episode_id"].astype(str))
    for row in expected.itertuples():
        assert by_episode[str(row.episode_id)] == owners[row.owner_email]

    sandbox.admin("DELETE", "requests")
    dest.api_calls = 0
    again = sync_stage(scored, dest, crm)
    assert again.total("sent") == 0
    assert writes(sandbox) == []  # zero write calls, counted by the sandbox
    assert again.objects["tasks"].unchanged == len(expected)


@CRMS
def test_a_changed_subset_sends_only_those_records(
    crm: str, scored: str, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = connection(sandbox, crm, monkeypatch)
    sync_stage(scored, dest, crm)
    with Warehouse(scored) as wh:
        wh.execute(
            "UPDATE score_history SET score = score + 7 WHERE entity_type = 'account' "
            f"AND as_of = TIMESTAMP '{SAMPLE_END}' AND entity_id IN ('atlasbit.io', 'atlasloop.com')"
        )
    sandbox.admin("DELETE", "requests")
    result = sync_stage(scored, dest, crm)
    assert result.objects["account"].sent == 2 and result.objects["account"].updated == 2
    assert result.objects["user"].sent == 0
    assert len(writes(sandbox)) == 1  # one batch call for the two records


@CRMS
def test_faults_lose_nothing_and_duplicate_nothing(
    crm: str, scored: str, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = connection(sandbox, crm, monkeypatch)
    sandbox.admin(
        "PUT",
        "faults",
        {"rate_429": 0.15, "rate_5xx": 0.15, "record_fail_rate": 0.05, "seed": 4},
    )
    first = sync_stage(scored, dest, crm)
    injected = sandbox.admin("GET", "faults")["injected"]
    assert sum(injected.values()) > 0
    failed = first.total("failed")
    assert failed > 0  # the per-record failures
    with Warehouse(scored) as wh:
        open_dl = wh.scalar("SELECT count(*) FROM dead_letter WHERE resolved_at IS NULL")
    assert open_dl == failed
    sandbox.admin("PUT", "faults", {})  # the CRM recovers: the next run heals everything
    second = sync_stage(scored, dest, crm)
    assert second.total("failed") == 0 and second.total("retried") >= failed - second.objects["tasks"].pending  # fmt: skip
    with Warehouse(scored) as wh:
        assert wh.scalar("SELECT count(*) FROM dead_letter WHERE resolved_at IS NULL") == 0
    accounts = crm_records(sandbox, crm, ACCOUNT[crm], [key_field(crm)])
    keys = [r[key_field(crm)] for r in accounts]
    assert len(keys) == len(set(keys)) == first.objects["account"].records
    obj = "tasks" if crm == "hubspot" else "Task"
    tasks = [t[task_key(crm)] for t in crm_records(sandbox, crm, obj, [task_key(crm)])]
    assert sorted(tasks) == sorted(routed(scored)["episode_id"].astype(str))


@CRMS
def test_a_rejected_record_leaves_the_dead_letter_once_fixed(
    crm: str, scored: str, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = connection(sandbox, crm, monkeypatch)
    where = (
        f"entity_type = 'account' AND as_of = TIMESTAMP '{SAMPLE_END}' "
        "AND entity_id = 'atlasbit.io'"
    )
    # a value the CRM refuses: not an option of HubSpot's enumeration; longer than the
    # picklist's 255 characters in Salesforce (Handoff's picklists are unrestricted)
    bad = "tier_9" if crm == "hubspot" else "tier_" + "9" * 300
    with Warehouse(scored) as wh:
        tier = wh.scalar(f"SELECT status FROM score_history WHERE {where}")
        wh.execute(f"UPDATE score_history SET status = '{bad}' WHERE {where}")
    first = sync_stage(scored, dest, crm)
    assert first.objects["account"].failed == 1
    with Warehouse(scored) as wh:
        dl = wh.query(
            "SELECT record_key, error, payload FROM dead_letter WHERE resolved_at IS NULL"
        )
    assert list(dl["record_key"]) == ["atlasbit.io"]
    error = dl.loc[0, "error"]  # the CRM's own message, naming the field
    assert "handoff_pqa_tier" in error.lower(), error
    assert json.loads(dl.loc[0, "payload"])  # the record is kept, nothing lost
    assert sync_stage(scored, dest, crm).objects["account"].failed == 1  # still rejected
    with Warehouse(scored) as wh:
        wh.execute(f"UPDATE score_history SET status = '{tier}' WHERE {where}")  # fixed upstream
    fixed = sync_stage(scored, dest, crm)
    assert fixed.objects["account"].sent == 1 and fixed.objects["account"].failed == 0
    with Warehouse(scored) as wh:
        row = wh.query("SELECT attempts, resolved_at FROM dead_letter")
    assert row.loc[0, "attempts"] == 2 and row["resolved_at"].notna().all()


@CRMS
def test_a_dry_run_writes_nothing(
    crm: str, scored: str, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = connection(sandbox, crm, monkeypatch)
    preview = sync_stage(scored, dest, crm, dry_run=True)
    assert preview.preview and writes(sandbox) == []
    fields = {p["field"] for p in preview.preview if p["key"] == "atlasbit.io"}
    assert key_field(crm) in fields
    assert any(p["object"] == "tasks" for p in preview.preview)
    with Warehouse(scored) as wh:
        assert wh.scalar("SELECT count(*) FROM sync_state") == 0


@CRMS
def test_a_backfill_pushes_nothing(
    crm: str, scored: str, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = connection(sandbox, crm, monkeypatch)
    result = sync_stage(scored, dest, crm, as_of=SAMPLE_END - timedelta(days=1))
    assert result.skipped_reason and "backfill" in result.skipped_reason
    assert sandbox.requests() == [] and dest.api_calls == 0


def test_connection_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from handoff.crm.base import CrmError

    monkeypatch.delenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", raising=False)
    with pytest.raises(CrmError, match="AIRFLOW_CONN_HUBSPOT_DEFAULT"):
        connection_from_env("hubspot_default")
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", "{not json")
    with pytest.raises(CrmError, match="not valid JSON"):
        connection_from_env("hubspot_default")
    with pytest.raises(CrmError, match="access token"):
        hubspot_destination(ConnectionFields("hubspot_default", host="x"), "handoff_account_key")
    secret = ConnectionFields("c", password="s3cret")
    assert "s3cret" not in repr(secret)


@CRMS
def test_cli_previews_then_syncs(
    crm: str, scored: str, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import subprocess
    import sys

    connection(sandbox, crm, monkeypatch)  # sets AIRFLOW_CONN_<CRM>_DEFAULT

    def cli(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "handoff.cli", "sync", "--crm", crm]
        return subprocess.run(
            [*cmd, "--warehouse", scored, *args], capture_output=True, text=True, env=os.environ
        )

    preview = cli("--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert "would change" in preview.stdout
    assert MAPPING.account.fields[3].name(crm) in preview.stdout  # e.g. the PQA score
    assert writes(sandbox) == []
    done = cli()
    assert done.returncode == 0, done.stderr
    assert "created" in done.stdout
    again = cli("--dry-run", "--json")
    summary = json.loads(again.stdout)
    assert summary["preview"] == []  # the CRM's values read back equal ours: no false diffs
    assert summary["objects"]["account"]["unchanged"] == summary["objects"]["account"]["records"]
