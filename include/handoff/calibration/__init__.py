"""Calibration of a scoring model against outcomes: dataset, fit, evaluation, proposal.

- calibrate_table(df, model, target_col, time_col, ...): any table of features + outcome.
- run_calibration(wh, model, target=..., horizon_days=..., out_dir=...): from the warehouse,
  with the funnel metrics and the HTML report (handoff.calibration.run).
"""

from __future__ import annotations

from typing import Any

from handoff.calibration.calibrate import CalibrationResult, calibrate_design, calibrate_table
from handoff.calibration.config import CalibrationConfig, load_calibration_config
from handoff.calibration.fit import CalibrationError

__all__ = [
    "CalibrationConfig",
    "CalibrationError",
    "CalibrationResult",
    "CalibrationSummary",
    "calibrate_design",
    "calibrate_table",
    "load_calibration_config",
    "run_calibration",
]


def __getattr__(name: str) -> Any:
    # run imports the report, which imports calibrate: load it on first use
    if name in ("run_calibration", "CalibrationSummary"):
        from handoff.calibration import run

        return getattr(run, name)
    raise AttributeError(name)
