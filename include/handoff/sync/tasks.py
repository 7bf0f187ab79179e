"""Rep tasks: one per trigger episode routed to a rep, due at the SLA, carrying the trigger
and the context package. Idempotent twice over: sync_state remembers the episodes whose task
the CRM acknowledged, and the adapters find an existing task by its episode key."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from handoff.crm.base import TaskSpec
from handoff.warehouse import Warehouse, literal, naive_utc

TASK_OBJECT = "tasks"  # sync_state / dead_letter object name of rep tasks


def _priority(value: object) -> str:
    """Trigger priority 1 (highest) .. 5 -> the CRM's HIGH / MEDIUM / LOW."""
    try:
        p = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "MEDIUM"
    return "HIGH" if p <= 2 else "MEDIUM" if p == 3 else "LOW"


def routed_tasks(wh: Warehouse, as_of: datetime) -> pd.DataFrame:
    """The routed episodes of the snapshot at `as_of`, one row each: episode_id,
    account_domain, owner_email, sla_due_at, subject, body, priority."""
    if not wh.has_table("routing_decisions"):
        return pd.DataFrame(columns=["episode_id"])
    t = literal(naive_utc(as_of))
    routed = wh.query(
        "SELECT account_domain, episode_id, owner_name, owner_email, sla_due_at, trigger_id, "
        "trigger_fired_at, segment, motion, reason FROM routing_decisions "
        f"WHERE as_of = {t} AND decision = 'routed' AND episode_id IS NOT NULL "
        "ORDER BY assign_order, account_domain"
    )
    if routed.empty:
        return routed
    routed["episode_id"] = routed["episode_id"].astype(str)
    if wh.has_table("trigger_events"):
        ev = wh.query("SELECT episode_id, label, priority FROM trigger_events")
        ev["episode_id"] = ev["episode_id"].astype(str)
        routed = routed.merge(ev.drop_duplicates("episode_id"), on="episode_id", how="left")
    else:
        routed["label"], routed["priority"] = routed["trigger_id"], None
    if wh.has_table("context_packages"):
        pk = wh.query(f"SELECT account_domain, text FROM context_packages WHERE as_of = {t}")
        routed = routed.merge(pk, on="account_domain", how="left")
    else:
        routed["text"] = None
    routed = routed.drop_duplicates("episode_id")
    routed["subject"] = [
        f"Handoff: {label or trigger} - {domain}"
        for label, trigger, domain in zip(
            routed["label"], routed["trigger_id"], routed["account_domain"], strict=True
        )
    ]
    routed["body"] = [_body(r) for r in routed.to_dict("records")]
    routed["priority"] = routed["priority"].map(_priority)
    routed["sla_due_at"] = routed["sla_due_at"].fillna(pd.Timestamp(naive_utc(as_of)))
    return routed[
        ["episode_id", "account_domain", "owner_email", "sla_due_at", "subject", "body", "priority"]
    ].reset_index(drop=True)


def _when(value: object) -> str:
    return "" if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d %H:%M} UTC"


def _body(r: dict) -> str:
    lines = [
        f"Trigger: {r.get('label') or r.get('trigger_id')} (fired {_when(r.get('trigger_fired_at'))})",
        f"SLA: first touch due {_when(r.get('sla_due_at'))}",
        f"Route: {r.get('segment')} / {r.get('motion')} -> {r.get('owner_name')}",
    ]
    if isinstance(r.get("reason"), str) and r["reason"]:
        lines.append(f"Why routed: {r['reason']}")
    if isinstance(r.get("text"), str) and r["text"]:
        lines += ["", r["text"]]
    return "\n".join(lines)


def task_spec(row: dict) -> TaskSpec:
    return TaskSpec(
        key=str(row["episode_id"]),
        account_key=str(row["account_domain"]),
        subject=str(row["subject"]),
        body=str(row["body"]),
        due_at=pd.Timestamp(row["sla_due_at"]).to_pydatetime(),
        owner_email=row.get("owner_email") if isinstance(row.get("owner_email"), str) else None,
        priority=row.get("priority") or "MEDIUM",  # type: ignore[arg-type]
    )
