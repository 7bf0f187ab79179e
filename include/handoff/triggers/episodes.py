"""Trigger episodes: a trigger fires once per episode, then rests for its cooldown.

At each evaluated as_of every trigger's condition is evaluated for every account. An
(account, trigger) fires when
- the condition holds now, and the account is eligible (customers only get expansion
  triggers);
- it did not hold at the previous evaluated as_of, or the pair has never fired; and
- its last firing is at least `cooldown_days` before as_of (or it never fired).

So a condition that keeps holding day after day is one episode and one event; it must stop
holding and hold again, after the cooldown, to fire again. An episode that starts inside the
cooldown does not fire later in its run: it has to end and start again.

Evaluations and firings are stored (`trigger_evaluations`, `trigger_events`) per
(as_of, model_version). A rerun of an as_of replaces that as_of's rows and derives its state
only from earlier as_ofs, so reruns are idempotent. Backfill in as_of order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from handoff.errors import ConfigError
from handoff.scoring.conditions import evaluate
from handoff.sla import BusinessCalendar, load_calendar, sla_due_at
from handoff.triggers.config import TriggerConfig, load_triggers
from handoff.triggers.frame import trigger_frame
from handoff.warehouse import Warehouse, literal, naive_utc

log = logging.getLogger(__name__)

TRIGGER_EVALUATIONS_TABLE = "trigger_evaluations"
TRIGGER_EVENTS_TABLE = "trigger_events"
TRIGGER_EVALUATIONS_DDL = """
    as_of TIMESTAMP NOT NULL,
    model_version VARCHAR NOT NULL,
    account_domain VARCHAR NOT NULL,
    trigger_id VARCHAR NOT NULL,
    holds BOOLEAN NOT NULL,
    eligible BOOLEAN NOT NULL,
    fired BOOLEAN NOT NULL
"""
TRIGGER_EVENTS_DDL = """
    account_domain VARCHAR NOT NULL,
    trigger_id VARCHAR NOT NULL,
    episode_id VARCHAR NOT NULL,
    fired_at TIMESTAMP NOT NULL,
    class VARCHAR NOT NULL,
    priority INTEGER NOT NULL,
    owner_role VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    label VARCHAR,
    sla VARCHAR,
    sla_due_at TIMESTAMP NOT NULL,
    is_customer BOOLEAN,
    evidence VARCHAR,
    model_version VARCHAR NOT NULL,
    triggers_version VARCHAR
"""
EVALUATION_COLUMNS = [
    "as_of", "model_version", "account_domain", "trigger_id", "holds", "eligible", "fired",
]  # fmt: skip
EVENT_COLUMNS = [
    "account_domain", "trigger_id", "episode_id", "fired_at", "class", "priority",
    "owner_role", "channel", "label", "sla", "sla_due_at", "is_customer", "evidence",
    "model_version", "triggers_version",
]  # fmt: skip

Pair = tuple[str, str]  # (account_domain, trigger_id)


@dataclass(frozen=True)
class TriggerSummary:
    evaluated: int  # (account, trigger) pairs evaluated
    fired: int
    by_trigger: dict[str, int]  # trigger id -> events fired
    as_of: datetime | None = None
    model_version: str = ""
    holding: int = 0  # pairs whose condition holds (fired or not)
    previous_as_of: datetime | None = None
    skipped_customers: int = field(default=0)  # holding pairs skipped: customer, not expansion


def episode_id(account_domain: str, trigger_id: str, fired_at: datetime) -> str:
    """Stable id of an episode: the same firing always gets the same id (CRM external id)."""
    key = f"{account_domain}|{trigger_id}|{naive_utc(fired_at).isoformat()}"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        f = float(value)
        return None if math.isnan(f) else (int(f) if f.is_integer() else round(f, 4))
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _pairs(previous_holds: Iterable[Pair] | pd.DataFrame | None) -> set[Pair]:
    if previous_holds is None:
        return set()
    if isinstance(previous_holds, pd.DataFrame):
        df = previous_holds
        if "holds" in df.columns:
            df = df[df["holds"].astype(bool)]
        return set(zip(df["account_domain"], df["trigger_id"], strict=True))
    return {(a, t) for a, t in previous_holds}


def _last(last_fired: Mapping[Pair, datetime] | pd.DataFrame | None) -> dict[Pair, datetime]:
    if last_fired is None:
        return {}
    if isinstance(last_fired, pd.DataFrame):
        return {
            (a, t): pd.Timestamp(f).to_pydatetime()
            for a, t, f in zip(
                last_fired["account_domain"], last_fired["trigger_id"], last_fired["fired_at"],
                strict=True,
            )
        }  # fmt: skip
    return {k: naive_utc(v) for k, v in last_fired.items()}


def check_features(config: TriggerConfig, columns: Iterable[str]) -> None:
    """ConfigError naming each trigger condition that reads a column the frame lacks."""
    have = set(columns)
    problems = []
    for i, trig in enumerate(config.triggers):
        missing = [f for f in config.features_of(trig.when) if f not in have]
        if missing:
            problems.append(
                (
                    f"triggers[{i}].when",
                    f"trigger '{trig.id}' reads unknown feature(s) {', '.join(missing)} "
                    "(see handoff.triggers.frame.FRAME_FEATURES and the account features)",
                )
            )
    if problems:
        raise ConfigError("triggers", problems)


def detect(
    frame: pd.DataFrame,
    previous_holds: Iterable[Pair] | pd.DataFrame | None,
    last_fired: Mapping[Pair, datetime] | pd.DataFrame | None,
    as_of: datetime,
    config: TriggerConfig,
    calendar: BusinessCalendar,
    model_version: str = "",
) -> pd.DataFrame:
    """Evaluate every trigger for every account of `frame` and decide which fire.

    `previous_holds`: the (account_domain, trigger_id) pairs that held at the previous
    evaluated as_of (or a frame of evaluations with a `holds` column). `last_fired`: the last
    firing time per pair before `as_of`. Returns one row per (account, trigger) with
    EVALUATION_COLUMNS; the rows that fire also carry EVENT_COLUMNS (NULL elsewhere).
    """
    as_of = naive_utc(as_of)
    check_features(config, frame.columns)
    prev = _pairs(previous_holds)
    last = _last(last_fired)
    accounts = frame["account_domain"].astype(str).to_numpy()
    is_customer = (
        frame["is_customer"].fillna(False).astype(bool).to_numpy()
        if "is_customer" in frame.columns
        else np.zeros(len(frame), dtype=bool)
    )
    parts = []
    for trig in config.triggers:
        holds = evaluate(trig.when, frame, config)  # config has .conditions for refs
        eligible = np.ones(len(frame), dtype=bool) if trig.expansion else ~is_customer
        held_before = np.array([(a, trig.id) in prev for a in accounts], dtype=bool)
        last_at = [last.get((a, trig.id)) for a in accounts]
        never = np.array([t is None for t in last_at], dtype=bool)
        cooled = np.array(
            [t is None or as_of - t >= timedelta(days=trig.cooldown_days) for t in last_at],
            dtype=bool,
        )
        fired = holds & eligible & (~held_before | never) & cooled
        part = pd.DataFrame(
            {
                "as_of": as_of,
                "model_version": model_version,
                "account_domain": accounts,
                "trigger_id": trig.id,
                "holds": holds,
                "eligible": eligible,
                "fired": fired,
            }
        )
        due = sla_due_at(
            as_of,
            calendar,
            business_hours=trig.sla.business_hours,
            same_business_day=bool(trig.sla.same_business_day),
        )
        reads = config.features_of(trig.when)
        idx = np.flatnonzero(fired)
        events = pd.DataFrame(
            {
                "episode_id": [episode_id(accounts[i], trig.id, as_of) for i in idx],
                "fired_at": as_of,
                "class": trig.class_,
                "priority": trig.priority,
                "owner_role": [trig.owner_for(bool(is_customer[i])) for i in idx],
                "channel": trig.channel,
                "label": trig.label,
                "sla": trig.sla.describe(),
                "sla_due_at": due,
                "is_customer": is_customer[idx],
                "evidence": [
                    json.dumps({f: _json_value(frame[f].iat[i]) for f in reads}, sort_keys=True)
                    for i in idx
                ],
                "triggers_version": config.version,
            },
            index=idx,
        )
        parts.append(part.join(events) if len(idx) else part)
    if not parts or frame.empty:
        return pd.DataFrame(columns=list(dict.fromkeys(EVALUATION_COLUMNS + EVENT_COLUMNS)))
    out = pd.concat(parts, ignore_index=True)
    for col in EVENT_COLUMNS:
        if col not in out.columns:
            out[col] = None
    return out[list(dict.fromkeys(EVALUATION_COLUMNS + EVENT_COLUMNS))]


def fired_events(detected: pd.DataFrame) -> pd.DataFrame:
    """The trigger_events rows of a `detect` result."""
    ev = detected[detected["fired"].astype(bool)][EVENT_COLUMNS].reset_index(drop=True)
    return ev.astype({"priority": "int64", "is_customer": "bool"}) if len(ev) else ev


def load_state(
    wh: Warehouse, as_of: datetime, model_version: str
) -> tuple[set[Pair], dict[Pair, datetime], datetime | None]:
    """What detect needs from before `as_of`: the pairs holding at the previous evaluated
    as_of, the last firing per pair, and that previous as_of."""
    as_of = naive_utc(as_of)
    t, mv = literal(as_of), literal(model_version)
    prev_holds: set[Pair] = set()
    last: dict[Pair, datetime] = {}
    prev_as_of = None
    if wh.has_table(TRIGGER_EVALUATIONS_TABLE):
        prev_as_of = wh.scalar(
            f"SELECT max(as_of) FROM {TRIGGER_EVALUATIONS_TABLE} "
            f"WHERE as_of < {t} AND model_version = {mv}"
        )
        if prev_as_of is not None and not pd.isna(prev_as_of):
            prev_as_of = pd.Timestamp(prev_as_of).to_pydatetime()
            rows = wh.query(
                f"SELECT account_domain, trigger_id FROM {TRIGGER_EVALUATIONS_TABLE} "
                f"WHERE as_of = {literal(prev_as_of)} AND model_version = {mv} AND holds"
            )
            prev_holds = set(zip(rows["account_domain"], rows["trigger_id"], strict=True))
        else:
            prev_as_of = None
    if wh.has_table(TRIGGER_EVENTS_TABLE):
        rows = wh.query(
            f"SELECT account_domain, trigger_id, max(fired_at) AS fired_at "
            f"FROM {TRIGGER_EVENTS_TABLE} WHERE fired_at < {t} AND model_version = {mv} "
            "GROUP BY account_domain, trigger_id"
        )
        last = _last(rows)
    return prev_holds, last, prev_as_of


def run_triggers(
    wh: Warehouse,
    as_of: datetime,
    model_version: str,
    config: TriggerConfig | None = None,
    calendar: BusinessCalendar | None = None,
) -> TriggerSummary:
    """Evaluate the triggers as of `as_of` on the scores of `model_version` and store the
    evaluations and the events fired (replacing this as_of's rows)."""
    as_of = naive_utc(as_of)
    config = config or load_triggers()
    calendar = calendar or load_calendar()
    frame = trigger_frame(wh, as_of, model_version, config.frame)
    prev_holds, last, prev_as_of = load_state(wh, as_of, model_version)
    detected = detect(frame, prev_holds, last, as_of, config, calendar, model_version)
    events = fired_events(detected)
    evaluations = detected[EVALUATION_COLUMNS].astype(
        {"holds": "bool", "eligible": "bool", "fired": "bool"}
    )
    events["model_version"] = model_version
    wh.replace_df(
        TRIGGER_EVENTS_TABLE,
        events,
        {"fired_at": as_of, "model_version": model_version},
        TRIGGER_EVENTS_DDL,
    )
    wh.replace_df(
        TRIGGER_EVALUATIONS_TABLE,
        evaluations,
        {"as_of": as_of, "model_version": model_version},
        TRIGGER_EVALUATIONS_DDL,
    )
    by_trigger = {t.id: int((events["trigger_id"] == t.id).sum()) for t in config.triggers}
    holds = detected["holds"].astype(bool)
    summary = TriggerSummary(
        evaluated=len(detected),
        fired=len(events),
        by_trigger=by_trigger,
        as_of=as_of,
        model_version=model_version,
        holding=int(holds.sum()),
        previous_as_of=prev_as_of,
        skipped_customers=int((holds & ~detected["eligible"].astype(bool)).sum()),
    )
    log.info(
        "triggers as of %s (%s): %d evaluated, %d holding, %d fired %s",
        as_of, model_version, summary.evaluated, summary.holding, summary.fired,
        {k: v for k, v in by_trigger.items() if v},
    )  # fmt: skip
    return summary
