"""Funnel metrics of the handoffs and their lift over the holdout.

Input: HANDOFF_OUTCOMES (handoff.outcomes.schema), one row per handoff, routed or holdout.
Definitions (seed 003 section 9, seed 004 section 1, seed 000 "What success looks like"):

- volume: handoffs (routed + holdout), routed, holdout. The funnel rates below are over
  the **routed** handoffs only: a holdout account never meets a rep.
- accept rate = accepted / dispositioned (accepted + rejected); flagged "low" below 60% and
  "high" above 75% (seed 004's healthy band), None while nothing is dispositioned.
- PQL -> opportunity = routed handoffs with an opportunity / routed handoffs.
- PQL -> closed-won = routed handoffs whose opportunity closed won / routed handoffs.
  Both are cohort rates: recent periods are immature and read low.
- time to touch = first_touch_at - handed_off_at in hours over touched routed handoffs:
  median and p90 (linear interpolation between order statistics, numpy's default), and
  conversion by bucket: <4 h, 4-24 h, 24-72 h, >72 h (left-closed: exactly 4 h is "4-24 h"),
  plus the untouched.
- SLA compliance = met / (met + missed) over routed handoffs with an SLA: met = first
  touch at or before sla_due_at; missed = touched after it, or untouched while
  observed_until is past it. Untouched and not yet due (or not observed) is excluded.
- cycle time = closed_at - handed_off_at in days, over won handoffs (median and mean).
- ACV = mean amount of the won handoffs with an amount.
- lift: conversion of routed vs holdout, where a handoff converts when it closed won or
  converted self-serve within `horizon_days` of handed_off_at, counted only for handoffs
  whose horizon is observed (observed_until >= handed_off_at + horizon). The interval is
  Newcombe's hybrid score interval (method 10, from two Wilson intervals) for the
  difference of proportions. The same, with self-serve conversion alone, is the
  cannibalisation counter-metric (seed 003: sales intercepting users who would have
  converted alone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import norm

from handoff.errors import HandoffError
from handoff.outcomes.schema import HANDOFF_OUTCOME_COLUMNS, HANDOFF_OUTCOMES_TABLE
from handoff.warehouse import Warehouse

ACCEPT_BAND = (0.60, 0.75)
TOUCH_BUCKETS: list[tuple[str, float, float]] = [
    ("<4 h", 0.0, 4.0),
    ("4-24 h", 4.0, 24.0),
    ("24-72 h", 24.0, 72.0),
    (">72 h", 72.0, math.inf),
]
UNTOUCHED = "untouched"
DIMENSIONS = ("tier", "segment", "trigger_id", "owner_email")
NONE_LABEL = "(none)"
Outcome = Literal["won", "self_serve", "converted", "opportunity"]

TIME_COLUMNS = (
    "as_of", "handed_off_at", "sla_due_at", "disposition_at", "first_touch_at",
    "opportunity_opened_at", "closed_at", "self_serve_converted_at", "observed_until",
)  # fmt: skip
METRIC_COLUMNS = (
    "decision", "tier", "segment", "trigger_id", "owner_email", "handed_off_at", "sla_due_at",
    "disposition", "first_touch_at", "opportunity_id", "opportunity_opened_at", "closed_at",
    "won", "amount", "self_serve_converted_at", "observed_until",
)  # fmt: skip


class MissingColumnsError(HandoffError, ValueError):
    """A table or frame lacks columns a stage needs; names the table and the columns."""

    def __init__(self, table: str, missing: list[str], available: list[str]) -> None:
        self.table, self.missing = table, missing
        super().__init__(
            f"{table}: missing column(s) {', '.join(missing)}; "
            f"it has: {', '.join(available) or 'no columns'}"
        )


class MissingTableError(HandoffError, LookupError):
    def __init__(self, table: str, hint: str = "") -> None:
        self.table = table
        super().__init__(f"table {table} not found in the warehouse{hint}")


def require_columns(df: pd.DataFrame, columns: tuple[str, ...] | list[str], table: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise MissingColumnsError(table, missing, [str(c) for c in df.columns])


def read_outcomes(wh: Warehouse) -> pd.DataFrame:
    """The handoff_outcomes table, with its columns checked against the contract."""
    if not wh.has_table(HANDOFF_OUTCOMES_TABLE):
        raise MissingTableError(
            HANDOFF_OUTCOMES_TABLE, " (it is written by the outcomes pull: handoff.outcomes)"
        )
    df = wh.query(f"SELECT * FROM {HANDOFF_OUTCOMES_TABLE}")
    require_columns(df, list(HANDOFF_OUTCOME_COLUMNS), HANDOFF_OUTCOMES_TABLE)
    return prepare_outcomes(df)


def prepare_outcomes(df: pd.DataFrame, table: str = HANDOFF_OUTCOMES_TABLE) -> pd.DataFrame:
    """Check the columns the metrics read and normalise their types (times, won, amount)."""
    require_columns(df, METRIC_COLUMNS, table)
    out = df.copy()
    for col in TIME_COLUMNS:
        if col in out.columns:
            out[col] = pd.to_datetime(out[col])
    out["won"] = out["won"].map(lambda v: None if _isna(v) else bool(v)).astype("boolean")
    out["amount"] = pd.to_numeric(out["amount"], errors="coerce").astype(float)
    for col in ("decision", "disposition"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
        out[col] = out[col].map(lambda v: v if v is None else str(v).strip().lower())
    return out


def _isna(v: object) -> bool:
    return v is None or (not isinstance(v, str) and bool(pd.isna(v)))


# -- rates and intervals --------------------------------------------------------------------


def rate(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def accept_flag(accept_rate: float | None, band: tuple[float, float] = ACCEPT_BAND) -> str | None:
    """'low' below the healthy band, 'high' above it, 'ok' inside it, None without data."""
    if accept_rate is None:
        return None
    if accept_rate < band[0]:
        return "low"
    if accept_rate > band[1]:
        return "high"
    return "ok"


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n (n > 0)."""
    if n <= 0:
        raise ValueError("wilson_interval needs n > 0")
    z = float(norm.ppf(0.5 + confidence / 2))
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z / den * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(
    k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, method 10) for p1 - p2."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    d = p1 - p2
    return (
        d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


# -- per-group funnel -----------------------------------------------------------------------


def _hours(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.total_seconds() / 3600.0


def _quantile(values: pd.Series, q: float) -> float | None:
    vals = values.dropna().to_numpy(dtype=float)
    return None if len(vals) == 0 else float(np.quantile(vals, q))


def sla_status(df: pd.DataFrame) -> pd.Series:
    """'met', 'missed' or None (no SLA, or untouched and not yet known to be past due)."""
    due, touch, seen = df["sla_due_at"], df["first_touch_at"], df["observed_until"]
    out = pd.Series([None] * len(df), index=df.index, dtype=object)
    has_due = due.notna()
    out[has_due & touch.notna() & (touch <= due)] = "met"
    out[has_due & touch.notna() & (touch > due)] = "missed"
    out[has_due & touch.isna() & seen.notna() & (seen > due)] = "missed"
    return out


def has_opportunity(df: pd.DataFrame) -> pd.Series:
    return df["opportunity_id"].notna() | df["opportunity_opened_at"].notna()


def is_won(df: pd.DataFrame) -> pd.Series:
    return df["won"].fillna(False).astype(bool)


def summarize(df: pd.DataFrame, band: tuple[float, float] = ACCEPT_BAND) -> dict[str, object]:
    """The funnel figures of one group of handoffs (prepared by prepare_outcomes)."""
    routed = df[df["decision"] == "routed"]
    n_routed = len(routed)
    accepted = int((routed["disposition"] == "accepted").sum())
    rejected = int((routed["disposition"] == "rejected").sum())
    dispositioned = accepted + rejected
    opps = int(has_opportunity(routed).sum())
    won_mask = is_won(routed)
    won = routed[won_mask]
    ttt = _hours(routed["first_touch_at"], routed["handed_off_at"]).dropna()
    sla = sla_status(routed)
    met, missed = int((sla == "met").sum()), int((sla == "missed").sum())
    cycle = (won["closed_at"] - won["handed_off_at"]).dt.total_seconds().dropna() / 86400.0
    amounts = won["amount"].dropna()
    ss = int(routed["self_serve_converted_at"].notna().sum())
    acc_rate = rate(accepted, dispositioned)
    return {
        "handoffs": len(df),
        "routed": n_routed,
        "holdout": int((df["decision"] == "holdout").sum()),
        "dispositioned": dispositioned,
        "accepted": accepted,
        "rejected": rejected,
        "accept_rate": acc_rate,
        "accept_flag": accept_flag(acc_rate, band),
        "opportunities": opps,
        "opportunity_rate": rate(opps, n_routed),
        "won": int(won_mask.sum()),
        "won_rate": rate(int(won_mask.sum()), n_routed),
        "touched": len(ttt),
        "ttt_median_h": _quantile(ttt, 0.5),
        "ttt_p90_h": _quantile(ttt, 0.9),
        "sla_evaluated": met + missed,
        "sla_met": met,
        "sla_compliance": rate(met, met + missed),
        "cycle_days_median": None if cycle.empty else float(cycle.median()),
        "cycle_days_mean": None if cycle.empty else float(cycle.mean()),
        "acv": None if amounts.empty else float(amounts.mean()),
        "won_amount": float(amounts.sum()),
        "self_serve": ss,
        "self_serve_rate": rate(ss, n_routed),
    }


def period_start(ts: pd.Series, period: Literal["week", "month"]) -> pd.Series:
    """Start of the ISO week (Monday 00:00) or of the month of each time."""
    if period == "week":
        return ts.dt.to_period("W-SUN").dt.start_time
    if period == "month":
        return ts.dt.to_period("M").dt.start_time
    raise ValueError(f"period must be 'week' or 'month', not {period!r}")


def funnel(
    df: pd.DataFrame,
    by: str | list[str] | None = None,
    period: Literal["week", "month"] | None = None,
    band: tuple[float, float] = ACCEPT_BAND,
) -> pd.DataFrame:
    """One row of funnel figures per group: `by` dimension(s) and/or period of handed_off_at.

    NULL dimension values (e.g. the holdout's owner) form their own group, '(none)'."""
    keys = [by] if isinstance(by, str) else list(by or [])
    frame = df.copy()
    for key in keys:
        if key not in frame.columns:
            raise MissingColumnsError(HANDOFF_OUTCOMES_TABLE, [key], list(frame.columns))
        frame[key] = frame[key].astype(object).where(frame[key].notna(), NONE_LABEL)
    if period is not None:
        frame["period"] = period_start(frame["handed_off_at"], period)
        keys = ["period", *keys]
    if not keys:
        return pd.DataFrame([summarize(frame, band)])
    rows = []
    if frame.empty:
        return pd.DataFrame(columns=[*keys, *summarize(frame, band).keys()])
    for values, group in frame.groupby(keys, sort=True, dropna=False):
        vals = values if isinstance(values, tuple) else (values,)
        rows.append({**dict(zip(keys, vals, strict=True)), **summarize(group, band)})
    return pd.DataFrame(rows)


def touch_bucket(hours: pd.Series) -> pd.Series:
    """Bucket label of each time to touch in hours; 'untouched' for NULL."""
    out = pd.Series([UNTOUCHED] * len(hours), index=hours.index, dtype=object)
    h = hours.clip(lower=0)
    for label, lo, hi in TOUCH_BUCKETS:
        out[(h >= lo) & (h < hi)] = label
    return out


def conversion_by_touch(df: pd.DataFrame) -> pd.DataFrame:
    """Routed handoffs per time-to-touch bucket: count, opportunities, won and their rates."""
    routed = df[df["decision"] == "routed"]
    bucket = touch_bucket(_hours(routed["first_touch_at"], routed["handed_off_at"]))
    rows = []
    for label in [b[0] for b in TOUCH_BUCKETS] + [UNTOUCHED]:
        sub = routed[bucket == label]
        opps, won = int(has_opportunity(sub).sum()), int(is_won(sub).sum())
        rows.append(
            {
                "bucket": label,
                "handoffs": len(sub),
                "opportunities": opps,
                "opportunity_rate": rate(opps, len(sub)),
                "won": won,
                "won_rate": rate(won, len(sub)),
            }
        )
    return pd.DataFrame(rows)


# -- lift over the holdout ------------------------------------------------------------------


@dataclass(frozen=True)
class Lift:
    outcome: str
    horizon_days: int
    confidence: float
    routed_n: int
    routed_converted: int
    holdout_n: int
    holdout_converted: int
    unobserved: int  # handoffs left out because their horizon is not observed yet
    routed_rate: float | None
    holdout_rate: float | None
    difference: float | None  # routed_rate - holdout_rate
    ci_low: float | None
    ci_high: float | None
    relative: float | None  # routed_rate / holdout_rate - 1
    method: str = "Newcombe hybrid score interval (method 10) from Wilson intervals"

    @property
    def significant(self) -> bool:
        return (
            self.ci_low is not None
            and self.ci_high is not None
            and (self.ci_low > 0 or self.ci_high < 0)
        )


def outcome_time(df: pd.DataFrame, outcome: Outcome) -> pd.Series:
    """When each handoff reached `outcome` (NaT if it did not)."""
    won_at = df["closed_at"].where(is_won(df))
    if outcome == "won":
        return won_at
    if outcome == "self_serve":
        return df["self_serve_converted_at"]
    if outcome == "converted":
        return pd.concat([won_at, df["self_serve_converted_at"]], axis=1).min(axis=1)
    if outcome == "opportunity":
        return df["opportunity_opened_at"]
    raise ValueError(
        f"outcome must be one of won, self_serve, converted, opportunity, not {outcome!r}"
    )


def converted_within(
    df: pd.DataFrame, outcome: Outcome, horizon_days: float
) -> tuple[pd.Series, pd.Series]:
    """(converted, observed) per handoff: reached `outcome` within the horizon after
    handed_off_at, and the horizon is covered by observed_until."""
    start = df["handed_off_at"]
    end = start + pd.to_timedelta(horizon_days, unit="D")
    at = outcome_time(df, outcome)
    converted = (at.notna() & (at >= start) & (at <= end)).astype(bool)
    observed = (df["observed_until"].notna() & (df["observed_until"] >= end)).astype(bool)
    return converted, observed


def lift_vs_holdout(
    df: pd.DataFrame,
    outcome: Outcome = "converted",
    horizon_days: int = 90,
    confidence: float = 0.95,
) -> Lift:
    """Conversion of routed vs holdout handoffs within the horizon, with its interval."""
    converted, observed = converted_within(df, outcome, horizon_days)
    arms = {}
    for arm in ("routed", "holdout"):
        mask = (df["decision"] == arm).to_numpy() & observed.to_numpy()
        arms[arm] = (int(mask.sum()), int(converted.to_numpy()[mask].sum()))
    (n1, k1), (n2, k2) = arms["routed"], arms["holdout"]
    in_arms = df["decision"].isin(["routed", "holdout"]).to_numpy()
    p1, p2 = rate(k1, n1), rate(k2, n2)
    lo = hi = diff = rel = None
    if p1 is not None and p2 is not None:
        diff = p1 - p2
        lo, hi = newcombe_interval(k1, n1, k2, n2, confidence)
        rel = None if p2 == 0 else p1 / p2 - 1
    return Lift(
        outcome=outcome,
        horizon_days=horizon_days,
        confidence=confidence,
        routed_n=n1,
        routed_converted=k1,
        holdout_n=n2,
        holdout_converted=k2,
        unobserved=int((in_arms & ~observed.to_numpy()).sum()),
        routed_rate=p1,
        holdout_rate=p2,
        difference=diff,
        ci_low=lo,
        ci_high=hi,
        relative=rel,
    )


# -- everything at once ---------------------------------------------------------------------


@dataclass
class OutcomeMetrics:
    overall: dict[str, object]
    by_period: pd.DataFrame
    by_dimension: dict[str, pd.DataFrame]
    by_touch: pd.DataFrame
    lift: Lift  # converted (won or self-serve) within the horizon, routed vs holdout
    self_serve: Lift  # the cannibalisation counter-metric
    period: str
    horizon_days: int
    accept_band: tuple[float, float] = ACCEPT_BAND
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return int(self.overall.get("handoffs", 0) or 0) == 0


def compute_metrics(
    df: pd.DataFrame,
    period: Literal["week", "month"] = "week",
    horizon_days: int = 90,
    confidence: float = 0.95,
    accept_band: tuple[float, float] = ACCEPT_BAND,
    dimensions: tuple[str, ...] = DIMENSIONS,
) -> OutcomeMetrics:
    """All funnel figures, per period and per dimension, and the lift over the holdout."""
    frame = prepare_outcomes(df)
    notes = []
    overall = summarize(frame, accept_band)
    lift = lift_vs_holdout(frame, "converted", horizon_days, confidence)
    ss = lift_vs_holdout(frame, "self_serve", horizon_days, confidence)
    if frame.empty:
        notes.append("No handoffs yet: handoff_outcomes is empty.")
    elif lift.routed_n == 0 or lift.holdout_n == 0:
        notes.append(
            f"No lift yet: {lift.unobserved} handoff(s) have less than {horizon_days} days "
            "of observed outcomes, and each arm needs at least one that has."
        )
    return OutcomeMetrics(
        overall=overall,
        by_period=funnel(frame, period=period, band=accept_band),
        by_dimension={d: funnel(frame, by=d, band=accept_band) for d in dimensions},
        by_touch=conversion_by_touch(frame),
        lift=lift,
        self_serve=ss,
        period=period,
        horizon_days=horizon_days,
        accept_band=accept_band,
        notes=notes,
    )
