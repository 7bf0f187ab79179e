"""The loop closes against the sandbox, for both CRMs: sync the handoffs, let the simulated
reps work them for weeks, pull the outcomes back, and calibrate with a report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from crm_sandbox.server import SandboxServer
from handoff.pipeline import calibrate_stage, outcomes_stage, sync_stage
from handoff.warehouse import Warehouse
from tests.conftest import SAMPLE_END
from tests.integration.test_sync_sandbox import connection

CRMS = pytest.mark.parametrize("crm", ["hubspot", "salesforce"])


SANDBOX_USERS = "roster"  # routed owners resolve to CRM users (conftest)


@pytest.fixture
def sandbox(sandbox: SandboxServer) -> SandboxServer:
    """The reset sandbox, its clock at the scored snapshot (the reps act from there)."""
    sandbox.admin("POST", "clock/set", {"now": SAMPLE_END.replace(tzinfo=UTC).isoformat()})
    return sandbox


def routed_count(url: str) -> int:
    with Warehouse(url) as wh:
        return int(
            wh.scalar(
                "SELECT count(*) FROM routing_decisions WHERE decision = 'routed' "
                f"AND as_of = TIMESTAMP '{SAMPLE_END}'"
            )
        )


@CRMS
def test_sync_reps_pull_calibrate(
    crm: str,
    scored: str,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    dest = connection(sandbox, crm, monkeypatch)
    sync_stage(scored, dest, crm)
    worked = sandbox.admin("POST", "reps/run", {"days": 30, "step_hours": 2})
    assert worked["touched"] == routed_count(scored) > 0
    now = SAMPLE_END + timedelta(days=30)
    first = outcomes_stage(scored, dest, crm, now=now)
    assert first["touched"] == worked["touched"]
    assert first["dispositioned"] == worked["accepted"] + worked["rejected"]
    assert first["won"] == worked.get("won", 0)
    with Warehouse(scored) as wh:
        rows = wh.query("SELECT * FROM handoff_outcomes")
    touched = rows[rows["first_touch_at"].notna()]
    assert len(touched) == worked["touched"]
    assert (touched["first_touch_at"] >= touched["handed_off_at"]).all()
    assert touched["decision"].eq("routed").all() and touched["destination"].eq(crm).all()
    assert rows.loc[rows["decision"] == "holdout", "first_touch_at"].isna().all()

    # a rerun pulls the same outcomes again without duplicating anything
    again = outcomes_stage(scored, dest, crm, now=now)
    assert {k: again[k] for k in ("handoffs", "touched", "won")} == {
        k: first[k] for k in ("handoffs", "touched", "won")
    }
    with Warehouse(scored) as wh:
        dupes = wh.scalar(
            "SELECT count(*) FROM (SELECT destination, crm_id FROM crm_tasks "
            "GROUP BY 1, 2 HAVING count(*) > 1) d"
        )
    assert dupes == 0

    summary = calibrate_stage(scored, tmp_path, target="accepted", horizon_days=14, now=now)
    assert summary.report_path.exists()
    html = summary.report_path.read_text()
    assert "accept" in html.lower() and "<img" in html
    headline = json.loads(summary.report_path.with_suffix(".json").read_text())
    assert headline["handoffs"] == first["handoffs"]
    assert headline["accept_rate"] == pytest.approx(
        worked["accepted"] / (worked["accepted"] + worked["rejected"])
    )


def test_cli_outcomes_and_calibrate(
    scored: str, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dest = connection(sandbox, "hubspot", monkeypatch)
    sync_stage(scored, dest, "hubspot")
    sandbox.admin("POST", "reps/run", {"days": 21, "step_hours": 2})

    def cli(*args: str) -> Any:
        cmd = [sys.executable, "-m", "handoff.cli", *args, "--warehouse", scored]
        return subprocess.run(cmd, capture_output=True, text=True, env=os.environ)

    pulled = cli("outcomes", "--crm", "hubspot")
    assert pulled.returncode == 0, pulled.stderr
    assert "handoff_outcomes:" in pulled.stdout and "touched" in pulled.stdout
    report = cli("calibrate", "--target", "accepted", "--horizon-days", "7", "--out", str(tmp_path))
    assert report.returncode == 0, report.stderr
    assert "accept rate" in report.stdout and "report" in report.stdout
    assert list(tmp_path.glob("handoff_report_*.html"))
