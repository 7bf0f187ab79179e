"""The handoff CLI: validate, score, and clear errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff.cli import main


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "pql_default", "pql_fit_value_intent"]) == 0
    out = capsys.readouterr().out
    assert "ok: pql_default: pql_default@2026.11.1" in out


def test_validate_reports_file_key_and_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: '1'\ncategories: [a]\nsignals: []\npql: {}\npqa: {}\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err
    assert "pql.statuses: required key is missing" in err


def test_score_prints_tiers_and_top_accounts(
    sample_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["score", "--warehouse", str(sample_copy), "--as-of", "2026-11-01"]) == 0
    out = capsys.readouterr().out
    assert "model pql_default@2026.11.1" in out
    assert "tier_" in out
    assert len([line for line in out.splitlines() if line.startswith("  ") and "." in line]) >= 10


def test_generate_writes_a_warehouse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w.duckdb"
    rc = main(
        [
            "generate",
            "--size",
            "small",
            "--days",
            "30",
            "--end",
            "2026-11-01",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0 and out.exists()
    assert "2,000 accounts" in capsys.readouterr().out
