"""The static HTML report: renders, carries the headline figures and every chart, stays
self-contained, and says something readable when there is little or no data."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
import pytest

from handoff.calibration import CalibrationConfig, calibrate_table
from handoff.outcomes.metrics import compute_metrics
from handoff.report import render_report, write_report
from tests.unit.test_calibration import TABLE_MODEL, synthetic_table
from tests.unit.test_outcome_metrics import outcomes_frame

CHARTS = (
    "funnel", "accept trend", "conversion by tier", "conversion by time to touch", "lift",
    "reliability curve", "deciles", "per-signal lift",
)  # fmt: skip
PNG = re.compile(r'<img class="chart" alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def calibration():
    return calibrate_table(
        synthetic_table(n=2000), TABLE_MODEL, "won", "as_of", config=CalibrationConfig(bootstrap=60)
    )


def test_report_renders_figures_and_every_chart(calibration, tmp_path: Path) -> None:
    metrics = compute_metrics(outcomes_frame(), horizon_days=90)
    path = write_report(tmp_path / "sub" / "report.html", metrics, calibration)
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    # headline figures (worked by hand in test_outcome_metrics)
    assert "66.7%" in html  # accept rate 4 / 6
    assert "within the healthy 60%–75%" in html
    assert "+9.5 pts" in html  # lift 3/7 - 1/3
    assert "37.5%" in html  # PQL -> closed won 3 / 8
    assert "$20,000" in html  # ACV
    assert "Newcombe" in html
    # every chart, each a decodable PNG
    found = dict(PNG.findall(html))
    assert set(found) == set(CHARTS)
    for data in found.values():
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    # calibration: current vs proposed table, AUCs, signals and the proposal text
    assert f"{calibration.current.auc.value:.3f}" in html
    assert f"{calibration.proposed.auc.value:.3f}" in html
    assert "sig_a" in html and "PROPOSAL: synthetic 1.0.4" in html
    # self-contained: no scripts, no external resources
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_week_outside_band_is_flagged(calibration) -> None:
    html = render_report(compute_metrics(outcomes_frame()), calibration)
    assert "50.0% (low)" in html and "100.0% (high)" in html


def test_low_accept_rate_headline_flag() -> None:
    frame = outcomes_frame()
    frame.loc[frame["disposition"] == "accepted", "disposition"] = "rejected"
    frame.loc[0, "disposition"] = "accepted"
    html = render_report(compute_metrics(frame), None)
    assert "16.7%" in html and "below the healthy 60%–75%" in html


def test_no_outcomes_yet_is_a_readable_message() -> None:
    empty = compute_metrics(outcomes_frame().iloc[:0])
    html = render_report(empty, None, calibration_message="no labelled rows yet")
    assert "No outcomes yet" in html and "no labelled rows yet" in html
    assert "<img" not in html
    assert "No outcomes yet" in render_report(None, None)


def test_sparse_outcomes_render_with_messages() -> None:
    frame = outcomes_frame()
    sparse = frame[frame["decision"] == "routed"].head(2).copy()
    for col in ("disposition", "first_touch_at", "opportunity_id", "opportunity_opened_at",
                "closed_at", "won", "amount", "self_serve_converted_at"):  # fmt: skip
        sparse[col] = None
    sparse["observed_until"] = pd.Timestamp("2026-01-06")  # nothing observed for 90 days
    html = render_report(compute_metrics(sparse), None)
    assert "no dispositions yet" in html.lower()
    assert "No touched handoffs yet" in html
    assert "lift needs 90 days of outcomes" in html
    assert "Calibration not run" in html
