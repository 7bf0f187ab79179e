"""Simulated reps: they complete Handoff's tasks, set dispositions, open and close deals
(HubSpot) and Opportunities (Salesforce), deterministically under the seed."""

from __future__ import annotations

import pytest
import requests

from crm_sandbox.reps import load_propensities, touch_bucket_conversion

SF = "/services/data/v62.0"


def hs_setup(sandbox, http, propensity_file, n=60):
    base = f"{sandbox.base_url}/crm/v3"
    http.post(
        f"{base}/properties/companies",
        json={
            "name": "handoff_disposition",
            "label": "Disposition",
            "type": "enumeration",
            "fieldType": "select",
            "groupName": "companyinformation",
            "options": [
                {"label": "Accepted", "value": "accepted"},
                {"label": "Rejected", "value": "rejected"},
            ],
        },
    ).raise_for_status()
    http.post(
        f"{base}/properties/companies",
        json={
            "name": "handoff_reject_reason",
            "label": "Reject reason",
            "type": "string",
            "fieldType": "text",
            "groupName": "companyinformation",
        },
    ).raise_for_status()
    sandbox.admin("PATCH", "settings", {"propensity_file": str(propensity_file)})
    companies = http.post(
        f"{base}/objects/companies/batch/create",
        json={
            "inputs": [
                {"properties": {"name": f"Co {i}", "domain": f"co{i}.example"}} for i in range(n)
            ]
        },
    ).json()["results"]
    inputs = [
        {
            "properties": {
                "hs_task_subject": f"Follow up {c['properties']['name']}",
                "hs_timestamp": "2030-01-01T00:00:00Z",
                "hs_task_status": "NOT_STARTED",
                "hs_task_priority": ["HIGH", "MEDIUM", "LOW"][i % 3],
            },
            "associations": [
                {
                    "to": {"id": c["id"]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}],
                }
            ],
        }
        for i, c in enumerate(companies)
    ]
    http.post(f"{base}/objects/tasks/batch/create", json={"inputs": inputs}).raise_for_status()
    # a task not tied to a company: reps leave it alone
    http.post(
        f"{base}/objects/tasks",
        json={"properties": {"hs_timestamp": "2030-01-01T00:00:00Z", "hs_task_subject": "solo"}},
    ).raise_for_status()


def hs_search(sandbox, http, object_type, properties, filters=()):
    body = {
        "limit": 200,
        "properties": properties,
        "filterGroups": [{"filters": list(filters)}] if filters else [],
    }
    response = http.post(f"{sandbox.base_url}/crm/v3/objects/{object_type}/search", json=body)
    response.raise_for_status()
    return response.json()["results"]


@pytest.fixture
def propensity_file(tmp_path):
    path = tmp_path / "propensity.csv"
    rows = ["domain,propensity"]
    rows += [f"co{i}.example,{0.9 if i % 2 == 0 else 0.05}" for i in range(60)]
    path.write_text("\n".join(rows) + "\n")
    return path


def outcome_table(sandbox, http):
    companies = hs_search(
        sandbox, http, "companies", ["name", "handoff_disposition", "handoff_reject_reason"]
    )
    deals = hs_search(sandbox, http, "deals", ["dealname", "dealstage", "amount", "closedate"])
    return (
        sorted(
            (c["properties"]["name"], c["properties"]["handoff_disposition"]) for c in companies
        ),
        sorted((d["properties"]["dealname"], d["properties"]["dealstage"]) for d in deals),
    )


def test_hubspot_reps_produce_outcomes(sandbox, http, propensity_file):
    hs_setup(sandbox, http, propensity_file)
    summary = sandbox.admin("POST", "reps/run", {"days": 70})
    assert summary["tasks"] == 60 and summary["touched"] == 60
    assert summary["accepted"] + summary["rejected"] == 60
    assert summary["won"] + summary["lost"] == summary["accepted"] > 0
    assert summary["deals_open"] == 0

    tasks = hs_search(
        sandbox, http, "tasks", ["hs_task_status", "hs_task_completion_date", "hs_task_subject"]
    )
    by_subject = {t["properties"]["hs_task_subject"]: t["properties"] for t in tasks}
    assert by_subject.pop("solo")["hs_task_status"] is None
    assert {p["hs_task_status"] for p in by_subject.values()} == {"COMPLETED"}
    assert all(p["hs_task_completion_date"] for p in by_subject.values())

    companies = hs_search(
        sandbox, http, "companies", ["domain", "handoff_disposition", "handoff_reject_reason"]
    )
    assert {c["properties"]["handoff_disposition"] for c in companies} == {"accepted", "rejected"}
    assert all(
        c["properties"]["handoff_reject_reason"]
        for c in companies
        if c["properties"]["handoff_disposition"] == "rejected"
    )
    deals = hs_search(sandbox, http, "deals", ["dealstage", "amount", "closedate"])
    assert len(deals) == summary["accepted"]
    assert {d["properties"]["dealstage"] for d in deals} <= {"closedwon", "closedlost"}
    assert all(float(d["properties"]["amount"]) >= 5000 for d in deals)

    # deals are associated with their companies; high-propensity domains win more
    won_domains = set()
    for deal in deals:
        assoc = http.get(
            f"{sandbox.base_url}/crm/v4/objects/deals/{deal['id']}/associations/companies"
        ).json()["results"]
        assert len(assoc) == 1
        if deal["properties"]["dealstage"] == "closedwon":
            company = http.get(
                f"{sandbox.base_url}/crm/v3/objects/companies/{assoc[0]['toObjectId']}"
            ).json()
            won_domains.add(company["properties"]["domain"])
    high = sum(int(d.removeprefix("co").split(".")[0]) % 2 == 0 for d in won_domains)
    assert high > len(won_domains) - high


def test_reps_are_deterministic_under_the_seed(sandbox, http, propensity_file):
    hs_setup(sandbox, http, propensity_file, n=30)
    sandbox.admin("POST", "reps/run", {"days": 60, "step_hours": 4})
    first = outcome_table(sandbox, http)
    sandbox.admin("POST", "reset")
    hs_setup(sandbox, http, propensity_file, n=30)
    sandbox.admin("POST", "reps/run", {"days": 60, "step_hours": 4})
    assert outcome_table(sandbox, http) == first


def test_reps_advance_the_simulated_clock(sandbox, http, propensity_file):
    before = sandbox.admin("GET", "clock")["offset_seconds"]
    summary = sandbox.admin("POST", "reps/run", {"days": 3})
    after = sandbox.admin("GET", "clock")["offset_seconds"]
    assert after - before == pytest.approx(3 * 86400, abs=5)
    assert summary["tasks"] == 0


def test_salesforce_reps_complete_tasks_and_open_opportunities(sandbox, propensity_file):
    session = requests.Session()
    session.trust_env = False
    session.verify = sandbox.ca_bundle
    session.headers["Authorization"] = f"Bearer {sandbox.token}"
    base = sandbox.base_url + SF
    if "salesforce" not in sandbox.admin("GET", "health")["apis"]:
        pytest.fail("the Salesforce API is not mounted")
    sandbox.admin("PATCH", "settings", {"propensity_file": str(propensity_file)})
    for name in ("Handoff_Disposition__c", "Handoff_Reject_Reason__c"):
        field = session.post(
            f"{base}/tooling/sobjects/CustomField",
            json={
                "FullName": f"Account.{name}",
                "Metadata": {"label": name[:-3].replace("_", " "), "type": "Text", "length": 40},
            },
        )
        assert field.status_code == 201, field.text
    accounts = []
    for i in range(12):
        created = session.post(
            f"{base}/sobjects/Account",
            json={"Name": f"Acc {i}", "Website": f"https://www.co{i}.example"},
        )
        assert created.status_code == 201, created.text
        accounts.append(created.json()["id"])
        task = session.post(
            f"{base}/sobjects/Task",
            json={"Subject": "Follow up", "WhatId": accounts[-1], "Priority": "High"},
        )
        assert task.status_code == 201, task.text
    summary = sandbox.admin("POST", "reps/run", {"days": 60})
    assert summary["touched"] == 12 and summary["deals_open"] == 0
    tasks = session.get(f"{base}/query", params={"q": "SELECT Id, Status FROM Task"}).json()
    assert {t["Status"] for t in tasks["records"]} == {"Completed"}
    opportunities = session.get(
        f"{base}/query", params={"q": "SELECT Id, AccountId, StageName, Amount FROM Opportunity"}
    ).json()["records"]
    assert len(opportunities) == summary["accepted"]
    assert {o["StageName"] for o in opportunities} <= {"Closed Won", "Closed Lost"}
    assert {o["AccountId"] for o in opportunities} <= set(accounts)
    dispositions = session.get(
        f"{base}/query",
        params={"q": "SELECT Id, Handoff_Disposition__c, Handoff_Reject_Reason__c FROM Account"},
    ).json()["records"]
    accepted = {o["AccountId"] for o in opportunities}
    for account in dispositions:
        expected = "accepted" if account["Id"] in accepted else "rejected"
        assert account["Handoff_Disposition__c"] == expected
        assert bool(account["Handoff_Reject_Reason__c"]) == (expected == "rejected")
    session.close()


def test_conversion_table_and_propensity_file(tmp_path):
    assert [touch_bucket_conversion(h) for h in (1, 5, 30, 100)] == [0.38, 0.28, 0.19, 0.11]
    path = tmp_path / "p.csv"
    path.write_text("domain,propensity\nhttps://www.Acme.com/,0.7\n")
    assert load_propensities(str(path)) == {"acme.com": 0.7}
    path.write_text("domain,propensity\nacme.com,1.5\n")
    with pytest.raises(ValueError):
        load_propensities(str(path))


def test_reject_reasons_are_the_options_handoff_provisions():
    """Reps only write reasons the CRMs accept: the enumeration / restricted picklist
    options of include/config/crm_mapping.yaml."""
    from pathlib import Path

    import yaml

    from crm_sandbox.reps import REJECT_REASONS

    path = Path(__file__).resolve().parents[2] / "include" / "config" / "crm_mapping.yaml"
    fields = yaml.safe_load(path.read_text())["objects"]["account"]["fields"]
    options = next(f["options"] for f in fields if f["source"] == "reject_reason")
    assert list(REJECT_REASONS) == options
