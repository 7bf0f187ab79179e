"""The expansion angle: a hypothesis (more seats, cross-team rollout, upgrade to advanced
tier) from the account's own facts, with the fact that supports it, and adjacent teams."""

from __future__ import annotations

from typing import Any

from handoff.context.config import ContextSettings, _humanize

UPGRADE = "upgrade to advanced tier"
SEATS = "more seats"
CROSS_TEAM = "cross-team rollout"


def adjacent_teams(usage: dict[str, Any], settings: ContextSettings) -> list[str]:
    """Departments not yet active: known users' inactive departments first, then the
    departments that usually follow the active ones (settings.adjacent_departments)."""
    active = set(usage.get("departments_active") or [])
    out = [d for d in usage.get("departments_all") or [] if d not in active]
    for dept in sorted(active):
        for nxt in settings.adjacent_departments.get(dept, []):
            if nxt not in active and nxt not in out:
                out.append(nxt)
    return out


def expansion_angle(
    account: dict[str, Any],
    usage: dict[str, Any],
    settings: ContextSettings,
    premium_features: set[str],
) -> dict[str, Any]:
    """The first hypothesis the facts support, in order: upgrade, seats, cross-team."""
    adjacent = adjacent_teams(usage, settings)
    plan = account.get("plan")
    enterprise = usage.get("enterprise_features_30d") or []
    premium = [
        f["feature"] for f in usage.get("features") or [] if f["feature"] in premium_features
    ]
    users, seats = usage.get("users_total") or 0, account.get("seat_limit")
    limit = usage.get("usage_limit") or {}
    depts = usage.get("departments_active") or []
    if enterprise:
        hypothesis = UPGRADE
        why = f"looked at {', '.join(_humanize(x) for x in enterprise)} in the last 30 days"
    elif premium and plan not in settings.advanced_plans:
        hypothesis = UPGRADE
        why = f"uses premium features ({', '.join(premium[:3])}) on the {plan or 'current'} plan"
    elif seats and users >= 0.8 * float(seats):
        hypothesis = SEATS
        why = f"{users} of {int(seats)} seats taken"
    elif limit.get("metric") == "seats" and (limit.get("ratio") or 0) >= 0.8:
        hypothesis = SEATS
        why = f"seat usage at {limit['ratio'] * 100:.0f}% of the plan limit"
    elif len(depts) >= 2 and adjacent:
        hypothesis = CROSS_TEAM
        why = f"already active in {len(depts)} departments ({', '.join(depts)})"
    elif adjacent:
        hypothesis = CROSS_TEAM
        why = f"one team active ({', '.join(depts) or 'unknown'}); adjacent teams not yet in"
    else:
        hypothesis = SEATS
        why = f"{users} users so far"
    return {"hypothesis": hypothesis, "why": why, "adjacent_teams": adjacent}
