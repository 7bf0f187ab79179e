"""Run the whole feedback loop from the warehouse: metrics, calibration, report, proposal.

This is what the handoff_calibrate DAG and the CLI call. Nothing is applied: the proposed
model is written beside the report for RevOps to review.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handoff.calibration.calibrate import CalibrationResult, calibrate_design
from handoff.calibration.config import CalibrationConfig, load_calibration_config
from handoff.calibration.dataset import DatasetCounts, build_dataset
from handoff.calibration.fit import CalibrationError, Estimate
from handoff.config.loader import load_model
from handoff.config.model import ScoringModel
from handoff.outcomes.metrics import Lift, OutcomeMetrics, compute_metrics, read_outcomes
from handoff.report.html import write_report
from handoff.warehouse import Warehouse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CalibrationSummary:
    model_version: str
    target: str
    horizon_days: int
    handoffs: int
    accept_rate: float | None
    accept_flag: str | None  # low / ok / high against the 60-75% band; None: no dispositions
    lift: Lift  # converted (won or self-serve) within the horizon, routed vs holdout
    self_serve_lift: Lift  # the cannibalisation counter-metric
    auc_current: Estimate | None  # held-out period; None when calibration could not run
    auc_proposed: Estimate | None
    precision_current: float | None  # held-out precision at the routing threshold
    precision_proposed: float | None
    threshold_current: float | None
    threshold_proposed: float | None
    proposed_version: str | None
    dataset: DatasetCounts | None
    report_path: Path
    proposed_model_path: Path | None
    calibration_skipped: str | None  # why there is no proposal (e.g. no observed outcomes)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly (paths as strings), for XCom and the CLI's --json."""
        out = asdict(self)
        out["report_path"] = str(self.report_path)
        out["proposed_model_path"] = (
            None if self.proposed_model_path is None else str(self.proposed_model_path)
        )
        return out


def run_calibration(
    wh: Warehouse,
    model: ScoringModel | str | Path,
    *,
    target: str | None = None,
    horizon_days: int | None = None,
    out_dir: str | Path,
    config: CalibrationConfig | None = None,
    now: datetime | None = None,
) -> CalibrationSummary:
    """Metrics over handoff_outcomes, calibration of `model` against `target`, the HTML
    report and, when the data allow a fit, the proposed model YAML, both in `out_dir`.

    `config` defaults to include/config/calibration.yaml; `target` and `horizon_days`
    override it. Missing tables or columns raise an
    error naming them; too little observed data skips the calibration (the report says
    why) but still reports the funnel."""
    if not isinstance(model, ScoringModel):
        model = load_model(model)
    cfg = config or load_calibration_config()
    updates: dict[str, Any] = {}
    if target is not None:
        updates["target"] = target
    if horizon_days is not None:
        updates["horizon_days"] = horizon_days
    if updates:
        cfg = CalibrationConfig.model_validate({**cfg.model_dump(), **updates})
    now = now or datetime.now(UTC).replace(tzinfo=None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    metrics: OutcomeMetrics = compute_metrics(
        read_outcomes(wh), period=cfg.period, horizon_days=cfg.horizon_days,
        confidence=cfg.confidence,
    )  # fmt: skip
    design, counts = build_dataset(
        wh, model, cfg.target, cfg.horizon_days, cfg.entity, cfg.population()
    )
    result: CalibrationResult | None = None
    skipped: str | None = None
    proposal: Path | None = None
    try:
        result = calibrate_design(design, model, cfg, cfg.target, cfg.horizon_days)
    except CalibrationError as exc:
        skipped = (
            f"{exc} ({counts.labelled} handoff(s) with an observed {cfg.horizon_days}-day "
            f"horizon, {counts.unobserved} not observed yet, {counts.rows} row(s) scored "
            "with features)"
        )
        log.warning("calibration skipped: %s", skipped)
    if result is not None:
        proposal = result.write_proposal(
            out / f"{model.name}-{result.proposed_version}.proposed.yaml"
        )
    report = write_report(
        out / f"handoff_report_{model.name}_{now:%Y%m%d}.html",
        metrics,
        result,
        calibration_message=skipped,
        generated_at=now,
    )
    ov = metrics.overall
    return CalibrationSummary(
        model_version=model.model_version,
        target=cfg.target,
        horizon_days=cfg.horizon_days,
        handoffs=int(ov["handoffs"] or 0),  # type: ignore[call-overload]
        accept_rate=ov["accept_rate"],  # type: ignore[arg-type]
        accept_flag=ov["accept_flag"],  # type: ignore[arg-type]
        lift=metrics.lift,
        self_serve_lift=metrics.self_serve,
        auc_current=None if result is None else result.current.auc,
        auc_proposed=None if result is None else result.proposed.auc,
        precision_current=None if result is None else result.current.precision,
        precision_proposed=None if result is None else result.proposed.precision,
        threshold_current=None if result is None else result.current.threshold,
        threshold_proposed=None if result is None else result.proposed.threshold,
        proposed_version=None if result is None else result.proposed_version,
        dataset=counts,
        report_path=report,
        proposed_model_path=proposal,
        calibration_skipped=skipped,
    )
