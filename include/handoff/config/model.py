"""The scoring-model language: signals, decay, groups, PQL statuses, PQA tiers.

A model is YAML (see include/config/models/). Signals are conditions over feature columns
with points; a score is the sum of the points of the signals that fired, each possibly
decayed by the age of its evidence. The same language expresses seed 003's model and seed
000's fit/value/intent model.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Scalar = bool | int | float | str

PROBLEM_SEP = "\n"  # the loader splits model-level problems into one line per key

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in", "is_null")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Condition(Strict):
    """One of: a comparison on a feature, `all` / `any` of conditions, `not`, or `ref`."""

    feature: str | None = None
    eq: Scalar | None = None
    ne: Scalar | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    between: tuple[float, float] | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    is_null: bool | None = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")
    ref: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Condition:
        forms = [
            name
            for name in ("feature", "all", "any", "not_", "ref")
            if getattr(self, name) is not None
        ]
        if len(forms) != 1:
            raise ValueError(
                "a condition needs exactly one of: feature (with an operator), all, any, not, ref"
            )
        ops = [op for op in OPS if getattr(self, "in_" if op == "in" else op) is not None]
        if self.feature is not None:
            if len(ops) != 1:
                raise ValueError(
                    f"condition on feature '{self.feature}' needs exactly one operator of "
                    f"{', '.join(OPS)}; got {', '.join(ops) or 'none'}"
                )
            if self.between is not None and self.between[0] > self.between[1]:
                raise ValueError("between: the lower bound is above the upper bound")
        elif ops:
            raise ValueError(f"operator {ops[0]} needs a feature")
        return self

    @property
    def op(self) -> tuple[str, Any]:
        for op in OPS:
            value = getattr(self, "in_" if op == "in" else op)
            if value is not None:
                return op, value
        raise ValueError("not a comparison")

    def features(self) -> set[str]:
        """Feature names this condition reads (refs excluded)."""
        if self.feature is not None:
            return {self.feature}
        out: set[str] = set()
        for child in (self.all or []) + (self.any or []) + ([self.not_] if self.not_ else []):
            out |= child.features()
        return out

    def refs(self) -> set[str]:
        if self.ref is not None:
            return {self.ref}
        out: set[str] = set()
        for child in (self.all or []) + (self.any or []) + ([self.not_] if self.not_ else []):
            out |= child.refs()
        return out


def condition_features(cond: Condition, named: dict[str, Condition], _depth: int = 0) -> list[str]:
    """Feature names a condition reads, following refs to `named` conditions, sorted within
    each level and without repeats (a stable order for evidence)."""
    if _depth > 20:
        raise ValueError("condition refs nest too deeply (a cycle?)")
    out = sorted(cond.features())
    for ref in sorted(cond.refs()):
        out += [f for f in condition_features(named[ref], named, _depth + 1) if f not in out]
    return out


class Evidence(Strict):
    value: str | None = None  # feature shown as the evidence value
    at: str | None = None  # feature holding the evidence event time


class Decay(Strict):
    half_life_days: float | None = Field(default=None, gt=0)
    lifespan_days: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> Decay:
        if (self.half_life_days is None) == (self.lifespan_days is None):
            raise ValueError("decay needs exactly one of half_life_days or lifespan_days")
        return self


class Signal(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    level: Literal["user", "account"]
    category: str
    label: str
    points: float
    when: Condition
    evidence: Evidence | None = None
    decay: Decay | None = None
    group: str | None = None  # within a group only the highest-scoring fired signal counts

    @model_validator(mode="after")
    def _decay_needs_time(self) -> Signal:
        if self.decay is not None and (self.evidence is None or self.evidence.at is None):
            raise ValueError("decay needs evidence.at: the feature holding the event time")
        return self


class Status(Strict):
    name: str
    label: str
    min_score: float | None = None  # None: the catch-all status
    require_any_category: list[str] = []
    action: str = ""


class Tier(Strict):
    name: str
    label: str
    action: str = ""
    when: Condition | None = None  # None: the catch-all tier


class Pqa(Strict):
    user_aggregate: Literal["sum", "max"] = "sum"
    exclude_user_categories: list[str] = []
    tiers: list[Tier]


class Pql(Strict):
    statuses: list[Status]
    # account-level signal categories that also count in each of the account's users' PQL
    include_account_categories: list[str] = []


class ScoringModel(Strict):
    name: str
    version: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    categories: list[str]
    conditions: dict[str, Condition] = {}
    signals: list[Signal]
    pql: Pql
    pqa: Pqa
    top_reasons: int = Field(default=5, ge=1, le=20)

    @property
    def model_version(self) -> str:
        return f"{self.name}@{self.version}"

    @model_validator(mode="after")
    def _consistent(self) -> ScoringModel:
        problems: list[str] = []
        seen: set[str] = set()
        for i, sig in enumerate(self.signals):
            if sig.id in seen:
                problems.append(f"signals[{i}].id: duplicate signal id '{sig.id}'")
            seen.add(sig.id)
            if sig.category not in self.categories:
                problems.append(
                    f"signals[{i}].category: '{sig.category}' is not one of the model's "
                    f"categories ({', '.join(self.categories)})"
                )
            for ref in sig.when.refs() - set(self.conditions):
                problems.append(f"signals[{i}].when: unknown condition ref '{ref}'")
        for name, cond in self.conditions.items():
            if name in cond.refs():
                problems.append(f"conditions.{name}: refers to itself")
            for ref in cond.refs() - set(self.conditions):
                problems.append(f"conditions.{name}: unknown condition ref '{ref}'")
        problems += _check_ordered(
            "pql.statuses", [s.min_score for s in self.pql.statuses], "min_score"
        )
        for i, status in enumerate(self.pql.statuses):
            for cat in set(status.require_any_category) - set(self.categories):
                problems.append(f"pql.statuses[{i}].require_any_category: unknown category '{cat}'")
        for cat in set(self.pql.include_account_categories) - set(self.categories):
            problems.append(f"pql.include_account_categories: unknown category '{cat}'")
        for cat in set(self.pqa.exclude_user_categories) - set(self.categories):
            problems.append(f"pqa.exclude_user_categories: unknown category '{cat}'")
        tiers = self.pqa.tiers
        if not tiers or tiers[-1].when is not None:
            problems.append("pqa.tiers: the last tier must be a catch-all (no 'when')")
        for i, tier in enumerate(tiers[:-1]):
            if tier.when is None:
                problems.append(f"pqa.tiers[{i}]: only the last tier may omit 'when'")
            else:
                for ref in tier.when.refs() - set(self.conditions):
                    problems.append(f"pqa.tiers[{i}].when: unknown condition ref '{ref}'")
        if problems:
            raise ValueError(PROBLEM_SEP.join(problems))
        return self

    def features_of(self, cond: Condition) -> set[str]:
        """Feature names a condition reads, following refs."""
        return set(condition_features(cond, self.conditions))

    def signals_at(self, level: str) -> list[Signal]:
        return [s for s in self.signals if s.level == level]


def _check_ordered(where: str, mins: list[float | None], key: str) -> list[str]:
    if not mins or mins[-1] is not None:
        return [f"{where}: the last entry must be a catch-all (no {key})"]
    if any(m is None for m in mins[:-1]):
        return [f"{where}: only the last entry may omit {key}"]
    values = [m for m in mins[:-1] if m is not None]
    if values != sorted(values, reverse=True):
        return [f"{where}: entries must be ordered by {key}, highest first"]
    return []
