"""Time-ordered split, regularised logistic regression, and the evaluation figures.

Split: rows are ordered by their time (the score's as_of); the last `test_fraction` of the
distinct times form the test period and every training row is strictly earlier than every
test row (minus an optional embargo: training rows within `embargo_days` of the test start
are dropped, so no training label can be observed after the test period begins).

Figures: AUC with a percentile bootstrap interval (resampling the test rows), Brier score,
reliability curve (mean predicted vs observed rate in equal-width probability bins), lift by
decile (rows ranked by predicted probability; decile 1 is the top tenth), conversion and
lift by tier, and per-signal lift (conversion when fired vs not fired, with the counts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression

from handoff.calibration.design import Design
from handoff.errors import HandoffError


class CalibrationError(HandoffError):
    """Not enough (or unusable) data to calibrate; the message says what is missing."""


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # boolean masks over the design's rows
    test: np.ndarray
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    embargoed: int


def time_split(times: pd.Series, test_fraction: float = 0.3, embargo_days: float = 0.0) -> Split:
    """Train on the earlier times, test on the later: the test period starts at the first
    distinct time from which at least `test_fraction` of the rows remain."""
    t = pd.to_datetime(times).reset_index(drop=True)
    if t.empty:
        raise CalibrationError("no labelled rows to split")
    counts = t.value_counts().sort_index()
    if len(counts) < 2:
        raise CalibrationError(
            f"all {len(t)} labelled rows share one time ({counts.index[0]}): a time-ordered "
            "split needs at least two distinct as_of values"
        )
    remaining = counts[::-1].cumsum()[::-1] / len(t)  # share of rows at or after each time
    eligible = remaining[remaining >= test_fraction]
    test_start = eligible.index[-1]
    if test_start == counts.index[0]:  # keep at least one time for training
        test_start = counts.index[1]
    test = (t >= test_start).to_numpy()
    cutoff = test_start - pd.to_timedelta(embargo_days, unit="D")
    train = (t < cutoff).to_numpy()
    embargoed = int(((t < test_start) & (t >= cutoff)).sum())
    if not train.any():
        raise CalibrationError(
            f"no training rows before {cutoff} (embargo of {embargo_days} days before the "
            f"test period starting {test_start})"
        )
    return Split(
        train=train,
        test=test,
        train_start=t[train].min(),
        train_end=t[train].max(),
        test_start=test_start,
        test_end=t[test].max(),
        embargoed=embargoed,
    )


@dataclass(frozen=True)
class Fit:
    coef: dict[str, float]  # signal id -> coefficient (log-odds per unit of its column)
    intercept: float
    fitted: list[str]  # signals with enough fires in training to be re-weighted
    kept: dict[str, str]  # signal id -> why its current points are kept
    estimator: LogisticRegression

    def predict(self, design: Design) -> np.ndarray:
        if not self.fitted:
            return np.full(len(design), 1 / (1 + np.exp(-self.intercept)))
        return self.estimator.predict_proba(design.X[self.fitted].to_numpy(dtype=float))[:, 1]


def fit_logistic(train: Design, regularization: float = 1.0, min_fires: int = 20) -> Fit:
    """L2-regularised logistic regression of the label on the signal columns (sklearn,
    lbfgs). Signals that fire fewer than `min_fires` times (or on every row) in training are
    not fitted: their current points are kept."""
    y = train.y
    if len(np.unique(y)) < 2:
        raise CalibrationError(
            f"the training period has {len(y)} row(s), all with label {int(y[0]) if len(y) else '-'}"
            ": a fit needs both converted and non-converted rows"
        )
    kept: dict[str, str] = {}
    fitted = []
    for sig in train.signals:
        col = train.X[sig.id].to_numpy(dtype=float)
        fires = int((col != 0).sum())
        if fires < min_fires:
            kept[sig.id] = f"fired {fires} time(s) in training (< {min_fires})"
        elif np.ptp(col) == 0:
            kept[sig.id] = "same value on every training row"
        else:
            fitted.append(sig.id)
    est = LogisticRegression(C=regularization, max_iter=2000)
    if fitted:
        est.fit(train.X[fitted].to_numpy(dtype=float), y)
        coef = dict(zip(fitted, est.coef_[0].astype(float), strict=True))
        intercept = float(est.intercept_[0])
    else:
        coef, p = {}, float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        intercept = float(np.log(p / (1 - p)))
    return Fit(coef=coef, intercept=intercept, fitted=fitted, kept=kept, estimator=est)


# -- figures -------------------------------------------------------------------------------


def auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties count half); None with one class."""
    y = np.asarray(y).astype(bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


@dataclass(frozen=True)
class Estimate:
    value: float | None
    low: float | None
    high: float | None


def auc_with_ci(
    y: np.ndarray, score: np.ndarray, n_boot: int = 500, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """AUC and its percentile bootstrap interval over resampled rows (resamples with a
    single class are skipped)."""
    value = auc(y, score)
    if value is None:
        return Estimate(None, None, None)
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(n_boot, len(y)))
    yb, sb = y[idx], score[idx]
    n1 = yb.sum(axis=1)
    n0 = len(y) - n1
    ranks = rankdata(sb, axis=1)
    ok = (n1 > 0) & (n0 > 0)
    pos_rank_sum = (ranks * yb).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        aucs = (pos_rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0)
    aucs = aucs[ok]
    if len(aucs) == 0:
        return Estimate(value, None, None)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(aucs, [alpha, 1 - alpha])
    return Estimate(value, float(lo), float(hi))


def brier(y: np.ndarray, prob: np.ndarray) -> float | None:
    return None if len(y) == 0 else float(np.mean((np.asarray(prob) - np.asarray(y)) ** 2))


def reliability(y: np.ndarray, prob: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Per equal-width probability bin with rows: bin edges, rows, mean predicted, observed."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(prob, edges[1:-1], right=False), 0, bins - 1)
    rows = []
    for b in range(bins):
        m = which == b
        if m.any():
            rows.append(
                {
                    "bin_low": edges[b],
                    "bin_high": edges[b + 1],
                    "rows": int(m.sum()),
                    "predicted": float(np.mean(prob[m])),
                    "observed": float(np.mean(y[m])),
                }
            )
    return pd.DataFrame(rows, columns=["bin_low", "bin_high", "rows", "predicted", "observed"])


def lift_by_decile(y: np.ndarray, score: np.ndarray, groups: int = 10) -> pd.DataFrame:
    """Rows ranked by score (ties broken by order), cut into `groups` equal parts; decile 1
    is the highest-scored. Lift = the part's conversion / overall conversion."""
    n = len(y)
    cols = ["decile", "rows", "converted", "rate", "lift", "min_score", "max_score"]
    if n == 0:
        return pd.DataFrame(columns=cols)
    k = min(groups, n)
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    base = float(np.mean(y))
    rows = []
    for d, part in enumerate(np.array_split(order, k), start=1):
        conv = int(np.sum(y[part]))
        r = conv / len(part)
        rows.append(
            {
                "decile": d,
                "rows": len(part),
                "converted": conv,
                "rate": r,
                "lift": None if base == 0 else r / base,
                "min_score": float(np.min(score[part])),
                "max_score": float(np.max(score[part])),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def lift_by_tier(y: np.ndarray, tier: pd.Series | None) -> pd.DataFrame:
    cols = ["tier", "rows", "converted", "rate", "lift"]
    if tier is None or len(y) == 0:
        return pd.DataFrame(columns=cols)
    base = float(np.mean(y))
    frame = pd.DataFrame({"tier": tier.astype(object).fillna("(none)").to_numpy(), "y": y})
    rows = []
    for name, g in frame.groupby("tier", sort=True):
        r = float(g["y"].mean())
        rows.append(
            {
                "tier": name,
                "rows": len(g),
                "converted": int(g["y"].sum()),
                "rate": r,
                "lift": None if base == 0 else r / base,
            }
        )
    return pd.DataFrame(rows, columns=cols)


def signal_lift(design: Design) -> pd.DataFrame:
    """Per signal: rows where it fired and not, conversion in each, and their ratio."""
    y = design.y
    rows = []
    for sig in design.signals:
        f = design.fired[sig.id].to_numpy() > 0
        n1, n0 = int(f.sum()), int((~f).sum())
        k1, k0 = int(y[f].sum()), int(y[~f].sum())
        r1 = k1 / n1 if n1 else None
        r0 = k0 / n0 if n0 else None
        rows.append(
            {
                "signal": sig.id,
                "label": sig.label,
                "category": sig.category,
                "fired": n1,
                "fired_converted": k1,
                "fired_rate": r1,
                "not_fired": n0,
                "not_fired_converted": k0,
                "not_fired_rate": r0,
                "lift": None if r1 is None or not r0 else r1 / r0,
            }
        )
    return pd.DataFrame(rows)
