"""Routing and roster configuration (include/config/routing.yaml, include/config/roster.yaml).

RevOps own both files. routing.yaml says who is routable (the no-touch lane), how big an
account is likely to be (expected ACV), which segment and motion it belongs to, which
territory it falls in and what share is held out; roster.yaml lists the reps, what they
cover and how many new handoffs each can take per week.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from handoff.config.loader import DEFAULT_CONFIG_DIR, load_yaml_model
from handoff.config.model import Condition, Strict, condition_features

Role = Literal["SDR", "AE", "CSM"]
NAME = r"^[a-z][a-z0-9_]*$"


class Holdout(Strict):
    """A deterministic share of otherwise-routable accounts that is scored but not routed."""

    share: float = Field(default=0.10, ge=0.0, lt=1.0)
    salt: str = Field(default="handoff-holdout-v1", min_length=1)


class Exclusion(Strict):
    """An extra no-touch rule: accounts matching `when` are never routed."""

    name: str = Field(pattern=NAME)
    reason: str
    when: Condition


class Eligibility(Strict):
    routable_tiers: list[str] = ["tier_1", "tier_2", "tier_3"]
    require_open_trigger: bool = True
    # seed 004: AEs never see PQLs from sub-$5K accounts; self-serve owns them
    ae_min_acv: float = Field(default=5000, ge=0)
    exclusions: list[Exclusion] = []
    # a queued account is retried on later runs for this many days, even with no new trigger
    queue_carry_days: int = Field(default=14, ge=0)
    # trigger priority names, most urgent first (numeric priorities: lower is more urgent)
    priority_order: list[str] = ["critical", "high", "medium", "low"]


class SizeBand(Strict):
    name: str = Field(pattern=NAME)
    max_employees: int | None = Field(default=None, ge=1)  # None: the catch-all (largest)
    seat_multiplier: tuple[float, float]  # expected seats = current seats x (low, high)

    @model_validator(mode="after")
    def _ordered(self) -> SizeBand:
        lo, hi = self.seat_multiplier
        if lo <= 0 or hi < lo:
            raise ValueError("seat_multiplier: needs 0 < low <= high")
        return self


class Acv(Strict):
    """Expected ACV = seats x annual price per seat of the account's next plan, as a range.

    seats = the largest of the `seats_from` features present (users, seat limit); the range
    scales it by the size band's seat multipliers, capped at the employee count.
    """

    seats_from: list[str] = ["users_total", "seat_limit"]
    price_per_seat: dict[str, float] = {"default": 240.0}  # plan -> annual price per seat
    size_bands: list[SizeBand]
    unknown_size_band: str = "smb"  # used when employees are unknown
    cap_at_employees: bool = True

    @model_validator(mode="after")
    def _bands(self) -> Acv:
        problems = []
        if "default" not in self.price_per_seat:
            problems.append("price_per_seat: needs a 'default' entry for unlisted plans")
        maxes = [b.max_employees for b in self.size_bands]
        if not maxes or maxes[-1] is not None:
            problems.append("size_bands: the last band must be a catch-all (no max_employees)")
        elif any(m is None for m in maxes[:-1]):
            problems.append("size_bands: only the last band may omit max_employees")
        elif maxes[:-1] != sorted(maxes[:-1]) or len(set(maxes[:-1])) != len(maxes) - 1:
            problems.append("size_bands: bands must be ordered by max_employees, smallest first")
        if self.unknown_size_band not in {b.name for b in self.size_bands}:
            problems.append(f"unknown_size_band: '{self.unknown_size_band}' is not a size band")
        if problems:
            raise ValueError("\n".join(problems))
        return self


class Segment(Strict):
    name: str = Field(pattern=NAME)
    label: str
    when: Condition | None = None  # None: the catch-all segment (must be last)
    owner_role: Role | None = None  # None: self-serve, no rep (no-touch lane)
    motion: str


class MotionBand(Strict):
    """Seed 004's CSM-vs-AE divide by expected ACV."""

    name: str = Field(pattern=NAME)
    label: str
    max_acv: float | None = Field(default=None, gt=0)  # None: the catch-all (largest)
    customer_owner_role: Role | None = None  # a paying customer's owner; None: digital CS


class TerritoryRule(Strict):
    region: str
    when: Condition | None = None  # None: always matches (a default at the end)


class Territory(Strict):
    country_aliases: dict[str, str] = {}  # country name as enrichment writes it -> code
    rules: list[TerritoryRule]
    default_region: str = "GLOBAL"


class RoutingConfig(Strict):
    eligibility: Eligibility = Eligibility()
    holdout: Holdout = Holdout()
    acv: Acv
    segments: list[Segment]
    motions: list[MotionBand]
    customer_when: Condition | None = None  # accounts the motion table owns (paying customers)
    territory: Territory
    capacity_window_days: int = Field(default=7, ge=1)
    use_trigger_owner_role: bool = False  # the trigger's owner_role overrides the segment's
    conditions: dict[str, Condition] = {}  # named conditions for `ref`

    @model_validator(mode="after")
    def _consistent(self) -> RoutingConfig:
        problems = []
        segs = self.segments
        if not segs or segs[-1].when is not None:
            problems.append("segments: the last segment must be a catch-all (no 'when')")
        problems += [
            f"segments[{i}]: only the last segment may omit 'when'"
            for i, s in enumerate(segs[:-1])
            if s.when is None
        ]
        maxes = [m.max_acv for m in self.motions]
        if not maxes or maxes[-1] is not None:
            problems.append("motions: the last band must be a catch-all (no max_acv)")
        elif any(m is None for m in maxes[:-1]) or maxes[:-1] != sorted(maxes[:-1]):
            problems.append("motions: bands must be ordered by max_acv, smallest first")
        names = [s.name for s in segs]
        if len(set(names)) != len(names):
            problems.append("segments: duplicate segment names")
        for where, cond in self._conditions():
            for ref in cond.refs() - set(self.conditions):
                problems.append(f"{where}: unknown condition ref '{ref}'")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _conditions(self) -> list[tuple[str, Condition]]:
        out: list[tuple[str, Condition]] = [
            (f"conditions.{k}", c) for k, c in self.conditions.items()
        ]
        out += [(f"segments[{i}].when", s.when) for i, s in enumerate(self.segments) if s.when]
        out += [
            (f"eligibility.exclusions[{i}].when", e.when)
            for i, e in enumerate(self.eligibility.exclusions)
        ]
        out += [
            (f"territory.rules[{i}].when", r.when)
            for i, r in enumerate(self.territory.rules)
            if r.when
        ]
        if self.customer_when:
            out.append(("customer_when", self.customer_when))
        return out

    def features_of(self, cond: Condition) -> set[str]:
        return set(condition_features(cond, self.conditions))


class Rep(Strict):
    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    role: Role
    regions: list[str] = ["*"]  # "*": every region
    segments: list[str] = ["*"]  # "*": every segment
    weekly_capacity: int = Field(ge=0)  # new handoffs per capacity window
    active: bool = True

    def covers(self, role: str, region: str, segment: str) -> bool:
        return (
            self.active
            and self.role == role
            and ("*" in self.regions or region in self.regions)
            and ("*" in self.segments or segment in self.segments)
        )


class Roster(Strict):
    reps: list[Rep]

    @model_validator(mode="after")
    def _unique(self) -> Roster:
        problems = []
        seen: dict[str, int] = {}
        for i, rep in enumerate(self.reps):
            key = rep.email.lower()
            if key in seen:
                problems.append(f"reps[{i}].email: '{rep.email}' is already reps[{seen[key]}]")
            seen[key] = i
        if problems:
            raise ValueError("\n".join(problems))
        return self


def load_routing(path: str | Path | None = None) -> RoutingConfig:
    return load_yaml_model(path or DEFAULT_CONFIG_DIR / "routing.yaml", RoutingConfig)


def load_roster(path: str | Path | None = None) -> Roster:
    return load_yaml_model(path or DEFAULT_CONFIG_DIR / "roster.yaml", Roster)
