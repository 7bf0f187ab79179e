"""Routing and context packages on the sample warehouse: extract, score, fabricate trigger
events, route, build packages; every section of every package is filled."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd

from handoff.context import run_context
from handoff.pipeline import extract_stage, score_stage
from handoff.routing import run_routing
from handoff.warehouse import Warehouse
from tests.conftest import SAMPLE_END

TRIGGERS = ["usage_limit_approached", "teammate_invited", "pricing_page_visit",
            "enterprise_feature_interaction", "champion_identified"]  # fmt: skip


def test_route_and_package_the_sample(sample_copy: Path) -> None:
    url = str(sample_copy)
    extract_stage(url, SAMPLE_END)
    version = score_stage(url, SAMPLE_END)["model_version"]
    with Warehouse(url) as wh:
        accounts = wh.query(
            "SELECT entity_id AS d FROM score_history WHERE entity_type = 'account' ORDER BY 1"
        )["d"]
        wh.load_df(
            "trigger_events",
            pd.DataFrame(
                {
                    "account_domain": accounts,
                    "trigger_id": [TRIGGERS[i % 5] for i in range(len(accounts))],
                    "episode_id": accounts + "#1",
                    "fired_at": SAMPLE_END - timedelta(hours=5),
                    "class": "high_signal",
                    "priority": "high",
                    "owner_role": "SDR",
                    "channel": "email",
                    "sla_due_at": SAMPLE_END + timedelta(hours=19),
                    "evidence": "{}",
                    "model_version": version,
                }
            ),
        )
        summary = run_routing(wh, SAMPLE_END, version)
        assert summary.accounts == len(accounts)
        assert set(summary.decisions) <= {"routed", "holdout", "no_touch", "queued"}
        assert summary.routed > 0 and summary.decisions.get("no_touch", 0) > 0
        first = wh.query("SELECT * FROM routing_decisions ORDER BY account_domain")

        n = run_context(wh, SAMPLE_END, version)
        assert n == summary.routed
        packages = wh.query("SELECT * FROM context_packages ORDER BY account_domain")

        # reruns replace their slices
        run_routing(wh, SAMPLE_END, version)
        assert run_context(wh, SAMPLE_END, version) == n
        pd.testing.assert_frame_equal(
            first, wh.query("SELECT * FROM routing_decisions ORDER BY account_domain")
        )
        assert wh.scalar("SELECT count(*) FROM context_packages") == n

    routed = first[first["decision"] == "routed"]
    assert routed["owner_email"].notna().all() and routed["sla_due_at"].notna().all()
    assert set(packages["account_domain"]) == set(routed["account_domain"])
    for row in packages.itertuples():
        pkg = json.loads(row.package)
        acc, usage, score = pkg["account"], pkg["usage"], pkg["score"]
        assert acc["name"] and acc["employees"] and acc["industry"] and acc["owner"]["email"]
        assert acc["first_activation_at"] and acc["days_since_activation"] >= 0
        assert usage["active_users_30d"] > 0 and usage["roles"] and usage["features"]
        assert all(f["frequency"] in {"daily", "weekly", "occasional", "once"}
                   for f in usage["features"])  # fmt: skip
        assert usage["core_workflows_14d"]["total"] >= 0 and usage["last_session"]["at"]
        assert usage["trend"] in {"growing", "stable", "declining"}
        assert score["score"] is not None and score["breakdown"] and score["top_reasons"]
        assert pkg["trigger"]["id"] in TRIGGERS and pkg["trigger"]["fired_at"]
        assert pkg["routing"]["decision"] == "routed" and pkg["routing"]["sla_due_at"]
        assert pkg["expansion"]["hypothesis"] in {
            "more seats", "cross-team rollout", "upgrade to advanced tier"}  # fmt: skip
        assert pkg["expansion"]["acv_low"] <= pkg["expansion"]["acv_high"]
        assert set(pkg["friction"]) == {
            "open_support_tickets", "tickets_by_topic", "abandoned_setups", "competitor_mentions"}  # fmt: skip
        tps = json.loads(row.talking_points)
        assert tps and all(tp["opening"] and "None" not in tp["opening"] for tp in tps)
        for section in ("ACCOUNT SNAPSHOT", "PRODUCT USAGE", "SCORE AND TRIGGER",
                        "EXPANSION ANGLE", "KNOWN FRICTION", "TALKING POINTS"):  # fmt: skip
            assert section in row.text
    # across the sample some packages show friction and integrations
    all_pkgs = [json.loads(p) for p in packages["package"]]
    assert any(p["friction"]["open_support_tickets"] for p in all_pkgs)
    assert any(p["usage"]["integrations"] for p in all_pkgs)
