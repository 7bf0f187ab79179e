"""Score thresholds of a model (PQL statuses, pqa_score in PQA tiers) and how a proposal
moves them.

Every threshold is first mapped to the proposed score so that the same share of rows sits
above it as today (volume-preserving quantile mapping). The routing threshold (a PQL status,
or the lowest routable PQA tier) is then chosen for a target precision (the lowest threshold
whose precision on the training rows reaches the target, with at least `min_support` rows
above it) and/or for rep capacity (the lowest threshold routing no more rows per week than
reps x handoffs per rep per week); with both, the higher of the two. The others are clamped
so the order of statuses / tiers stays intact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from handoff.calibration.config import ThresholdPolicy
from handoff.config.model import Condition, ScoringModel

PQA_SCORE = "pqa_score"


@dataclass(frozen=True)
class Threshold:
    kind: str  # "status" (pql.statuses) or "tier" (pqa.tiers, a pqa_score comparison)
    index: int  # position in pql.statuses / pqa.tiers
    name: str
    path: tuple[str | int, ...]  # inside the tier's `when` (empty for a status)
    op: str  # gte (statuses, gt/gte in tiers) or lt (lt/lte in tiers)
    current: float
    proposed: float | None = None
    route: bool = False  # the routing threshold

    @property
    def where(self) -> str:
        if self.kind == "status":
            return f"pql.statuses[{self.index}] ({self.name}).min_score"
        inner = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)
        return f"pqa.tiers[{self.index}] ({self.name}).when{inner}"

    def flags(self, score: np.ndarray, value: float | None = None) -> np.ndarray:
        v = self.current if value is None else value
        return score < v if self.op == "lt" else score >= v


def _score_conditions(
    cond: Condition, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str, float]]:
    if cond.feature == PQA_SCORE:
        op, value = cond.op
        if op in ("gt", "gte", "lt", "lte"):
            yield path, op, float(value)
        return
    for key in ("all", "any"):
        for i, child in enumerate(getattr(cond, key) or []):
            yield from _score_conditions(child, (*path, key, i))
    if cond.not_ is not None:
        yield from _score_conditions(cond.not_, (*path, "not"))


def model_thresholds(model: ScoringModel, entity: str, policy: ThresholdPolicy) -> list[Threshold]:
    """The score thresholds of the entity's scale, the routing one marked."""
    out: list[Threshold] = []
    if entity == "user":
        statuses = model.pql.statuses[:-1]
        route = policy.route_status or (statuses[0].name if statuses else None)
        if route is not None and route not in {s.name for s in statuses}:
            raise ValueError(
                f"route_status '{route}' is not a PQL status with a min_score of "
                f"{model.name}: {', '.join(s.name for s in statuses)}"
            )
        for i, st in enumerate(statuses):
            assert st.min_score is not None
            out.append(
                Threshold("status", i, st.name, (), "gte", st.min_score, route=st.name == route)
            )
        return out
    for i, tier in enumerate(model.pqa.tiers):
        if tier.when is None:
            continue
        for path, op, value in _score_conditions(tier.when):
            out.append(
                Threshold("tier", i, tier.name, path, "lt" if op in ("lt", "lte") else "gte", value)
            )
    lower = [t for t in out if t.op == "gte"]
    if policy.route_tier is not None:
        names = {t.name for t in lower}
        if policy.route_tier not in names:
            raise ValueError(
                f"route_tier '{policy.route_tier}' has no pqa_score threshold in {model.name}; "
                f"tiers with one: {', '.join(sorted(names)) or 'none'}"
            )
        route_name = policy.route_tier
    else:
        route_name = lower[-1].name if lower else None
    marked = False
    for k, t in enumerate(out):
        if not marked and t.name == route_name and t.op == "gte":
            out[k] = replace(t, route=True)
            marked = True
    return out


def _share(score: np.ndarray, t: Threshold, value: float) -> float:
    return float(np.mean(t.flags(score, value))) if len(score) else 0.0


def map_threshold(current: np.ndarray, proposed: np.ndarray, t: Threshold) -> float:
    """The proposed-score threshold with the share of rows above it closest to today's.

    A threshold that does not split the rows (all above it, e.g. the routing threshold when
    the rows are the handoffs it routed, or none) says nothing about its new place: it is
    kept."""
    target = _share(current, t, t.current)
    if target in (0.0, 1.0) or len(proposed) == 0:
        return t.current
    candidates = np.unique(np.round(proposed, 2))
    if t.op == "lt":
        candidates = np.append(candidates, candidates.max() + 1)
    gaps = np.array([abs(_share(proposed, t, c) - target) for c in candidates])
    best = np.flatnonzero(gaps == gaps.min())
    return float(candidates[best[-1]])


def weekly_volume(score: np.ndarray, times: pd.Series, value: float) -> float:
    """Mean rows per week with score >= value over the weeks the rows span."""
    t = pd.to_datetime(times)
    if t.empty:
        return 0.0
    weeks = max(1, int((t.max() - t.min()).days // 7) + 1)
    return float(np.sum(score >= value)) / weeks


@dataclass(frozen=True)
class Choice:
    value: float | None  # None: no threshold met the policy (the mapped one is kept)
    reason: str


def precision_threshold(
    score: np.ndarray, y: np.ndarray, target: float, min_support: int
) -> Choice:
    """The lowest score whose rows at or above it reach `target` precision."""
    best: tuple[float, float] | None = None
    for c in np.unique(np.round(score, 2)):
        above = score >= c
        n = int(above.sum())
        if n < min_support:
            continue
        p = float(np.mean(y[above]))
        if best is None or p > best[1]:
            best = (c, p)
        if p >= target:
            return Choice(
                float(c), f"lowest score with precision >= {target:.0%} on training: {p:.1%} "
                f"of {n} rows"
            )  # fmt: skip
    got = f"; best was {best[1]:.1%} at {best[0]:g}" if best else ""
    return Choice(
        None, f"no threshold reaches {target:.0%} precision with >= {min_support} rows{got}"
    )


def capacity_threshold(score: np.ndarray, times: pd.Series, per_week: float) -> Choice:
    """The lowest score that routes no more than `per_week` rows a week on average."""
    for c in np.unique(np.round(score, 2)):
        vol = weekly_volume(score, times, c)
        if vol <= per_week:
            return Choice(
                float(c), f"lowest score within capacity {per_week:g}/week: {vol:.1f}/week"
            )
    top = float(np.max(score)) if len(score) else 0.0
    return Choice(top + 1, f"even the top score routes more than {per_week:g}/week")


def propose_thresholds(
    thresholds: list[Threshold],
    current: np.ndarray,
    proposed: np.ndarray,
    y: np.ndarray,
    times: pd.Series,
    policy: ThresholdPolicy,
) -> tuple[list[Threshold], str]:
    """Map every threshold, choose the routing one, keep the order. Returns the thresholds
    with `proposed` set and a sentence on how the routing threshold was chosen."""
    mapped = [replace(t, proposed=map_threshold(current, proposed, t)) for t in thresholds]
    route = next((k for k, t in enumerate(mapped) if t.route), None)
    if route is None:
        return mapped, "the model has no routing threshold on its score"
    reasons, picks = [], []
    if policy.target_precision is not None:
        ch = precision_threshold(proposed, y, policy.target_precision, policy.min_support)
        reasons.append(ch.reason)
        if ch.value is not None:
            picks.append(ch.value)
    if policy.capacity is not None:
        ch = capacity_threshold(proposed, times, policy.capacity.per_week)
        reasons.append(ch.reason)
        if ch.value is not None:
            picks.append(ch.value)
    if picks:
        chosen = max(picks)
        mapped[route] = replace(mapped[route], proposed=chosen)
    elif _share(current, mapped[route], mapped[route].current) in (0.0, 1.0):
        reasons.append(
            "routing threshold kept: every row (or none) is above it today, so these rows "
            "cannot place it; set a target precision or a capacity to move it"
        )
    else:
        reasons.append("routing threshold keeps today's volume (quantile-mapped)")
    # keep the order: earlier statuses / tiers at or above the routing threshold
    lower = [k for k, t in enumerate(mapped) if t.op == "gte"]
    pos = lower.index(route)
    for a, b in zip(reversed(lower[:pos]), reversed(lower[: pos + 1]), strict=False):
        hi, lo = mapped[a], mapped[b]
        if hi.proposed is not None and lo.proposed is not None and hi.proposed < lo.proposed:
            mapped[a] = replace(hi, proposed=lo.proposed)
            reasons.append(f"{hi.where} raised to {lo.proposed:g} to stay above {lo.name}")
    for a, b in zip(lower[pos + 1 :], lower[pos:], strict=False):
        lo, hi = mapped[a], mapped[b]
        if hi.proposed is not None and lo.proposed is not None and lo.proposed > hi.proposed:
            mapped[a] = replace(lo, proposed=hi.proposed)
            reasons.append(f"{lo.where} lowered to {hi.proposed:g} to stay below {hi.name}")
    return mapped, "; ".join(reasons)
