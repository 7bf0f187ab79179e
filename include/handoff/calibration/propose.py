"""Turn a fit into proposed points and thresholds, and write them as a new model version.

Points: the coefficients of the fitted signals are scaled so that their total absolute size
equals the total absolute points of the same signals today (the model keeps its point scale),
then rounded to multiples of `round_to`. Signals without enough data keep their points.
Within a ladder group the rungs keep today's order (a stronger rung never gets fewer points
than a weaker one), so the engine counts the same rung the fit assumed.

The proposal is written beside the report, never over the model in use: a header says it
is a proposal, with the evidence, and RevOps decide whether to copy it into
include/config/models/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from handoff.calibration.design import Design
from handoff.calibration.fit import Fit
from handoff.calibration.thresholds import Threshold
from handoff.config.loader import load_model
from handoff.config.model import ScoringModel


@dataclass(frozen=True)
class PointChange:
    signal: str
    current: float
    proposed: float
    coef: float | None
    note: str


def bump_version(version: str) -> str:
    """2026.11.1 -> 2026.11.2; a version not ending in a number gets '.1' appended."""
    m = re.match(r"^(.*?)(\d+)$", version)
    if not m:
        return f"{version}.1"
    return f"{m.group(1)}{int(m.group(2)) + 1}"


def _round(value: float, step: float) -> float:
    out = round(value / step) * step
    return float(int(out)) if float(out).is_integer() else round(out, 2)


def propose_points(
    model: ScoringModel, design: Design, fit: Fit, round_to: float = 5.0
) -> list[PointChange]:
    """Proposed points for every signal of the model, with a note on each."""
    current = {s.id: float(s.points) for s in model.signals}
    fitted = fit.fitted
    total_pts = sum(abs(current[s]) for s in fitted)
    total_coef = sum(abs(fit.coef[s]) for s in fitted)
    scale = total_pts / total_coef if total_coef > 0 else 0.0
    proposed: dict[str, float] = {}
    notes: dict[str, str] = {}
    for sig in model.signals:
        if sig.id in fit.coef and scale > 0:
            proposed[sig.id] = _round(scale * fit.coef[sig.id], round_to)
            notes[sig.id] = f"fitted: {fit.coef[sig.id]:+.3f} log-odds x {scale:.1f}"
            if np.sign(proposed[sig.id]) * np.sign(current[sig.id]) < 0:
                notes[sig.id] += "; sign flipped"
        else:
            proposed[sig.id] = current[sig.id]
            notes[sig.id] = (
                design.excluded.get(sig.id)
                or fit.kept.get(sig.id)
                or ("no usable coefficients" if sig.id in fit.coef else "not in this score")
            )
            notes[sig.id] = f"kept: {notes[sig.id]}"
    groups: dict[str, list[str]] = {}
    for sig in model.signals:
        if sig.group:
            groups.setdefault(sig.group, []).append(sig.id)
    for ids in groups.values():
        ladder = sorted(ids, key=lambda i: abs(current[i]))  # weakest rung first
        sign = 1.0 if sum(current[i] for i in ids) >= 0 else -1.0
        floor = -np.inf
        for i in ladder:
            mag = sign * proposed[i]
            if mag < floor:
                notes[i] += (
                    f"; raised to keep the ladder order ({proposed[i]:g} -> {sign * floor:g})"
                )
                proposed[i] = float(sign * floor)
            floor = max(floor, sign * proposed[i])
    return [
        PointChange(s.id, current[s.id], proposed[s.id], fit.coef.get(s.id), notes[s.id])
        for s in model.signals
    ]


def _set_path(node: dict[str, Any], path: tuple[str | int, ...], op: str, value: float) -> None:
    for part in path:
        node = node[part]
    for key in ("gt", "gte", "lt", "lte"):
        node.pop(key, None)
    node[op] = value


def proposed_model_data(
    model: ScoringModel, points: list[PointChange], thresholds: list[Threshold], version: str
) -> dict[str, Any]:
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    data["version"] = version
    by_id = {p.signal: p.proposed for p in points}
    for sig in data["signals"]:
        sig["points"] = by_id[sig["id"]]
    for t in thresholds:
        if t.proposed is None:
            continue
        value = _round(t.proposed, 0.01)
        if t.kind == "status":
            data["pql"]["statuses"][t.index]["min_score"] = value
        else:
            _set_path(data["pqa"]["tiers"][t.index]["when"], t.path, t.op, value)
    ScoringModel.model_validate(data)  # a proposal that would not load is a bug: fail here
    return data


def _whole(value: Any) -> Any:
    """Whole floats as ints, recursively (10.0 -> 10), for a YAML RevOps read."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


def render_yaml(data: dict[str, Any], header: list[str]) -> str:
    body = yaml.safe_dump(_whole(data), sort_keys=False, allow_unicode=True, width=100)
    return "".join(f"# {line}".rstrip() + "\n" for line in header) + body


def proposal_header(
    model: ScoringModel, version: str, evidence: list[str], when: datetime | None = None
) -> list[str]:
    when = when or datetime.now(UTC).replace(tzinfo=None)
    return [
        f"PROPOSAL: {model.name} {version}, calibrated from {model.model_version}",
        f"written by handoff.calibration on {when:%Y-%m-%d %H:%M} UTC.",
        "It is NOT applied automatically. Review the evidence and the report; to deploy,",
        "copy it into include/config/models/ and preview with `handoff score --model`.",
        "",
        "Evidence:",
        *[f"  {line}" for line in evidence],
        "",
    ]


def write_proposal(path: str | Path, text: str) -> Path:
    """Write the proposal and check it loads with handoff.config.loader."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    load_model(path)
    return path
