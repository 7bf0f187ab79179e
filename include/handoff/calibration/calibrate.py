"""Calibrate a scoring model against outcomes: fit, evaluate, propose.

`calibrate_table` runs on any table of features, an outcome and a time; `calibrate_design`
is the shared core that the warehouse path (handoff.calibration.run) uses as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from handoff.calibration.config import CalibrationConfig
from handoff.calibration.design import Design, table_design
from handoff.calibration.fit import (
    CalibrationError,
    Estimate,
    Fit,
    Split,
    auc_with_ci,
    brier,
    fit_logistic,
    lift_by_decile,
    lift_by_tier,
    reliability,
    signal_lift,
    time_split,
)
from handoff.calibration.propose import (
    PointChange,
    bump_version,
    proposal_header,
    propose_points,
    proposed_model_data,
    render_yaml,
    write_proposal,
)
from handoff.calibration.thresholds import (
    Threshold,
    model_thresholds,
    propose_thresholds,
    weekly_volume,
)
from handoff.config.model import ScoringModel


@dataclass
class ModelEval:
    """One model (current or proposed) on the held-out period."""

    name: str
    version: str
    auc: Estimate
    threshold: float | None
    flagged: int  # held-out rows at or above the routing threshold
    precision: float | None
    recall: float | None
    per_week: float  # flagged rows per week


@dataclass
class CalibrationResult:
    model: ScoringModel
    config: CalibrationConfig
    target: str
    entity: str
    rows: int
    split: Split
    train_rows: int
    test_rows: int
    train_rate: float
    test_rate: float
    fit: Fit
    fitted_auc: Estimate  # the unrounded fitted probabilities on the test period
    brier: float | None
    reliability: pd.DataFrame
    deciles: pd.DataFrame
    tiers: pd.DataFrame
    signals: pd.DataFrame  # per-signal lift, coefficient, current and proposed points
    points: list[PointChange]
    thresholds: list[Threshold]
    threshold_reason: str
    current: ModelEval
    proposed: ModelEval
    proposed_version: str
    proposed_yaml: str
    excluded: dict[str, str]
    horizon_days: int | None = None
    proposed_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    def comparison(self) -> pd.DataFrame:
        rows = []
        for ev in (self.current, self.proposed):
            rows.append(
                {
                    "model": ev.name,
                    "version": ev.version,
                    "auc": ev.auc.value,
                    "auc_low": ev.auc.low,
                    "auc_high": ev.auc.high,
                    "threshold": ev.threshold,
                    "flagged": ev.flagged,
                    "precision": ev.precision,
                    "recall": ev.recall,
                    "per_week": ev.per_week,
                }
            )
        return pd.DataFrame(rows)

    def write_proposal(self, path: str | Path) -> Path:
        self.proposed_path = write_proposal(path, self.proposed_yaml)
        return self.proposed_path


def _evaluate(
    name: str, version: str, y: np.ndarray, score: np.ndarray, times: pd.Series,
    threshold: Threshold | None, value: float | None, cfg: CalibrationConfig,
) -> ModelEval:  # fmt: skip
    est = auc_with_ci(y, score, cfg.bootstrap, cfg.confidence, cfg.seed)
    if threshold is None or value is None:
        return ModelEval(name, version, est, None, 0, None, None, 0.0)
    flags = threshold.flags(score, value)
    n = int(flags.sum())
    pos = int(y.sum())
    return ModelEval(
        name=name,
        version=version,
        auc=est,
        threshold=value,
        flagged=n,
        precision=float(np.mean(y[flags])) if n else None,
        recall=float(y[flags].sum() / pos) if pos else None,
        per_week=weekly_volume(score, times, value) if threshold.op == "gte" else float(n),
    )


def _fmt(est: Estimate) -> str:
    if est.value is None:
        return "n/a"
    if est.low is None:
        return f"{est.value:.3f}"
    return f"{est.value:.3f} [{est.low:.3f}, {est.high:.3f}]"


def calibrate_design(
    design: Design,
    model: ScoringModel,
    config: CalibrationConfig | None = None,
    target: str | None = None,
    horizon_days: int | None = None,
) -> CalibrationResult:
    """Split by time, fit on the earlier rows, evaluate on the later, propose a model."""
    cfg = config or CalibrationConfig()
    target = target or cfg.target
    if len(design) == 0:
        raise CalibrationError(
            "no labelled rows: no outcome has been observed over its horizon yet"
        )
    split = time_split(design.time, cfg.test_fraction, cfg.embargo_days)
    train, test = design.subset(split.train), design.subset(split.test)
    fit = fit_logistic(train, cfg.regularization, cfg.min_signal_fires)
    points = propose_points(model, design, fit, cfg.round_to)
    by_id = {p.signal: p.proposed for p in points}
    new_pts = np.array([by_id[s.id] for s in design.signals])
    cur_train, new_train = train.score(), train.score(new_pts)
    cur_test, new_test = test.score(), test.score(new_pts)

    policy = cfg.thresholds
    thresholds = model_thresholds(model, design.entity, policy)
    thresholds, reason = propose_thresholds(
        thresholds, cur_train, new_train, train.y, train.time, policy
    )
    route = next((t for t in thresholds if t.route), None)

    prob = fit.predict(test)
    version = bump_version(model.version)
    current = _evaluate(
        "current", model.version, test.y, cur_test, test.time, route,
        None if route is None else route.current, cfg,
    )  # fmt: skip
    proposed = _evaluate(
        "proposed", version, test.y, new_test, test.time, route,
        None if route is None else route.proposed, cfg,
    )  # fmt: skip
    fitted_auc = auc_with_ci(test.y, prob, cfg.bootstrap, cfg.confidence, cfg.seed)

    sig = signal_lift(design)
    cur = {p.signal: p for p in points}
    if not sig.empty:
        sig["coef"] = sig["signal"].map(fit.coef)
        sig["current_points"] = sig["signal"].map(lambda s: cur[s].current)
        sig["proposed_points"] = sig["signal"].map(lambda s: cur[s].proposed)
        sig["note"] = sig["signal"].map(lambda s: cur[s].note)

    notes = []
    if design.excluded:
        notes += [f"{s} not fitted: {why}" for s, why in design.excluded.items()]
    if split.embargoed:
        notes.append(f"{split.embargoed} row(s) dropped by the {cfg.embargo_days:g}-day embargo")
    if len(np.unique(test.y)) < 2:
        notes.append("the test period has a single class: AUC is not defined")

    horizon = f", horizon {horizon_days} days" if horizon_days else ""
    evidence = [
        f"target: {target}{horizon}; entity: {design.entity}; rows: {len(design)} "
        f"(train {len(train)}, test {len(test)})",
        f"train as_of {split.train_start:%Y-%m-%d} .. {split.train_end:%Y-%m-%d} "
        f"(rate {train.y.mean():.1%}); test {split.test_start:%Y-%m-%d} .. "
        f"{split.test_end:%Y-%m-%d} (rate {test.y.mean() if len(test) else 0:.1%})",
        f"held-out AUC current {_fmt(current.auc)}, proposed {_fmt(proposed.auc)}, "
        f"fitted {_fmt(fitted_auc)}; Brier {brier(test.y, prob) or 0:.4f}",
        f"routing threshold: {reason}",
    ]
    if route is not None:
        evidence.append(
            f"{route.where}: {route.current:g} -> {route.proposed:g}; held-out precision "
            f"current {_pct(current.precision)} vs proposed {_pct(proposed.precision)}"
        )
    evidence.append("points (signal: current -> proposed, coefficient):")
    evidence += [
        f"  {p.signal}: {p.current:g} -> {p.proposed:g}"
        + (f" ({p.coef:+.3f})" if p.coef is not None else f" ({p.note})")
        for p in points
    ]
    data = proposed_model_data(model, points, thresholds, version)
    text = render_yaml(data, proposal_header(model, version, evidence))
    return CalibrationResult(
        model=model,
        config=cfg,
        target=target,
        entity=design.entity,
        rows=len(design),
        split=split,
        train_rows=len(train),
        test_rows=len(test),
        train_rate=float(train.y.mean()),
        test_rate=float(test.y.mean()) if len(test) else 0.0,
        fit=fit,
        fitted_auc=fitted_auc,
        brier=brier(test.y, prob),
        reliability=reliability(test.y, prob, cfg.reliability_bins),
        deciles=lift_by_decile(test.y, prob),
        tiers=lift_by_tier(design.y, design.tier),
        signals=sig,
        points=points,
        thresholds=thresholds,
        threshold_reason=reason,
        current=current,
        proposed=proposed,
        proposed_version=version,
        proposed_yaml=text,
        excluded=dict(design.excluded),
        horizon_days=horizon_days,
        notes=notes,
    )


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def calibrate_table(
    df: pd.DataFrame,
    model: ScoringModel,
    target_col: str,
    time_col: str,
    *,
    entity: str = "account",
    tier_col: str | None = None,
    exclude_cols: tuple[str, ...] | list[str] = (),
    config: CalibrationConfig | None = None,
    out_path: str | Path | None = None,
    table: str = "table",
) -> CalibrationResult:
    """Calibrate `model` on any table: feature columns the model's signals read, a 0/1
    outcome column and a time column (when the features were taken). Columns listed in
    `exclude_cols` (and the contract's outcome columns) are never used as features. With
    `out_path`, the proposed model YAML is written there (and checked to load)."""
    design = table_design(df, model, target_col, time_col, entity, tier_col, exclude_cols, table)
    result = calibrate_design(design, model, config, target=target_col)
    if out_path is not None:
        result.write_proposal(out_path)
    return result
