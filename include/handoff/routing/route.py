"""Route scored accounts: no-touch lane, segment and motion, territory, holdout, owner.

`route` is pure: the same accounts, triggers, history, as_of, config and roster always give
the same decisions. One row per account, decision one of:
- no_touch: below the bar (tier not routable, an exclusion, no open trigger episode,
  a self-serve segment, digital-CS customer, or too small for an AE); the reason says which.
- holdout: otherwise routable and a rep has room for it now (in the same priority order as
  routed accounts, so the arms are comparable), but in the control arm (salted hash of the
  domain); it takes no capacity.
- routed: assigned to a named rep with room in the capacity window.
- queued: routable but no rep of the right role/region/segment has room; retried later.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from handoff.config.model import Condition
from handoff.routing.acv import expected_acv
from handoff.routing.assign import Assigner
from handoff.routing.config import Roster, RoutingConfig
from handoff.routing.holdout import holdout_bucket
from handoff.scoring.conditions import evaluate
from handoff.warehouse import naive_utc

DECISIONS = ("routed", "holdout", "no_touch", "queued")

OUTPUT_COLUMNS = [
    "as_of", "account_domain", "decision", "segment", "motion", "expected_acv_low",
    "expected_acv_high", "owner_role", "owner_name", "owner_email", "region", "trigger_id",
    "sla_due_at", "reason",
    # context for the package, the CRM and later runs
    "episode_id", "trigger_class", "trigger_fired_at", "tier", "score", "size_band",
    "acv_band", "country", "new_assignment", "assign_order",
]  # fmt: skip

TRIGGER_FIELDS = ["trigger_id", "episode_id", "trigger_class", "trigger_fired_at", "sla_due_at"]


def route(
    accounts: pd.DataFrame,
    triggers: pd.DataFrame,
    history: pd.DataFrame,
    as_of: datetime,
    config: RoutingConfig,
    roster: Roster,
) -> pd.DataFrame:
    """Decide, for every account, routed | holdout | no_touch | queued (see module doc).

    accounts: account_domain, score, tier (or status) and any features the config reads
      (employees, plan, seat_limit, users_total, country, fit_tier, size_band...); missing
      columns read as NULL, so a condition on them is false.
    triggers: account_domain, trigger_id, episode_id, fired_at, class, priority,
      owner_role, sla_due_at (the open episodes of this as_of).
    history: earlier routing decisions (rows at or after as_of are ignored).
    """
    as_of_ts = pd.Timestamp(naive_utc(as_of))
    df = _prepare(accounts, config)
    history = _past(history, as_of_ts)
    trig = _open_triggers(triggers, history, as_of_ts, config)
    df = df.merge(trig, on="account_domain", how="left")

    df["segment"], seg_role, seg_motion = _segments(df, config)
    band, band_role = _motion_bands(df["expected_acv"], config)
    df["acv_band"] = band
    customer = (
        _eval(config.customer_when, df, config)
        if config.customer_when is not None
        else np.zeros(len(df), dtype=bool)
    )
    df["motion"] = np.where(customer, band, seg_motion)
    role = pd.Series(np.where(customer, band_role, seg_role), index=df.index, dtype=object)
    if config.use_trigger_owner_role and "trigger_owner_role" in df.columns:
        role = df["trigger_owner_role"].where(df["trigger_owner_role"].notna(), role)
    df["owner_role"] = role.where(role.notna(), None)
    df["region"] = _regions(df, config)

    decision = pd.Series(pd.NA, index=df.index, dtype=object)
    reason = pd.Series("", index=df.index, dtype=object)

    def lane(mask: np.ndarray | pd.Series, why: pd.Series | str) -> None:
        hit = pd.Series(np.asarray(mask, dtype=bool), index=df.index) & decision.isna()
        decision[hit] = "no_touch"
        reason[hit] = why[hit] if isinstance(why, pd.Series) else why

    elig = config.eligibility
    tiers = ", ".join(elig.routable_tiers)
    lane(
        ~df["tier"].isin(elig.routable_tiers),
        "PQA tier " + df["tier"].fillna("unknown").astype(str) + f" is not routable ({tiers})",
    )
    for rule in elig.exclusions:
        lane(_eval(rule.when, df, config), f"{rule.name}: {rule.reason}")
    if elig.require_open_trigger:
        lane(df["trigger_id"].isna(), "no open trigger episode")
    self_serve = df["owner_role"].isna() & ~customer
    lane(self_serve, "segment " + df["segment"] + " is self-serve (" + df["motion"] + ")")
    lane(
        df["owner_role"].isna() & customer,
        "paying customer in ACV band " + df["acv_band"] + ": digital CS, no rep",
    )
    small = (df["owner_role"] == "AE") & (df["expected_acv"] < elig.ae_min_acv)
    lane(
        small,
        "expected ACV "
        + df["expected_acv"].map(_money)
        + f" is below the AE minimum of {_money(elig.ae_min_acv)}: self-serve owns it",
    )
    bucket = df["account_domain"].map(lambda d: holdout_bucket(d, config.holdout.salt))
    held = decision.isna() & (bucket < config.holdout.share)

    df["owner_name"] = None
    df["owner_email"] = None
    df["new_assignment"] = False
    df["assign_order"] = pd.array([pd.NA] * len(df), dtype="Int64")
    _assign(df, decision, reason, held, history, as_of_ts, config, roster)
    df["decision"] = decision
    df["reason"] = reason
    df["as_of"] = as_of_ts
    out = df[OUTPUT_COLUMNS].sort_values("account_domain", kind="stable")
    return out.reset_index(drop=True)


# -- inputs ---------------------------------------------------------------------------------
def _prepare(accounts: pd.DataFrame, config: RoutingConfig) -> pd.DataFrame:
    df = accounts.copy()
    if "account_domain" not in df.columns:
        raise ValueError("accounts: needs an account_domain column")
    df["account_domain"] = df["account_domain"].astype(str).str.strip().str.lower()
    df = df.drop_duplicates("account_domain", keep="first").reset_index(drop=True)
    for col in df.columns:  # nullable warehouse dtypes (Int32, boolean) -> numpy / object
        if (
            isinstance(df[col].dtype, pd.api.extensions.ExtensionDtype)
            and df[col].dtype.kind in "iuf"
        ):
            df[col] = df[col].astype("float64")
        elif str(df[col].dtype) == "boolean":
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    if "tier" not in df.columns:
        df["tier"] = df["status"] if "status" in df.columns else None
    if "score" not in df.columns:
        df["score"] = np.nan
    if "country" in df.columns:
        aliases = {k.lower(): v for k, v in config.territory.country_aliases.items()}

        def norm(c: object) -> object:
            if c is None or (isinstance(c, float) and np.isnan(c)):
                return None
            s = str(c).strip()
            return aliases.get(s.lower(), s.upper() if len(s) == 2 else s)

        df["country"] = df["country"].map(norm)
    else:
        df["country"] = None
    acv = expected_acv(df, config.acv)
    for col in acv.columns:
        df[col] = acv[col]
    return df


def _past(history: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.DataFrame:
    if history is None or history.empty:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    h = history.copy()
    h["as_of"] = pd.to_datetime(h["as_of"])
    return h[h["as_of"] < as_of].reset_index(drop=True)


def _priority_rank(values: pd.Series, order: list[str]) -> pd.Series:
    names = {p.lower(): i for i, p in enumerate(order)}

    def rank(v: object) -> float:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return float(len(order) + 1000)
        if isinstance(v, int | float | np.integer | np.floating):
            return float(v)
        s = str(v).strip().lower()
        if s in names:
            return float(names[s])
        if s.lstrip("p").isdigit():  # P1, P2...
            return float(s.lstrip("p"))
        return float(len(order))

    return values.map(rank).astype(float)


def _open_triggers(
    triggers: pd.DataFrame | None,
    history: pd.DataFrame,
    as_of: pd.Timestamp,
    config: RoutingConfig,
) -> pd.DataFrame:
    """One open trigger episode per account: this run's most urgent, else a queued carry."""
    cols = ["account_domain", *TRIGGER_FIELDS, "trigger_owner_role", "priority_rank"]
    t = triggers.copy() if triggers is not None else pd.DataFrame()
    if t.empty or "account_domain" not in t.columns:
        t = pd.DataFrame(columns=cols)
    else:
        t["account_domain"] = t["account_domain"].astype(str).str.strip().str.lower()
        rename = {"fired_at": "trigger_fired_at", "class": "trigger_class"}
        rename["owner_role"] = "trigger_owner_role"
        t = t.rename(columns=rename)
        for col in cols:
            if col not in t.columns:
                t[col] = None
        if "trigger_id" in t.columns:
            t = t[t["trigger_id"].notna()]
        fired = pd.to_datetime(t["trigger_fired_at"])
        t = t[fired.isna() | (fired <= as_of)].copy()
        t["priority_rank"] = _priority_rank(t.get("priority", pd.Series(dtype=object)),
                                            config.eligibility.priority_order)  # fmt: skip
        t["_sla"] = pd.to_datetime(t["sla_due_at"])
        t["_fired"] = pd.to_datetime(t["trigger_fired_at"])
        t = t.sort_values(
            ["account_domain", "priority_rank", "_sla", "_fired", "trigger_id"],
            ascending=[True, True, True, False, True],
            na_position="last",
            kind="stable",
        )
        t = t.drop_duplicates("account_domain")[cols]
    carry = _queued_carry(history, as_of, config)
    carry = carry[~carry["account_domain"].isin(t["account_domain"])]
    out = pd.concat([t, carry], ignore_index=True) if not carry.empty else t
    for col in ("sla_due_at", "trigger_fired_at"):
        out[col] = pd.to_datetime(out[col])
    return out.reset_index(drop=True)


def _queued_carry(
    history: pd.DataFrame, as_of: pd.Timestamp, config: RoutingConfig
) -> pd.DataFrame:
    cols = ["account_domain", *TRIGGER_FIELDS, "trigger_owner_role", "priority_rank"]
    if history.empty or "decision" not in history.columns:
        return pd.DataFrame(columns=cols)
    since = as_of - timedelta(days=config.eligibility.queue_carry_days)
    h = history.sort_values(["account_domain", "as_of"], kind="stable")
    last = h.drop_duplicates("account_domain", keep="last")
    q = last[(last["decision"] == "queued") & (last["as_of"] >= since)].copy()
    for col in cols:
        if col not in q.columns:
            q[col] = None
    q["priority_rank"] = float(len(config.eligibility.priority_order))
    return q[cols].reset_index(drop=True)


# -- rules ----------------------------------------------------------------------------------
def _eval(cond: Condition, df: pd.DataFrame, config: RoutingConfig) -> np.ndarray:
    """Evaluate a condition; features the frame lacks read as NULL (the condition is false)."""
    missing = config.features_of(cond) - set(df.columns)
    frame = df.assign(**{c: np.nan for c in missing}) if missing else df
    return evaluate(cond, frame, config)  # type: ignore[arg-type]


def _segments(df: pd.DataFrame, config: RoutingConfig) -> tuple[pd.Series, pd.Series, pd.Series]:
    seg = pd.Series(pd.NA, index=df.index, dtype=object)
    role = pd.Series(None, index=df.index, dtype=object)
    motion = pd.Series(None, index=df.index, dtype=object)
    for s in config.segments:
        hit = seg.isna() & (
            _eval(s.when, df, config) if s.when is not None else np.ones(len(df), dtype=bool)
        )
        seg[hit], role[hit], motion[hit] = s.name, s.owner_role, s.motion
    return seg, role, motion


def _motion_bands(acv: pd.Series, config: RoutingConfig) -> tuple[pd.Series, pd.Series]:
    band = pd.Series(pd.NA, index=acv.index, dtype=object)
    role = pd.Series(None, index=acv.index, dtype=object)
    for m in config.motions:
        hit = band.isna() & ((acv < m.max_acv) if m.max_acv is not None else True)
        band[hit], role[hit] = m.name, m.customer_owner_role
    return band, role


def _regions(df: pd.DataFrame, config: RoutingConfig) -> pd.Series:
    region = pd.Series(pd.NA, index=df.index, dtype=object)
    for rule in config.territory.rules:
        hit = region.isna() & (
            _eval(rule.when, df, config) if rule.when is not None else np.ones(len(df), bool)
        )
        region[hit] = rule.region
    return region.fillna(config.territory.default_region)


# -- assignment -----------------------------------------------------------------------------
def _assign(
    df: pd.DataFrame,
    decision: pd.Series,
    reason: pd.Series,
    held: pd.Series,
    history: pd.DataFrame,
    as_of: pd.Timestamp,
    config: RoutingConfig,
    roster: Roster,
) -> None:
    window_start = as_of - timedelta(days=config.capacity_window_days)
    assigner = Assigner.from_history(roster, history, window_start)
    routed_before = history[history.get("decision", pd.Series(dtype=object)) == "routed"]
    routed_before = routed_before.sort_values("as_of", kind="stable")
    by_episode: dict[tuple[str, str], pd.Series] = {}
    last_owner: dict[str, str] = {}
    for _, h in routed_before.iterrows():
        if pd.notna(h.get("episode_id")):
            by_episode[(h["account_domain"], str(h["episode_id"]))] = h
        if pd.notna(h.get("owner_email")):
            last_owner[h["account_domain"]] = h["owner_email"]

    todo = df[decision.isna()].assign(
        _sla=lambda d: pd.to_datetime(d["sla_due_at"]),
        _score=lambda d: -pd.to_numeric(d["score"], errors="coerce").fillna(0.0),
    )
    todo = todo.sort_values(
        ["priority_rank", "_sla", "_score", "account_domain"], na_position="last", kind="stable"
    )
    order = 0
    for i, row in todo.iterrows():
        prev = by_episode.get((row["account_domain"], str(row["episode_id"])))
        if prev is not None:
            decision[i] = "routed"
            df.loc[i, ["owner_name", "owner_email"]] = [prev["owner_name"], prev["owner_email"]]
            reason[i] = (
                f"episode {row['episode_id']} already routed to {prev['owner_name']} on "
                f"{pd.Timestamp(prev['as_of']).date()}"
            )
            continue
        if held[i]:
            # the control arm is drawn where a rep would take the account now, in priority
            # order, so it is comparable with the routed accounts; it takes no capacity
            if assigner.has_room(row["owner_role"], row["region"], row["segment"]):
                decision[i] = "holdout"
                reason[i] = (
                    f"holdout arm ({config.holdout.share:.0%} control): would be routed now; "
                    "scored and recorded, not routed"
                )
            else:
                decision[i] = "queued"
                reason[i] = "queued: in the holdout arm once a rep has room"
            continue
        got = assigner.assign(
            row["owner_role"], row["region"], row["segment"], last_owner.get(row["account_domain"])
        )
        if got.rep is None:
            decision[i] = "queued"
            reason[i] = f"queued: {got.reason}"
            continue
        order += 1
        decision[i] = "routed"
        df.loc[i, ["owner_name", "owner_email"]] = [got.rep.name, got.rep.email]
        df.loc[i, "new_assignment"] = True
        df.loc[i, "assign_order"] = order
        reason[i] = (
            f"{row['segment']} / {row['motion']}: {row['owner_role']} {got.rep.name} ({got.reason})"
        )


def _money(v: float) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "unknown"
    return f"${v:,.0f}"
