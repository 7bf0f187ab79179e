"""Apply a scoring model to user and account feature frames.

PQL(user) = points of the user's own signals + points of its account's signals in the
categories listed by `pql.include_account_categories` (firmographic fit, domain spread).
PQA(account) = aggregate (sum or max) of its users' own signal points, without the
categories in `pqa.exclude_user_categories`, + the account's own signal points.
A signal's points decay with the age of its evidence; in a group only the strongest fired
signal counts. Every score carries its breakdown by category and its top reasons.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from handoff.config.model import ScoringModel, Signal
from handoff.errors import ConfigError
from handoff.scoring.conditions import evaluate

log = logging.getLogger(__name__)

FIRMOGRAPHIC = "firmographic"


@dataclass
class ScoreResult:
    users: pd.DataFrame  # user_id, account_domain, score, status, status_label, breakdown, ...
    accounts: pd.DataFrame  # account_domain, score, status (tier), status_label, ...
    skipped_signals: list[str]


@dataclass
class _Points:
    points: pd.DataFrame  # rows x signal ids, decayed points (0 where not fired)
    signals: list[Signal]


def check_features(
    model: ScoringModel, user_cols: set[str], account_cols: set[str], where: str
) -> tuple[list[str], set[str]]:
    """Raise ConfigError for signals reading unknown features.

    A firmographic signal whose column does not exist yet is skipped (scores 0) with a
    warning: enrichment may add the column later. Returns the skipped signal ids and the
    missing firmographic columns (tiers read them as NULL, so a condition on them is false).
    """
    problems: list[tuple[str, str]] = []
    skipped: list[str] = []
    null_cols: set[str] = set()
    for i, sig in enumerate(model.signals):
        cols = user_cols if sig.level == "user" else account_cols
        needed = model.features_of(sig.when)
        if sig.evidence:
            needed |= {c for c in (sig.evidence.value, sig.evidence.at) if c}
        missing = sorted(needed - cols)
        if not missing:
            continue
        if sig.category == FIRMOGRAPHIC:
            skipped.append(sig.id)
            null_cols |= set(missing)
            log.warning("signal %s skipped: firmographic column(s) %s not present", sig.id, missing)
            continue
        problems.append(
            (
                f"signals[{i}] ({sig.id})",
                f"unknown {sig.level} feature(s) {', '.join(missing)}; "
                f"{sig.level} features are: {', '.join(sorted(cols))}",
            )
        )
    for i, tier in enumerate(model.pqa.tiers):
        if tier.when is None:
            continue
        missing = sorted(model.features_of(tier.when) - account_cols - {"pqa_score"} - null_cols)
        if missing:
            problems.append((f"pqa.tiers[{i}] ({tier.name})", f"unknown feature(s) {missing}"))
    if problems:
        raise ConfigError(where, problems)
    return skipped, null_cols


def signal_points(
    df: pd.DataFrame, signals: list[Signal], model: ScoringModel, as_of: datetime
) -> _Points:
    as_of_ts = pd.Timestamp(as_of)
    cols: dict[str, np.ndarray] = {}
    for sig in signals:
        fired = evaluate(sig.when, df, model)
        pts = np.where(fired, float(sig.points), 0.0)
        if sig.decay is not None and sig.evidence is not None and sig.evidence.at:
            at = pd.to_datetime(df[sig.evidence.at])
            age = ((as_of_ts - at).dt.total_seconds() / 86400.0).clip(lower=0).to_numpy()
            if sig.decay.half_life_days is not None:
                factor = np.power(0.5, age / sig.decay.half_life_days)
            else:
                factor = (age <= sig.decay.lifespan_days).astype(float)
            factor = np.where(np.isnan(age), 1.0, factor)  # no evidence time: no decay
            pts = pts * factor
        cols[sig.id] = np.round(pts, 2)
    points = pd.DataFrame(cols, index=df.index)
    groups: dict[str, list[str]] = {}
    for sig in signals:
        if sig.group:
            groups.setdefault(sig.group, []).append(sig.id)
    for ids in groups.values():
        if len(ids) < 2:
            continue
        block = points[ids].to_numpy()
        keep = np.abs(block).argmax(axis=1)
        mask = np.zeros_like(block, dtype=bool)
        mask[np.arange(len(block)), keep] = True
        points[ids] = np.where(mask, block, 0.0)
    return _Points(points, signals)


def _breakdown(p: _Points, categories: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(0.0, index=p.points.index, columns=categories)
    for sig in p.signals:
        out[sig.category] += p.points[sig.id]
    return out.round(2)


REASON_COLUMNS = ["entity", "signal", "label", "category", "points", "value", "at", "user_id"]


def _json_values(values: pd.Series) -> pd.Series:
    """Each value as a JSON literal, vectorised (numbers rounded to 3 places)."""
    if values.dtype == bool or values.dtype.name == "boolean":
        return values.map({True: "true", False: "false"}).fillna("null").astype(object)
    if pd.api.types.is_numeric_dtype(values):
        num = pd.to_numeric(values, errors="coerce").astype(float).round(3)
        out = num.astype(str).astype(object)
        # whole numbers print as integers whatever the column type: a column with NULLs
        # comes back as float from one backend and as nullable int from another
        ints = num.notna() & (num == np.floor(num))
        out[ints] = num[ints].astype("int64").astype(str)
        out[num.isna()] = "null"
        return out
    if pd.api.types.is_datetime64_any_dtype(values):
        return _json_times(values)
    uniq = {v: json.dumps(_jsonable(v)) for v in values.dropna().unique()}
    return values.map(uniq).fillna("null").astype(object)


def _json_times(values: pd.Series) -> pd.Series:
    ts = pd.to_datetime(values)
    out = ('"' + ts.dt.strftime("%Y-%m-%dT%H:%M:%S") + '"').astype(object)
    out[ts.isna()] = "null"
    return out


def _reasons_long(
    p: _Points, df: pd.DataFrame, entity_col: str, source: str | None = None
) -> pd.DataFrame:
    """One row per fired signal: entity, signal, label, category, points, and the evidence
    value and time already rendered as JSON literals."""
    frames = []
    for sig in p.signals:
        pts = p.points[sig.id]
        nz = (pts != 0).to_numpy()
        if not nz.any():
            continue
        sub = df.loc[nz]
        ev = sig.evidence
        value_col = (ev.value if ev and ev.value else None) or sig.when.feature
        n = int(nz.sum())
        frames.append(
            pd.DataFrame(
                {
                    "entity": sub[entity_col].to_numpy(),
                    "signal": sig.id,
                    "label": sig.label,
                    "category": sig.category,
                    "points": pts[nz].to_numpy(),
                    "value": _json_values(sub[value_col]).to_numpy()
                    if value_col
                    else np.full(n, "null", dtype=object),
                    "at": _json_times(sub[ev.at]).to_numpy()
                    if ev and ev.at
                    else np.full(n, "null", dtype=object),
                    "user_id": sub["user_id"].to_numpy() if source == "user" else None,
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=REASON_COLUMNS)
    return pd.concat(frames, ignore_index=True)


_REASONS_SQL = """
WITH ranked AS (
    SELECT *,
        row_number() OVER (
            PARTITION BY entity ORDER BY abs(points) DESC, signal, coalesce(user_id, '')
        ) AS rank_all,
        count(*) OVER (PARTITION BY entity, signal) AS users
    FROM reasons
),
kept AS (
    SELECT *,
        row_number() OVER (PARTITION BY entity, signal ORDER BY rank_all) AS rank_in_signal
    FROM ranked
),
top AS (
    SELECT *, row_number() OVER (PARTITION BY entity ORDER BY rank_all) AS k
    FROM kept
    WHERE {keep}
)
SELECT entity, '[' || string_agg(
    '{{"signal":' || to_json(signal) || ',"label":' || to_json(label)
    || ',"category":' || to_json(category)
    || ',"points":' || CAST(round(points, 2) AS VARCHAR)
    || ',"value":' || "value" || ',"at":' || "at"
    || CASE WHEN user_id IS NULL THEN ''
            ELSE ',"user_id":' || to_json(user_id) || {users} END
    || '}}', ',' ORDER BY k) || ']' AS reasons
FROM top
WHERE k <= {top_n}
GROUP BY entity
"""


def _top_reasons_json(long: pd.DataFrame, top_n: int, per_signal: bool = False) -> dict[str, str]:
    """Top reasons per entity as a JSON array string, ordered by |points|, then signal, then
    user. With per_signal, a signal fired by several users of an account appears once, with
    its strongest evidence and the number of users who showed it. Runs in an in-memory
    DuckDB: this ranks and renders every fired signal of every user."""
    if long.empty:
        return {}
    sql = _REASONS_SQL.format(
        keep="rank_in_signal = 1" if per_signal else "TRUE",
        users="""',"users":' || CAST(users AS VARCHAR)""" if per_signal else "''",
        top_n=int(top_n),
    )
    frame = long.assign(
        points=long["points"].astype(float),
        value=long["value"].astype(str),
        at=long["at"].astype(str),
        user_id=long["user_id"].astype(object),
    )
    con = duckdb.connect()
    try:
        con.register("reasons", frame)
        rows = con.execute(sql).fetchall()
    finally:
        con.close()
    return dict(rows)


def _jsonable(v: object) -> object:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        return round(v, 3)
    if isinstance(v, pd.Timestamp | datetime):
        return pd.Timestamp(v).isoformat()
    return v


def _breakdown_json(b: pd.DataFrame) -> list[str]:
    if b.empty:
        return []
    parts = [f'"{c}":' + b[c].astype(float).round(2).astype(str) for c in b.columns]
    out = parts[0]
    for part in parts[1:]:
        out = out + "," + part
    return list("{" + out + "}")


def assign_statuses(
    model: ScoringModel, score: pd.Series, user_points: _Points
) -> tuple[np.ndarray, np.ndarray]:
    """PQL status per user: the first status whose minimum is met and whose category gate
    (e.g. seed 000: at least one intent signal) is satisfied; else the catch-all."""
    n = len(score)
    status = np.full(n, model.pql.statuses[-1].name, dtype=object)
    label = np.full(n, model.pql.statuses[-1].label, dtype=object)
    decided = np.zeros(n, dtype=bool)
    for st in model.pql.statuses[:-1]:
        ok = (score >= st.min_score).to_numpy().copy()
        if st.require_any_category:
            gate = np.zeros(n, dtype=bool)
            for sig in user_points.signals:
                if sig.category in st.require_any_category:
                    gate |= (user_points.points[sig.id] > 0).to_numpy()
            ok &= gate
        take = ok & ~decided
        status[take], label[take] = st.name, st.label
        decided |= take
    return status, label


def assign_tiers(model: ScoringModel, accounts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """PQA tier per account (frame has a pqa_score column): the first tier that matches."""
    n = len(accounts)
    tier = np.full(n, model.pqa.tiers[-1].name, dtype=object)
    label = np.full(n, model.pqa.tiers[-1].label, dtype=object)
    decided = np.zeros(n, dtype=bool)
    for t in model.pqa.tiers[:-1]:
        assert t.when is not None
        take = evaluate(t.when, accounts, model) & ~decided
        tier[take], label[take] = t.name, t.label
        decided |= take
    return tier, label


def score_frames(
    model: ScoringModel,
    users: pd.DataFrame,
    accounts: pd.DataFrame,
    as_of: datetime,
    where: str = "model",
) -> ScoreResult:
    """Score users (PQL) and accounts (PQA, tier) from their feature frames."""
    users = users.reset_index(drop=True)
    accounts = accounts.reset_index(drop=True)
    skipped, null_cols = check_features(model, set(users.columns), set(accounts.columns), where)
    accounts = accounts.assign(**{c: None for c in sorted(null_cols)})
    active = [s for s in model.signals if s.id not in skipped]
    u_sigs = [s for s in active if s.level == "user"]
    a_sigs = [s for s in active if s.level == "account"]
    cats = model.categories

    # account signals first: some categories also count in each user's PQL
    a_pts = signal_points(accounts, a_sigs, model, as_of)
    a_break = _breakdown(a_pts, cats)
    u_pts = signal_points(users, u_sigs, model, as_of)
    u_break = _breakdown(u_pts, cats)

    shared = list(model.pql.include_account_categories)
    acc_shared = a_break[shared].set_axis(accounts["account_domain"].to_numpy())
    inherited = acc_shared.reindex(users["account_domain"].to_numpy()).fillna(0.0)
    inherited.index = users.index
    pql_break = u_break.copy()
    for c in shared:
        pql_break[c] = pql_break[c] + inherited[c]
    pql_score = pql_break.sum(axis=1).round(2)

    # PQL status, with optional category gates (e.g. seed 000: >= 60 and an intent signal)
    status, label = assign_statuses(model, pql_score, u_pts)

    u_long = _reasons_long(u_pts, users, "user_id", source="user")
    # account reasons a user inherits (fit, domain spread) appear in its reasons too
    a_long = _reasons_long(a_pts, accounts, "account_domain")
    inherit_long = a_long[a_long["category"].isin(shared)].merge(
        users[["user_id", "account_domain"]], left_on="entity", right_on="account_domain"
    )
    inherit_long = inherit_long.assign(entity=inherit_long["user_id_y"]).drop(
        columns=["user_id_x", "user_id_y", "account_domain"]
    )
    u_reasons = _top_reasons_json(pd.concat([u_long, inherit_long], ignore_index=True),
                                  model.top_reasons)  # fmt: skip
    user_out = pd.DataFrame(
        {
            "entity_id": users["user_id"].astype(str),
            "account_domain": users["account_domain"],
            "score": pql_score,
            "status": status,
            "status_label": label,
            "breakdown": _breakdown_json(pql_break),
            "reasons": users["user_id"].map(u_reasons).fillna("[]"),
        }
    )

    # PQA ------------------------------------------------------------------------------
    counted = [c for c in cats if c not in model.pqa.exclude_user_categories]
    own = (
        u_break[counted]
        .assign(account_domain=users["account_domain"])
        .dropna(subset=["account_domain"])
    )
    agg = own.groupby("account_domain").agg(model.pqa.user_aggregate)
    user_part = agg.reindex(accounts["account_domain"]).fillna(0.0)
    user_part.index = accounts.index
    pqa_break = a_break.copy()
    for c in counted:
        pqa_break[c] = pqa_break[c] + user_part[c]
    pqa_score = pqa_break.sum(axis=1).round(2)

    tier, tier_label = assign_tiers(model, accounts.assign(pqa_score=pqa_score))

    # account reasons: its own signals plus its users' strongest evidence
    user_evidence = u_long[~u_long["category"].isin(model.pqa.exclude_user_categories)]
    user_evidence = user_evidence.merge(
        users[["user_id", "account_domain"]], left_on="entity", right_on="user_id",
        suffixes=("", "_u"),
    )  # fmt: skip
    user_evidence = user_evidence.dropna(subset=["account_domain"]).assign(
        entity=lambda d: d["account_domain"]
    )[a_long.columns]
    a_reasons = _top_reasons_json(
        pd.concat([a_long, user_evidence], ignore_index=True), model.top_reasons, per_signal=True
    )
    account_out = pd.DataFrame(
        {
            "entity_id": accounts["account_domain"].astype(str),
            "account_domain": accounts["account_domain"],
            "score": pqa_score,
            "status": tier,
            "status_label": tier_label,
            "breakdown": _breakdown_json(pqa_break),
            "reasons": accounts["account_domain"].map(a_reasons).fillna("[]"),
        }
    )
    return ScoreResult(users=user_out, accounts=account_out, skipped_signals=skipped)
