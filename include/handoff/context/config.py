"""Talking points and context-package settings (include/config/talking_points.yaml).

Each talking point is a signal (seed 000 part 4) with an opening line and discovery
questions, written as jinja2 templates over the account's context package. Templates use
StrictUndefined: a name the package does not have is an error naming the file and the
talking point, never a silently blank line.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import jinja2
from pydantic import Field, model_validator

from handoff.config.loader import DEFAULT_CONFIG_DIR, load_yaml_model
from handoff.config.model import Strict
from handoff.errors import ConfigError

ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
)


def _money(value: Any) -> str:
    try:
        return f"${float(value):,.0f}"
    except (TypeError, ValueError):
        return "unknown"


def _pct(value: Any) -> str:
    try:
        return f"{float(value) * 100:.0f}%"
    except (TypeError, ValueError):
        return "unknown"


ACRONYMS = {"sso", "scim", "saml", "api", "sql", "crm", "csv", "it", "ip"}


def _humanize(value: Any) -> str:
    """'audit_logs' -> 'audit logs', 'sso' -> 'SSO'."""
    words = str(value).replace("_", " ").split(" ")
    return " ".join(w.upper() if w.lower() in ACRONYMS else w for w in words)


def _join(values: Any, word: str = "and") -> str:
    items = [str(v) for v in (values or [])]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


ENV.filters.update(money=_money, pct=_pct, humanize=_humanize, join_words=_join)


class Match(Strict):
    """When a talking point applies: glob patterns on the trigger (id or class) and on the
    scoring signals among the account's top reasons."""

    triggers: list[str] = []
    reasons: list[str] = []
    fallback: bool = False  # used only when no other point matched

    def by_trigger(self, trigger_id: str | None, trigger_class: str | None) -> bool:
        keys = [k for k in (trigger_id, trigger_class) if k]
        return any(fnmatch(k, p) for k in keys for p in self.triggers)

    def by_reason(self, signals: list[str]) -> bool:
        return any(fnmatch(s, p) for s in signals for p in self.reasons)


class TalkingPoint(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    match: Match
    opening: str
    discovery: list[str] = []


class ContextSettings(Strict):
    daily_min_days: int = Field(default=15, ge=1)  # days used of 30 to call a feature daily
    weekly_min_days: int = Field(default=4, ge=1)  # ... weekly
    trend_threshold: float = Field(default=0.2, gt=0)  # +-20% of the previous 14 days
    competitor_topics: list[str] = ["competitor_comparison"]
    max_talking_points: int = Field(default=3, ge=1)
    max_users_shown: int = Field(default=5, ge=1)
    max_features_shown: int = Field(default=8, ge=1)
    # department -> departments that usually adopt next; adjacent teams = these, not yet active
    adjacent_departments: dict[str, list[str]] = {}
    premium_features: list[str] = []  # extra premium names; source.yaml's list is added
    # plans that already include the advanced tier: premium use there is not an upgrade angle
    advanced_plans: list[str] = []


class TalkingPointsConfig(Strict):
    context: ContextSettings = ContextSettings()
    talking_points: list[TalkingPoint]

    @model_validator(mode="after")
    def _templates(self) -> TalkingPointsConfig:
        problems = []
        seen: set[str] = set()
        for i, tp in enumerate(self.talking_points):
            if tp.id in seen:
                problems.append(f"talking_points[{i}].id: duplicate talking point '{tp.id}'")
            seen.add(tp.id)
            for where, text in _templates_of(tp):
                try:
                    ENV.parse(text)
                except jinja2.TemplateSyntaxError as exc:
                    problems.append(
                        f"talking_points[{i}].{where}: template syntax error in talking point "
                        f"'{tp.id}' (template line {exc.lineno}): {exc.message}"
                    )
        if problems:
            raise ValueError("\n".join(problems))
        return self


@functools.lru_cache(maxsize=512)
def _compiled(text: str) -> jinja2.Template:
    return ENV.from_string(text)


def _templates_of(tp: TalkingPoint) -> list[tuple[str, str]]:
    return [("opening", tp.opening)] + [(f"discovery[{j}]", q) for j, q in enumerate(tp.discovery)]


@dataclass(frozen=True)
class TalkingPoints:
    """The loaded file and where it came from (template errors name it)."""

    path: str
    config: TalkingPointsConfig

    @property
    def settings(self) -> ContextSettings:
        return self.config.context

    def choose(
        self, trigger_id: str | None, trigger_class: str | None, reason_signals: list[str]
    ) -> list[tuple[int, TalkingPoint]]:
        """The points for this account: the trigger's first, then those of its top reasons
        (in reason order), at most max_talking_points; the fallback if none matched."""
        points = list(enumerate(self.config.talking_points))
        chosen = [(i, tp) for i, tp in points if tp.match.by_trigger(trigger_id, trigger_class)]
        for signal in reason_signals:
            for i, tp in points:
                if tp.match.by_reason([signal]) and all(i != j for j, _ in chosen):
                    chosen.append((i, tp))
        if not chosen:
            chosen = [(i, tp) for i, tp in points if tp.match.fallback]
        return chosen[: self.settings.max_talking_points]

    def render(self, index: int, tp: TalkingPoint, package: dict[str, Any]) -> dict[str, Any]:
        """Fill one talking point with the package; errors name the file and the point."""
        out: dict[str, Any] = {"id": tp.id, "label": tp.label}
        rendered: dict[str, str] = {}
        for where, text in _templates_of(tp):
            try:
                rendered[where] = " ".join(_compiled(text).render(**package).split())
            except (jinja2.TemplateError, TypeError, ValueError, AttributeError) as exc:
                raise ConfigError(
                    self.path,
                    [
                        (
                            f"talking_points[{index}].{where}",
                            f"talking point '{tp.id}' failed to render: {exc}",
                        )
                    ],
                ) from None
        out["opening"] = rendered["opening"]
        out["discovery"] = [rendered[f"discovery[{j}]"] for j in range(len(tp.discovery))]
        return out


def load_talking_points(path: str | Path | None = None) -> TalkingPoints:
    path = Path(path or DEFAULT_CONFIG_DIR / "talking_points.yaml")
    return TalkingPoints(str(path), load_yaml_model(path, TalkingPointsConfig))
