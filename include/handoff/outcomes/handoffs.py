"""One row per handoff with what happened after it: handoff_outcomes.

A handoff is the first routed or holdout decision of a trigger episode in routing_decisions
(for routed rows only new assignments count where `new_assignment` is recorded; a row without
an episode is its own handoff, keyed by account and as_of). handed_off_at is the trigger's
fire time (else as_of).

CRM outcomes come from the pulled tables (handoff.outcomes.pull), matched by the account key
(the domain) and by the task key (the episode id), with merged accounts followed to the
record that absorbed them:
- disposition / reject_reason / disposition_at: the account's, when it was set at or after
  handed_off_at and before the account's next handoff (an older disposition belongs to an
  older handoff);
- first_touch_at: the first completed task on the account in [handed_off_at, next handoff),
  or the episode's own task whenever it was completed, whichever is first;
- opportunity: the first deal / Opportunity on the account opened in [handed_off_at, next
  handoff); closed_at / won once closed, amount when won.
Deleted tasks and deals do not count. Holdout handoffs get the same lookups, so they only show
what the CRM holds anyway (normally nothing). self_serve_converted_at is the first
`upgrade_completed` product event (source.yaml's event names) of any user of the account's
domain after handed_off_at. observed_until = now (outcomes later than it are unknown).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

import pandas as pd

from handoff.config.source import SourceConfig, load_source
from handoff.features import DOMAIN_MAP_TABLE
from handoff.outcomes.schema import (
    CRM_ACCOUNTS_TABLE,
    CRM_DEALS_TABLE,
    CRM_TASKS_TABLE,
    HANDOFF_OUTCOME_COLUMNS,
    HANDOFF_OUTCOMES_TABLE,
)
from handoff.outcomes.tables import COLUMNS
from handoff.warehouse import Warehouse, ident, literal, naive_utc

log = logging.getLogger(__name__)

ROUTING_TABLE = "routing_decisions"
MAX_MERGE_HOPS = 50
_EPOCH = datetime(1970, 1, 2)
CRM_COLUMNS = {
    "destination",
    "disposition",
    "reject_reason",
    "disposition_at",
    "first_touch_at",
    "opportunity_id",
    "opportunity_opened_at",
    "closed_at",
    "won",
    "amount",
}
HANDOFF_DDL = ", ".join(f"{c} {t}" for c, t in HANDOFF_OUTCOME_COLUMNS.items())


def _table(wh: Warehouse, table: str) -> pd.DataFrame:
    if not wh.has_table(table):
        return pd.DataFrame(columns=list(COLUMNS[table]))
    return wh.query(f"SELECT * FROM {table}")


def handoffs(wh: Warehouse) -> pd.DataFrame:
    """The handoffs in routing_decisions: one row per episode (or per account and as_of when
    there is no episode), its first routed / holdout decision."""
    cols = set(wh.columns(ROUTING_TABLE)) if wh.has_table(ROUTING_TABLE) else set()
    if not cols:
        return pd.DataFrame(columns=[*HANDOFF_OUTCOME_COLUMNS, "_key"])
    new = (
        "(decision = 'holdout' OR new_assignment IS NULL OR new_assignment)"
        if "new_assignment" in cols
        else "TRUE"
    )
    order = ", assign_order" if "assign_order" in cols else ""
    df = wh.query(
        f"SELECT * FROM {ROUTING_TABLE} WHERE decision IN ('routed', 'holdout') AND {new} "
        f"ORDER BY as_of{order}, account_domain, model_version"
    )
    if df.empty:
        return pd.DataFrame(columns=[*HANDOFF_OUTCOME_COLUMNS, "_key"])
    df["as_of"] = pd.to_datetime(df["as_of"])
    df["episode_id"] = pd.Series([_s(e) for e in df["episode_id"]], index=df.index, dtype=object)
    df["_key"] = [
        f"episode:{e}" if e is not None else f"asof:{a.isoformat()}"
        for e, a in zip(df["episode_id"], df["as_of"], strict=True)
    ]
    df = df.drop_duplicates(["account_domain", "_key"], keep="first").reset_index(drop=True)
    fired = pd.to_datetime(df.get("trigger_fired_at"))
    df["handed_off_at"] = fired.where(fired.notna(), df["as_of"])
    low = pd.to_numeric(df.get("expected_acv_low"), errors="coerce")
    high = pd.to_numeric(df.get("expected_acv_high"), errors="coerce")
    df["expected_acv"] = ((low + high) / 2).where(low.notna() & high.notna(), low.fillna(high))
    df["owner_email"] = df["owner_email"].where(df["decision"] == "routed", None)
    for col in HANDOFF_OUTCOME_COLUMNS:
        if col not in df.columns:
            df[col] = None
    return df[[*HANDOFF_OUTCOME_COLUMNS, "_key"]]


class _Crm:
    """One destination's pulled records, with merges resolved."""

    def __init__(self, name: str, accounts: pd.DataFrame, tasks: pd.DataFrame, deals: pd.DataFrame):
        self.name = name
        self.accounts = {str(r["crm_id"]): r for r in accounts.to_dict("records")}
        self.by_key: dict[str, list[str]] = defaultdict(list)
        for rid, row in self.accounts.items():
            if isinstance(row.get("account_key"), str):
                self.by_key[row["account_key"].lower()].append(rid)
        live_tasks = tasks[~tasks["is_deleted"].fillna(False).astype(bool)]
        self.task_by_key = {
            key: r for r in live_tasks.to_dict("records") if (key := _s(r.get("task_key")))
        }
        self.touches: dict[str, list[datetime]] = defaultdict(list)
        for r in live_tasks.to_dict("records"):
            account, done = _s(r.get("account_crm_id")), _t(r.get("completed_at"))
            if _true(r.get("is_completed")) and account and done:
                self.touches[self.winner(account)].append(done)
        self.deals: dict[str, list[dict[str, Any]]] = defaultdict(list)
        live_deals = deals[~deals["is_deleted"].fillna(False).astype(bool)]
        for r in live_deals.to_dict("records"):
            account = _s(r.get("account_crm_id"))
            if account and _t(r.get("created_at")):
                self.deals[self.winner(account)].append(r)
        for items in self.deals.values():
            items.sort(key=lambda r: (_t(r["created_at"]), str(r["crm_id"])))

    def winner(self, crm_id: str) -> str:
        """The record `crm_id` ended up merged into (itself when never merged)."""
        seen = {crm_id}
        for _ in range(MAX_MERGE_HOPS):
            nxt = _s((self.accounts.get(crm_id) or {}).get("merged_into"))
            if not nxt or nxt in seen:
                break
            crm_id = nxt
            seen.add(crm_id)
        return crm_id

    def account(self, domain: str, task: dict[str, Any] | None) -> str | None:
        """The (merge-resolved) account of a domain, else of the episode's task."""
        ids = {self.winner(i) for i in self.by_key.get(str(domain).lower(), [])}
        if not ids and task is not None and _s(task.get("account_crm_id")):
            ids = {self.winner(str(task["account_crm_id"]))}
        if not ids:
            return None

        def rank(rid: str) -> tuple:
            # live records first, then the most recently modified, then the id
            row = self.accounts.get(rid) or {}
            modified = _t(row.get("modified_at"))
            return (
                bool(row.get("is_deleted")),
                modified is None,
                -(modified or _EPOCH).timestamp(),
                rid,
            )

        return sorted(ids, key=rank)[0]


def _s(value: Any) -> str | None:
    """A text value, or None for NULL / NaN / empty."""
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return None
    return str(value)


def _true(value: Any) -> bool:
    return value is not None and not pd.isna(value) and bool(value)


def _t(value: Any) -> datetime | None:
    if value is None or pd.isna(value):  # NaT is a datetime too
        return None
    return pd.Timestamp(value).to_pydatetime()


def _upgrades(wh: Warehouse, source: SourceConfig) -> pd.DataFrame:
    """account_domain, occurred_at of every upgrade_completed event."""
    names = source.event_families.get("upgrade_completed") or []
    if not names or not wh.has_table(source.events.table) or not wh.has_table(source.users.table):
        return pd.DataFrame(columns=["account_domain", "occurred_at"])
    e, u = source.events, source.users
    mail = f"lower(trim(split_part(u.{ident(u.email)}, '@', 2)))"
    if wh.has_table(DOMAIN_MAP_TABLE):
        domain = "dm.account_domain"
        join = f"JOIN {DOMAIN_MAP_TABLE} dm ON dm.email_domain = {mail}"
    else:
        domain, join = mail, ""
    in_list = ", ".join(literal(n) for n in names)
    df = wh.query(
        f"SELECT {domain} AS account_domain, ev.{ident(e.occurred_at)} AS occurred_at "
        f"FROM {ident(e.table)} ev JOIN {ident(u.table)} u "
        f"ON u.{ident(u.user_id)} = ev.{ident(e.user_id)} {join} "
        f"WHERE ev.{ident(e.name)} IN ({in_list}) AND {domain} IS NOT NULL"
    )
    df["occurred_at"] = pd.to_datetime(df["occurred_at"])
    return df


def _self_serve(frame: pd.DataFrame, upgrades: pd.DataFrame) -> pd.Series:
    """The first upgrade strictly after handed_off_at, per handoff."""
    out = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    if upgrades.empty or frame.empty:
        return out
    times: dict[str, list[pd.Timestamp]] = defaultdict(list)
    for domain, at in zip(upgrades["account_domain"], upgrades["occurred_at"], strict=True):
        times[str(domain).lower()].append(at)
    for values in times.values():
        values.sort()
    for i, domain, at in zip(
        frame.index, frame["account_domain"], frame["handed_off_at"], strict=True
    ):
        later = [t for t in times.get(str(domain).lower(), []) if t > at]
        if later:
            out[i] = later[0]
    return out


def build_handoff_outcomes(
    wh: Warehouse, now: datetime, source: SourceConfig | None = None
) -> pd.DataFrame:
    """Build handoff_outcomes (replacing it) from routing_decisions, the pulled CRM tables and
    product upgrade events; returns the rows written (columns HANDOFF_OUTCOME_COLUMNS)."""
    source = source or load_source()
    observed = pd.Timestamp(naive_utc(now))
    frame = handoffs(wh).reset_index(drop=True)
    accounts = _table(wh, CRM_ACCOUNTS_TABLE)
    tasks = _table(wh, CRM_TASKS_TABLE)
    deals = _table(wh, CRM_DEALS_TABLE)
    names = sorted(set(accounts["destination"].dropna()) | set(tasks["destination"].dropna()))
    crms = [
        _Crm(
            n,
            accounts[accounts["destination"] == n],
            tasks[tasks["destination"] == n],
            deals[deals["destination"] == n],
        )
        for n in names
    ]
    # the next handoff of the same account bounds what this one is credited with
    frame["handed_off_at"] = pd.to_datetime(frame["handed_off_at"])
    ordered = frame.sort_values(["account_domain", "handed_off_at"], kind="stable")
    nxt = ordered.groupby("account_domain")["handed_off_at"].shift(-1)
    frame["_next"] = nxt.reindex(frame.index)

    results: list[dict[str, Any]] = []
    for row in frame.to_dict("records"):
        start = _t(row["handed_off_at"])
        end = _t(row["_next"])
        found: dict[str, Any] = {}
        for crm in crms:
            episode = _s(row["episode_id"])
            task = crm.task_by_key.get(episode) if episode else None
            account = crm.account(row["account_domain"], task)
            if account is None and task is None:
                continue
            found = {"destination": crm.name}
            found.update(_outcome(crm, account, task, start, end))
            break
        results.append(found)
    crm_cols = [c for c in HANDOFF_OUTCOME_COLUMNS if c in CRM_COLUMNS]
    found_df = pd.DataFrame(results, columns=crm_cols, index=frame.index)
    for col in crm_cols:
        frame[col] = found_df[col]
    frame["self_serve_converted_at"] = _self_serve(frame, _upgrades(wh, source))
    frame["observed_until"] = observed
    out = frame[list(HANDOFF_OUTCOME_COLUMNS)].copy()
    for col, kind in HANDOFF_OUTCOME_COLUMNS.items():
        if kind == "TIMESTAMP":
            out[col] = pd.to_datetime(out[col])
        elif kind == "DOUBLE":
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
        elif kind == "BOOLEAN":
            out[col] = out[col].astype("boolean")
        else:
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    wh.replace_df(HANDOFF_OUTCOMES_TABLE, out, {}, HANDOFF_DDL)
    log.info(
        "handoff_outcomes: %d handoffs (%d routed, %d holdout), %d touched, %d opportunities",
        len(out),
        int((out["decision"] == "routed").sum()),
        int((out["decision"] == "holdout").sum()),
        int(out["first_touch_at"].notna().sum()),
        int(out["opportunity_id"].notna().sum()),
    )
    return out


def _outcome(
    crm: _Crm,
    account: str | None,
    task: dict[str, Any] | None,
    start: datetime | None,
    end: datetime | None,
) -> dict[str, Any]:
    def within(at: datetime | None) -> bool:
        return at is not None and (start is None or at >= start) and (end is None or at < end)

    out: dict[str, Any] = {}
    row = crm.accounts.get(account) if account else None
    if row is not None and _s(row.get("disposition")) and within(_t(row.get("disposition_at"))):
        out.update(
            disposition=row["disposition"],
            reject_reason=_s(row.get("reject_reason")),
            disposition_at=_t(row["disposition_at"]),
        )
    touches = [t for t in crm.touches.get(account, []) if within(t)] if account else []
    if task is not None and _true(task.get("is_completed")) and _t(task.get("completed_at")):
        done = _t(task["completed_at"])
        if start is None or done >= start:
            touches.append(done)
    if touches:
        out["first_touch_at"] = min(touches)
    for deal in crm.deals.get(account, []) if account else []:
        if within(_t(deal["created_at"])):
            closed = _true(deal.get("is_closed"))
            won = _true(deal.get("is_won")) if closed else None
            out.update(
                opportunity_id=str(deal["crm_id"]),
                opportunity_opened_at=_t(deal["created_at"]),
                closed_at=_t(deal.get("closed_at")) if closed else None,
                won=won,
                amount=float(deal["amount"]) if won and pd.notna(deal.get("amount")) else None,
            )
            break
    return out
