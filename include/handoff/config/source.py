"""Where the product's users, accounts and events live, and what the event names mean.

A real product schema maps in by editing include/config/source.yaml (or a copy): table and
column names, which event names belong to which signal family, and which feature names count
as premium. No code changes.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from handoff.config.loader import DEFAULT_CONFIG_DIR, load_yaml_model
from handoff.config.model import Strict

IDENT = r"^[A-Za-z_][A-Za-z0-9_.]*$"

# The signal families the feature SQL understands. Every family must be mapped (possibly to
# an empty list) so that a typo in a family name is an error, not a silent zero.
EVENT_FAMILIES = (
    "login",
    "onboarding_completed",
    "core_action",
    "feature_used",
    "integration_connected",
    "invite_sent",
    "invite_accepted",
    "content_shared_external",
    "export",
    "api_call",
    "pricing_page_view",
    "upgrade_started",
    "upgrade_completed",
    "upgrade_abandoned",
    "contact_sales",
    "enterprise_feature_interest",
    "support_contact",
    "billing_contact",
    "plan_usage",
    "workspace_created",
    "setup_abandoned",
)


class UsersTable(Strict):
    table: str = Field(default="users", pattern=IDENT)
    user_id: str = Field(default="user_id", pattern=IDENT)
    email: str = Field(default="email", pattern=IDENT)
    name: str | None = Field(default=None, pattern=IDENT)  # full name, shown on CRM contacts
    title: str = Field(default="title", pattern=IDENT)
    role: str = Field(default="role", pattern=IDENT)
    department: str = Field(default="department", pattern=IDENT)
    created_at: str = Field(default="created_at", pattern=IDENT)


class AccountsTable(Strict):
    table: str = Field(default="accounts", pattern=IDENT)
    domain: str = Field(default="domain", pattern=IDENT)
    name: str = Field(default="name", pattern=IDENT)
    plan: str = Field(default="plan", pattern=IDENT)
    seat_limit: str = Field(default="seat_limit", pattern=IDENT)
    # firmographic output name -> source column; only the columns that exist are needed
    firmographics: dict[str, str] = {"employees": "employees", "industry": "industry"}


class EventsTable(Strict):
    table: str = Field(default="events", pattern=IDENT)
    user_id: str = Field(default="user_id", pattern=IDENT)
    name: str = Field(default="event_name", pattern=IDENT)
    occurred_at: str = Field(default="occurred_at", pattern=IDENT)
    feature: str = Field(default="feature", pattern=IDENT)
    value: str = Field(default="value", pattern=IDENT)


class SourceConfig(Strict):
    users: UsersTable = UsersTable()
    accounts: AccountsTable = AccountsTable()
    events: EventsTable = EventsTable()
    lookback_days: int = Field(default=180, ge=30, le=3650)
    event_families: dict[str, list[str]]
    premium_features: list[str] = []
    executive_title_keywords: list[str] = ["chief", "vp", "vice president", "head of", "founder"]
    freemail_domains: list[str]

    @model_validator(mode="after")
    def _families(self) -> SourceConfig:
        unknown = sorted(set(self.event_families) - set(EVENT_FAMILIES))
        missing = [f for f in EVENT_FAMILIES if f not in self.event_families]
        problems = [f"event_families.{u}: unknown family" for u in unknown]
        if missing:
            problems.append(
                f"event_families: families not mapped: {', '.join(missing)} "
                "(map a family to [] if the product has no such event)"
            )
        seen: dict[str, str] = {}
        for fam, names in self.event_families.items():
            for name in names:
                if name in seen:
                    problems.append(
                        f"event_families.{fam}: event '{name}' is already in family '{seen[name]}'"
                    )
                seen[name] = fam
        if problems:
            raise ValueError("\n".join(problems))
        return self


def load_source(path: str | Path | None = None) -> SourceConfig:
    return load_yaml_model(path or DEFAULT_CONFIG_DIR / "source.yaml", SourceConfig)
