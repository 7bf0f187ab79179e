"""Salesforce sandbox contract: merged records (MasterRecordId on the deleted losers, related
records moved to the master), as simple-salesforce sees them through queryAll."""

from __future__ import annotations

import pytest

from tests.sandbox.salesforce_client import salesforce


def test_merge_deletes_losers_with_master_record_id(sandbox) -> None:
    sf = salesforce(sandbox)
    master = sf.Account.create({"Name": "Acme"})["id"]
    loser = sf.Account.create({"Name": "Acme dup"})["id"]
    task = sf.Task.create({"Subject": "call", "WhatId": loser})["id"]
    opp = sf.Opportunity.create(
        {"Name": "deal", "AccountId": loser, "StageName": "Prospecting", "CloseDate": "2030-01-01"}
    )["id"]
    before = sf.Account.get(master)["SystemModstamp"]
    sandbox.admin("POST", "clock/advance", {"minutes": 5})

    answer = sandbox.admin(
        "POST", "salesforce/merge", {"object": "Account", "master": master, "losers": [loser]}
    )
    assert answer == {"master": master, "merged": [loser]}

    live = sf.query("SELECT Id FROM Account")["records"]
    assert [r["Id"] for r in live] == [master]
    gone = sf.query_all(
        "SELECT Id, IsDeleted, MasterRecordId, SystemModstamp FROM Account WHERE IsDeleted = TRUE",
        include_deleted=True,
    )["records"]
    assert [(r["Id"], r["MasterRecordId"]) for r in gone] == [(loser, master)]
    assert sf.Account.get(master)["SystemModstamp"] > before  # the master is touched
    assert sf.Task.get(task)["WhatId"] == master  # related records move to the master
    assert sf.Opportunity.get(opp)["AccountId"] == master
    assert sf.Account.get(master)["MasterRecordId"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"object": "Account", "master": "M", "losers": ["M"]},
        {"object": "Opportunity", "master": "M", "losers": ["L"]},
        {"object": "Account", "master": "M"},
    ],
)
def test_bad_merges_are_refused(sandbox, body) -> None:
    sf = salesforce(sandbox)
    ids = {"M": sf.Account.create({"Name": "A"})["id"], "L": sf.Account.create({"Name": "B"})["id"]}
    body = {
        k: ([ids.get(i, i) for i in v] if isinstance(v, list) else ids.get(v, v))
        for k, v in body.items()
    }
    with pytest.raises(RuntimeError, match="400"):
        sandbox.admin("POST", "salesforce/merge", body)
    assert len(sf.query("SELECT Id FROM Account")["records"]) == 2
