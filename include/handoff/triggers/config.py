"""Trigger conditions as YAML: when an account needs a human, who, how and how fast.

A trigger is a condition in the model language (`handoff.config.model.Condition`) over the
per-account trigger frame (`handoff.triggers.frame`), with a class (seed 003: high / medium /
low), an owner role, a channel, a priority, a response SLA in business hours or "same
business day", and a cooldown. Non-expansion triggers skip existing customers; expansion
triggers (seed 004's backward handoff) fire for them too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from handoff.config.loader import DEFAULT_CONFIG_DIR, load_yaml_model
from handoff.config.model import PROBLEM_SEP, Condition, Strict, condition_features

TriggerClass = Literal["high", "medium", "low"]
OwnerRole = Literal["SDR", "AE", "CSM"]
Channel = Literal["email", "phone", "in_app", "task"]
CLASSES: tuple[str, ...] = ("high", "medium", "low")


class Sla(Strict):
    """Exactly one of `business_hours: N` or `same_business_day: true`."""

    business_hours: float | None = Field(default=None, gt=0, le=2000)
    same_business_day: Literal[True] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Sla:
        if (self.business_hours is None) == (self.same_business_day is None):
            raise ValueError(
                "an SLA needs exactly one of business_hours: N or same_business_day: true"
            )
        return self

    def describe(self) -> str:
        if self.same_business_day:
            return "same business day"
        return f"{self.business_hours:g} business hours"


class Trigger(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    class_: TriggerClass = Field(alias="class")
    owner_role: OwnerRole
    customer_owner_role: OwnerRole | None = None  # owner when the account is a customer
    channel: Channel
    priority: int = Field(ge=1, le=5)  # 1 = most urgent
    sla: Sla
    cooldown_days: int = Field(ge=0, le=3650)
    expansion: bool = False
    description: str = ""
    when: Condition

    def owner_for(self, is_customer: bool) -> str:
        return (self.customer_owner_role or self.owner_role) if is_customer else self.owner_role


class FrameSettings(Strict):
    """How the trigger frame reads the warehouse."""

    customers_table: str = Field(default="customers", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    paid_plans: list[str] = ["business"]  # is_customer when there is no customers table
    hot_statuses: list[str] = ["hot"]  # PQL statuses counted in hot_users
    warm_statuses: list[str] = ["warm"]  # PQL statuses counted in warm_users
    recent_days: int = Field(default=7, ge=1, le=90)  # window of the *_7d event facts
    volume_pricing_topics: list[str] = ["volume_pricing", "custom_plan"]


class TriggerConfig(Strict):
    version: str = Field(default="1", pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    frame: FrameSettings = FrameSettings()
    conditions: dict[str, Condition] = {}
    triggers: list[Trigger]

    @model_validator(mode="after")
    def _consistent(self) -> TriggerConfig:
        problems: list[str] = []
        seen: set[str] = set()
        for i, trig in enumerate(self.triggers):
            if trig.id in seen:
                problems.append(f"triggers[{i}].id: duplicate trigger id '{trig.id}'")
            seen.add(trig.id)
            for ref in sorted(trig.when.refs() - set(self.conditions)):
                problems.append(f"triggers[{i}].when: unknown condition ref '{ref}'")
        for name, cond in self.conditions.items():
            if name in cond.refs():
                problems.append(f"conditions.{name}: refers to itself")
            for ref in sorted(cond.refs() - set(self.conditions)):
                problems.append(f"conditions.{name}: unknown condition ref '{ref}'")
        if not self.triggers:
            problems.append("triggers: at least one trigger is needed")
        if problems:
            raise ValueError(PROBLEM_SEP.join(problems))
        return self

    def features_of(self, cond: Condition) -> list[str]:
        """Frame columns a condition reads, following refs, in a stable order."""
        return condition_features(cond, self.conditions)

    def by_id(self, trigger_id: str) -> Trigger:
        for trig in self.triggers:
            if trig.id == trigger_id:
                return trig
        raise KeyError(trigger_id)


DEFAULT_TRIGGERS_PATH = DEFAULT_CONFIG_DIR / "triggers.yaml"


def load_triggers(path: str | Path | None = None) -> TriggerConfig:
    """Read trigger definitions (default include/config/triggers.yaml); ConfigError if bad."""
    return load_yaml_model(path or DEFAULT_TRIGGERS_PATH, TriggerConfig)
