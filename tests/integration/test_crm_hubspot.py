"""The HubSpot adapter against the local CRM sandbox: the real hubspot-api-client over HTTPS,
with the sandbox's request log, fault injection and rate limits as the referee."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from crm_sandbox.server import SandboxServer
from handoff.crm.base import CrmError, FieldSpec, TaskSpec, UpsertRecord
from handoff.crm.hubspot import HubSpotDestination

KEY = "handoff_account_key"
TASK_KEY = "handoff_episode_key"
UPSERT = "/crm/v3/objects/companies/batch/upsert"
COMPANY_FIELDS = [
    FieldSpec(KEY, "Handoff account key", "string", unique=True),
    FieldSpec("handoff_pqa_score", "PQA score", "number"),
    FieldSpec("handoff_pqa_tier", "PQA tier", "enumeration", options=("tier_1", "tier_2")),
    FieldSpec("handoff_context", "Context package", "text"),
    FieldSpec("handoff_holdout", "Holdout", "bool"),
    FieldSpec("handoff_scored_at", "Scored as of", "datetime"),
    FieldSpec("handoff_sla_date", "SLA date", "date"),
]


def make_destination(
    server: SandboxServer, token: str | None = None, **options: Any
) -> HubSpotDestination:
    options = {"backoff_initial": 0.01, "backoff_max": 0.05} | options
    return HubSpotDestination(
        token or server.token, host=server.base_url, ca_bundle=server.ca_bundle, **options
    )


@pytest.fixture
def dest(sandbox: SandboxServer) -> Iterator[HubSpotDestination]:
    """A destination on a fresh sandbox with the company properties provisioned."""
    destination = make_destination(sandbox)
    destination.provision("companies", "handoff", COMPANY_FIELDS)
    sandbox.admin("DELETE", "requests")
    destination.api_calls = 0  # count from here, like the request log
    yield destination
    destination.close()


def records(n: int, tier: str = "tier_1", start: int = 0) -> list[UpsertRecord]:
    return [
        UpsertRecord(
            f"acct{i}.example.com",
            {
                "name": f"Account {i}",
                "handoff_pqa_score": 50 + i % 50 + 0.5,
                "handoff_pqa_tier": tier,
                "handoff_context": "line one\nline two",
                "handoff_holdout": i % 2 == 0,
                "handoff_scored_at": datetime(2026, 11, 1, 6, 30),
                "handoff_sla_date": datetime(2026, 11, 3).date(),
            },
        )
        for i in range(start, start + n)
    ]


def companies(server: SandboxServer) -> list[dict[str, Any]]:
    return [r for r in server.admin("GET", "state")["apis"]["hubspot"]["objects"]["companies"]]


def test_provision_is_idempotent(sandbox: SandboxServer) -> None:
    dest = make_destination(sandbox)
    first = dest.provision("companies", "handoff", COMPANY_FIELDS)
    assert sorted(first.created) == sorted(f.name for f in COMPANY_FIELDS)
    assert first.existing == []
    sandbox.admin("DELETE", "requests")
    second = dest.provision("companies", "handoff", COMPANY_FIELDS)
    assert second.created == [] and second.updated == []
    assert sorted(second.existing) == sorted(f.name for f in COMPANY_FIELDS)
    assert sandbox.requests(method="POST", path="/crm/v3/properties") == []
    # a new enumeration option is added to the existing property, nothing else changes
    more = [
        *COMPANY_FIELDS[:2],
        FieldSpec("handoff_pqa_tier", "PQA tier", "enumeration", options=("tier_1", "tier_3")),
    ]
    third = dest.provision("companies", "handoff", more)
    assert third.updated == ["handoff_pqa_tier"] and third.created == []
    patched = sandbox.requests(method="PATCH", path="/crm/v3/properties/companies")
    assert len(patched) == 1
    state = sandbox.admin("GET", "state")["apis"]["hubspot"]["properties"]["companies"]
    tier = next(p for p in state if p["name"] == "handoff_pqa_tier")
    assert [o["value"] for o in tier["options"]] == ["tier_1", "tier_2", "tier_3"]
    key = next(p for p in state if p["name"] == KEY)
    assert key["hasUniqueValue"] is True
    dest.close()


def test_upsert_creates_then_updates_100_per_call(
    sandbox: SandboxServer, dest: HubSpotDestination
) -> None:
    batch = records(250)
    first = dest.upsert("companies", KEY, batch)
    assert [r.key for r in first] == [r.key for r in batch]
    assert all(r.ok and r.created is True and r.crm_id for r in first)
    assert len(sandbox.requests(method="POST", path=UPSERT)) == 3
    second = dest.upsert("companies", KEY, records(250, tier="tier_2"))
    assert all(r.ok and r.created is False for r in second)
    assert [r.crm_id for r in second] == [r.crm_id for r in first]
    assert len(sandbox.requests(method="POST", path=UPSERT)) == 6
    assert dest.api_calls == len(sandbox.requests())
    values = dest.read(
        "companies",
        KEY,
        ["acct7.example.com", "missing.example.com"],
        [
            "handoff_pqa_tier",
            "handoff_holdout",
            "handoff_scored_at",
            "handoff_sla_date",
        ],
    )
    assert values == {
        "acct7.example.com": {
            "handoff_pqa_tier": "tier_2",
            "handoff_holdout": "false",
            "handoff_scored_at": "2026-11-01T06:30:00.000Z",
            "handoff_sla_date": "2026-11-03",
        }
    }
    assert len(companies(sandbox)) == 250
    sandbox.admin("DELETE", "requests")
    everything = dest.read("companies", KEY, [r.key for r in first], ["handoff_pqa_tier"])
    assert len(everything) == 250 and {v["handoff_pqa_tier"] for v in everything.values()} == {
        "tier_2"
    }
    assert len(sandbox.requests(path="/crm/v3/objects/companies/batch/read")) == 3


def test_none_clears_and_repeated_keys_last_wins(
    sandbox: SandboxServer, dest: HubSpotDestination
) -> None:
    dest.upsert("companies", KEY, records(1))
    out = dest.upsert(
        "companies",
        KEY,
        [
            UpsertRecord("acct0.example.com", {"handoff_pqa_tier": "tier_1"}),
            UpsertRecord("acct0.example.com", {"handoff_pqa_tier": None, "handoff_pqa_score": 7}),
        ],
    )
    assert [r.ok for r in out] == [True, True]
    got = dest.read(
        "companies", KEY, ["acct0.example.com"], ["handoff_pqa_tier", "handoff_pqa_score"]
    )
    assert got["acct0.example.com"] == {"handoff_pqa_tier": None, "handoff_pqa_score": "7"}


def test_207_fails_only_the_bad_records(sandbox: SandboxServer, dest: HubSpotDestination) -> None:
    batch = records(10)
    batch[3] = UpsertRecord("acct3.example.com", {"handoff_pqa_tier": "tier_9"})
    batch[6] = UpsertRecord("acct6.example.com", {"handoff_pqa_score": "lots"})
    out = dest.upsert("companies", KEY, batch)
    assert len(sandbox.requests(method="POST", path=UPSERT)) == 1
    assert [r.ok for r in out] == [i not in (3, 6) for i in range(10)]
    assert "INVALID_OPTION" in out[3].error and "tier_9" in out[3].error
    assert "INVALID_INTEGER" in out[6].error
    assert not out[3].retryable
    assert sorted(c["properties"][KEY] for c in companies(sandbox)) == sorted(
        r.key for i, r in enumerate(batch) if i not in (3, 6)
    )


def test_batch_failing_whole_is_split_to_isolate_the_bad_record(
    sandbox: SandboxServer, dest: HubSpotDestination
) -> None:
    batch = records(8)
    batch[5] = UpsertRecord("", {"name": "no key"})  # HubSpot refuses the whole batch: 400
    out = dest.upsert("companies", KEY, batch)
    assert [r.ok for r in out] == [i != 5 for i in range(8)]
    assert "VALIDATION_ERROR" in out[5].error
    calls = sandbox.requests(method="POST", path=UPSERT)
    assert 1 < len(calls) <= 7  # 1 + 2 per level of halving (8 -> 4 -> 2 -> 1)
    assert len(companies(sandbox)) == 7


def test_transient_faults_are_retried_without_loss_or_duplicates(
    sandbox: SandboxServer, dest: HubSpotDestination
) -> None:
    sandbox.admin("PATCH", "settings", {"hubspot_window_ms": 200})
    faults = {
        "rate_429": 0.3,
        "rate_5xx": 0.3,
        "rate_drop": 0.15,
        "path_prefix": "/crm/v3/objects",
        "methods": ["POST"],
        "max_faults": 5,
        "seed": 5,
    }
    sandbox.admin("PUT", "faults", faults)
    out = dest.upsert("companies", KEY, records(450))
    injected = sandbox.admin("GET", "faults")["injected"]
    assert injected.get("429") and injected.get("5xx")
    assert all(r.ok and r.created for r in out)
    statuses = [r["status"] for r in sandbox.requests(path=UPSERT)]
    assert statuses.count(200) == 5 and len(statuses) == 5 + sum(injected.values())
    assert dest.api_calls == len(sandbox.requests())
    keys = [c["properties"][KEY] for c in companies(sandbox)]
    assert len(keys) == len(set(keys)) == 450


def test_locked_423_waits_and_retries(sandbox: SandboxServer, dest: HubSpotDestination) -> None:
    sandbox.admin("PUT", "faults", {"rate_423": 1.0, "path_prefix": UPSERT, "max_faults": 1})
    out = dest.upsert("companies", KEY, records(3))
    assert all(r.ok for r in out)
    assert [r["status"] for r in sandbox.requests(path=UPSERT)] == [423, 200]


def test_gives_up_after_max_retries(sandbox: SandboxServer) -> None:
    dest = make_destination(sandbox, max_retries=2)
    dest.provision("companies", "handoff", COMPANY_FIELDS)
    sandbox.admin("PUT", "faults", {"rate_5xx": 1.0, "statuses_5xx": [503], "path_prefix": UPSERT})
    with pytest.raises(CrmError) as caught:
        dest.upsert("companies", KEY, records(2))
    assert caught.value.retryable and caught.value.status == 503
    assert len(sandbox.requests(path=UPSERT)) == 3
    dest.close()


def test_daily_limit_raises_without_retrying(
    sandbox: SandboxServer, dest: HubSpotDestination
) -> None:
    used = 1_000_000 - dest.rate_limit["daily-remaining"]
    sandbox.admin("PATCH", "settings", {"hubspot_daily_limit": used + 1})
    with pytest.raises(CrmError) as caught:
        dest.upsert("companies", KEY, records(150))
    assert "daily" in str(caught.value).lower()
    assert not caught.value.retryable and caught.value.status == 429
    assert [r["status"] for r in sandbox.requests(path=UPSERT)] == [200, 429]


def test_bad_token_raises_without_leaking_it(sandbox: SandboxServer) -> None:
    token = "pat-na1-secret-0123456789abcdef"
    dest = make_destination(sandbox, token=token)
    with pytest.raises(CrmError) as caught:
        dest.owners()
    assert caught.value.status == 401
    assert "401" in str(caught.value) and "token" in str(caught.value)
    assert token not in str(caught.value) and token not in repr(caught.value)
    assert len(sandbox.requests()) == 1  # not retried
    dest.close()


def test_paces_under_a_low_window_limit(sandbox: SandboxServer, dest: HubSpotDestination) -> None:
    sandbox.admin("PATCH", "settings", {"hubspot_rate_limit": 3, "hubspot_window_ms": 600})
    time.sleep(0.6)  # let provisioning's requests leave the new, shorter window
    out = dest.upsert("companies", KEY, records(1000))
    assert all(r.ok for r in out)
    log = sandbox.requests()
    assert len(log) == 10
    assert [r for r in log if r["status"] == 429] == []


def test_tasks_once_per_key_with_owner_and_company(
    sandbox: SandboxServer, dest: HubSpotDestination
) -> None:
    dest.upsert("companies", KEY, records(2))
    roster = dest.owners()
    assert roster and all(k == k.lower() for k in roster)
    email, owner_id = next(iter(roster.items()))
    due = datetime(2026, 11, 4, 15, 0)
    tasks = [
        TaskSpec(
            "ep-1", "acct0.example.com", "Call Acme", "Why now: ...", due, email.upper(), "HIGH"
        ),
        TaskSpec("ep-2", "acct1.example.com", "Email Beta", "Context", due, None, "LOW"),
        TaskSpec("ep-3", "nowhere.example.com", "Lost", "No company yet", due, email),
    ]
    first = dest.create_tasks(tasks, TASK_KEY)
    assert [(r.key, r.ok, r.created) for r in first] == [
        ("ep-1", True, True),
        ("ep-2", True, True),
        ("ep-3", False, None),
    ]
    assert first[2].retryable and "nowhere.example.com" in first[2].error
    state = sandbox.admin("GET", "state")["apis"]["hubspot"]
    by_id = {t["id"]: t["properties"] for t in state["objects"]["tasks"]}
    assert len(by_id) == 2
    task = by_id[first[0].crm_id]
    assert task["hs_task_subject"] == "Call Acme"
    assert task["hs_task_status"] == "NOT_STARTED" and task["hs_task_priority"] == "HIGH"
    assert task["hubspot_owner_id"] == owner_id
    assert task["hs_timestamp"] == "2026-11-04T15:00:00.000Z"
    assert by_id[first[1].crm_id].get("hubspot_owner_id") in (None, "")
    company_ids = {c["properties"][KEY]: c["id"] for c in state["objects"]["companies"]}
    links = {(a[0], a[1], a[2], a[3]) for a in state["associations"]}
    assert ("tasks", first[0].crm_id, "companies", company_ids["acct0.example.com"]) in links
    assert ("tasks", first[1].crm_id, "companies", company_ids["acct1.example.com"]) in links
    # the association is visible through the v4 API as HubSpot serves it
    response = requests.get(
        f"{sandbox.base_url}/crm/v4/objects/tasks/{first[0].crm_id}/associations/companies",
        headers={"Authorization": f"Bearer {sandbox.token}"},
        verify=sandbox.ca_bundle,
        timeout=10,
    )
    assert [r["toObjectId"] for r in response.json()["results"]] == [
        int(company_ids["acct0.example.com"])
    ]

    sandbox.admin("DELETE", "requests")
    again = dest.create_tasks(tasks[:2], TASK_KEY)
    assert [(r.ok, r.created, r.crm_id) for r in again] == [
        (True, False, first[0].crm_id),
        (True, False, first[1].crm_id),
    ]
    assert sandbox.requests(path="/crm/v3/objects/tasks/batch/upsert") == []
    assert len(sandbox.admin("GET", "state")["apis"]["hubspot"]["objects"]["tasks"]) == 2
