"""Calibration settings: target, horizon, split, regularisation, thresholds (calibration.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from handoff.config.loader import DEFAULT_CONFIG_DIR, load_yaml_model

Target = Literal["accepted", "opportunity", "won", "self_serve", "converted"]
TARGETS: tuple[str, ...] = ("accepted", "opportunity", "won", "self_serve", "converted")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Capacity(_Strict):
    """Rep capacity: the proposed threshold routes at most reps x per-rep handoffs a week."""

    reps: int = Field(gt=0)
    handoffs_per_rep_per_week: float = Field(gt=0)

    @property
    def per_week(self) -> float:
        return self.reps * self.handoffs_per_rep_per_week


class ThresholdPolicy(_Strict):
    """How the routing threshold of the proposal is chosen. Without a target precision or a
    capacity, every threshold keeps today's volume (the share of rows above it)."""

    target_precision: float | None = Field(default=None, gt=0, le=1)
    capacity: Capacity | None = None
    min_support: int = Field(default=10, ge=1)  # rows above a threshold to trust its precision
    route_status: str | None = None  # PQL status routed to sales (default: the first)
    route_tier: str | None = None  # lowest routable PQA tier (default: last before catch-all)


class CalibrationConfig(_Strict):
    target: Target = "won"
    horizon_days: int = Field(default=90, gt=0)
    entity: Literal["account", "user"] = "account"
    # handoff decisions in the population; default: routed only, routed + holdout for
    # self_serve (a rep can only accept, open or win what was routed)
    decisions: list[Literal["routed", "holdout"]] | None = None
    period: Literal["week", "month"] = "week"
    test_fraction: float = Field(default=0.3, gt=0, lt=1)
    embargo_days: float = Field(default=0.0, ge=0)  # drop training rows this close to the test
    regularization: float = Field(default=1.0, gt=0)  # inverse L2 strength (sklearn's C)
    min_signal_fires: int = Field(default=20, ge=1)  # fewer fires in training: keep its points
    round_to: float = Field(default=5.0, gt=0)  # proposed points are multiples of this
    bootstrap: int = Field(default=500, ge=50)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    reliability_bins: int = Field(default=10, ge=2, le=50)
    seed: int = 0
    thresholds: ThresholdPolicy = ThresholdPolicy()

    @model_validator(mode="after")
    def _decisions_known(self) -> CalibrationConfig:
        if self.decisions is not None and not self.decisions:
            raise ValueError("decisions: list at least one of routed, holdout (or leave it out)")
        return self

    def population(self) -> list[str]:
        if self.decisions:
            return list(self.decisions)
        return ["routed", "holdout"] if self.target == "self_serve" else ["routed"]


DEFAULT_CALIBRATION_PATH = DEFAULT_CONFIG_DIR / "calibration.yaml"


def load_calibration_config(path: str | Path | None = None) -> CalibrationConfig:
    """Read calibration.yaml (default include/config/calibration.yaml); ConfigError names
    the file, the key and the problem."""
    return load_yaml_model(path or DEFAULT_CALIBRATION_PATH, CalibrationConfig)
