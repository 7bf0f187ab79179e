"""Write a seeded DuckDB warehouse for Loopwise, a fictional B2B product-led product.

Tables: accounts (company domains with firmographics and plan), users (titles, roles,
departments; some on personal mail domains), events (every signal family the default models
read) and hidden_propensity (the per-account truth that drives behaviour; scoring never reads
it, the CRM sandbox's simulated reps do). Behaviour follows the propensity and a trajectory
(growth, stable, decline, churn) over the history window. Same seed, same warehouse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from handoff.sample import catalog as cat

log = logging.getLogger(__name__)

SIZES = {"small": 2_000, "medium": 20_000, "large": 100_000}
GENERATOR_VERSION = 3  # bump when the same seed would write different data
FIRMOGRAPHICS_CSV = "firmographics.csv"  # written beside the warehouse (enrichment.yaml)
TRAJECTORIES = np.array(["growth", "stable", "decline", "churn"])
DAY = 86_400


@dataclass(frozen=True)
class SampleSpec:
    accounts: int
    seed: int = 42
    end: datetime = field(
        default_factory=lambda: datetime.now(UTC).replace(
            hour=0, minute=0, second=0, microsecond=0, tzinfo=None
        )
    )
    days: int = 180
    freemail_share: float = 0.12  # individuals on personal mail, per company account
    chunk_accounts: int = 2_500

    @classmethod
    def of_size(cls, size: str, **kw: object) -> SampleSpec:
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
        return cls(accounts=SIZES[size], **kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SampleSummary:
    path: str
    accounts: int
    users: int
    freemail_users: int
    events: int
    start: datetime
    end: datetime


DDL = """
CREATE OR REPLACE TABLE accounts (
    domain VARCHAR PRIMARY KEY, name VARCHAR, plan VARCHAR, seat_limit INTEGER,
    employees INTEGER, industry VARCHAR, created_at TIMESTAMP);
CREATE OR REPLACE TABLE users (
    user_id VARCHAR PRIMARY KEY, email VARCHAR, name VARCHAR, title VARCHAR, role VARCHAR,
    department VARCHAR, created_at TIMESTAMP);
CREATE OR REPLACE TABLE events (
    event_id BIGINT, user_id VARCHAR, event_name VARCHAR, occurred_at TIMESTAMP,
    feature VARCHAR, value DOUBLE);
CREATE OR REPLACE TABLE hidden_propensity (
    entity VARCHAR PRIMARY KEY, propensity DOUBLE, trajectory VARCHAR, churned_at TIMESTAMP);
"""


def generate(
    path: str | Path,
    spec: SampleSpec,
    progress: Callable[[int, int], None] | None = None,
) -> SampleSummary:
    """Write the sample warehouse to `path` (replacing its sample tables).

    `progress(done_accounts, total_accounts)` is called after each chunk.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    start = spec.end - timedelta(days=spec.days)
    ents = _entities(rng, spec)
    con = duckdb.connect(str(path))
    try:
        con.execute(DDL)
        _write_entities(con, ents, start)
        n_ent = len(ents["p"])
        n_users = n_events = n_free = 0
        next_user = next_event = 0
        order = np.arange(n_ent)
        step = max(1, spec.chunk_accounts)
        for lo in range(0, n_ent, step):
            idx = order[lo : lo + step]
            chunk_rng = np.random.default_rng([spec.seed, lo])
            users, events = _simulate(chunk_rng, ents, idx, spec, start, next_user, next_event)
            con.register("_u", users)
            con.execute("INSERT INTO users SELECT * FROM _u")
            con.unregister("_u")
            con.register("_e", events)
            con.execute(
                "INSERT INTO events SELECT event_id, CAST(user_id AS VARCHAR), "
                "CAST(event_name AS VARCHAR), occurred_at, CAST(feature AS VARCHAR), value "
                "FROM _e"
            )
            con.unregister("_e")
            next_user += len(users)
            next_event += len(events)
            n_users += len(users)
            n_free += int(ents["freemail"][idx].sum())
            n_events += len(events)
            if progress:
                progress(min(lo + step, n_ent), n_ent)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    from handoff.sample.firmographics import write_firmographics_csv

    # what a firmographics vendor knows of these companies (about 5% unknown)
    write_firmographics_csv(path, path.parent / FIRMOGRAPHICS_CSV)
    log.info("sample warehouse %s: %d users, %d events", path, n_users, n_events)
    return SampleSummary(str(path), spec.accounts, n_users, n_free, n_events, start, spec.end)


def _entities(rng: np.random.Generator, spec: SampleSpec) -> dict[str, np.ndarray]:
    """Companies followed by free-mail individuals, with their hidden propensity."""
    n_acc = spec.accounts
    n_free = round(n_acc * spec.freemail_share)
    n = n_acc + n_free
    freemail = np.zeros(n, dtype=bool)
    freemail[n_acc:] = True
    size_class = rng.choice(3, size=n, p=[0.55, 0.30, 0.15])
    size_class[freemail] = 0
    lo = np.array([1, 50, 500])[size_class]
    hi = np.array([50, 500, 20_000])[size_class]
    employees = np.exp(rng.uniform(np.log(lo), np.log(hi))).astype(int)
    industry = rng.integers(0, len(cat.INDUSTRIES), size=n)
    icp = (size_class >= 1) & (industry <= 2)
    p = np.clip(rng.beta(2.0, 5.0, size=n) + 0.12 * icp - 0.08 * freemail, 0.01, 0.99)
    traj_p = np.stack(
        [0.15 + 0.3 * p, np.full(n, 0.40), 0.30 - 0.2 * p, 0.15 - 0.1 * p + 0.0], axis=1
    )
    traj_p /= traj_p.sum(axis=1, keepdims=True)
    traj = (rng.random(n)[:, None] > np.cumsum(traj_p, axis=1)).sum(axis=1)
    start_day = rng.integers(0, spec.days - 14, size=n)
    churn_day = np.where(
        traj == 3, start_day + 7 + (rng.random(n) * (spec.days - start_day - 7)).astype(int), -1
    )
    lam = (0.3 + 6.0 * p) * np.array([0.6, 1.6, 3.2])[size_class]
    n_users = np.minimum(1 + rng.poisson(lam), 250)
    n_users[freemail] = 1
    # the plan fits the team: free up to 3 seats, team up to 10, business up to 50
    plan = np.select([n_users <= 3, n_users <= 10], [0, 1], 2)
    upsell = rng.random(n) < 0.15
    plan = np.where(upsell & (plan < 2), plan + 1, plan)
    return {
        "freemail": freemail,
        "size_class": size_class,
        "employees": employees,
        "industry": industry,
        "p": p,
        "traj": traj,
        "start_day": start_day,
        "churn_day": churn_day,
        "n_users": n_users,
        "plan": plan,
        "domain": _domains(rng, n_acc),
    }


def _domains(rng: np.random.Generator, n: int) -> np.ndarray:
    a = rng.integers(0, len(cat.NAME_PARTS_A), size=n)
    b = rng.integers(0, len(cat.NAME_PARTS_B), size=n)
    t = rng.integers(0, len(cat.TLDS), size=n)
    seen: dict[str, int] = {}
    out = []
    for i in range(n):
        base = cat.NAME_PARTS_A[a[i]] + cat.NAME_PARTS_B[b[i]]
        k = seen.get(base, 0)
        seen[base] = k + 1
        stem = base if k == 0 else f"{base}{k + 1}"
        out.append(f"{stem}.{cat.TLDS[t[i]]}")
    return np.array(out, dtype=object)


def _write_entities(con: duckdb.DuckDBPyConnection, ents: dict, start: datetime) -> None:
    n_acc = len(ents["domain"])
    sl = slice(0, n_acc)
    plans = list(cat.PLANS)
    created = pd.to_datetime(start) + pd.to_timedelta(ents["start_day"][sl], unit="D")
    accounts = pd.DataFrame(
        {
            "domain": ents["domain"],
            "name": [d.split(".")[0].title() for d in ents["domain"]],
            "plan": [plans[i] for i in ents["plan"][sl]],
            "seat_limit": np.maximum(
                [cat.PLANS[plans[i]] for i in ents["plan"][sl]],
                np.ceil(ents["n_users"][sl] * 1.2).astype(int),
            ),
            "employees": ents["employees"][sl],
            "industry": [cat.INDUSTRIES[i] for i in ents["industry"][sl]],
            "created_at": created,
        }
    )
    con.register("_a", accounts)
    con.execute("INSERT INTO accounts SELECT * FROM _a")
    con.unregister("_a")
    n = len(ents["p"])
    entity = list(ents["domain"]) + [f"individual:{i}" for i in range(n_acc, n)]
    churned = pd.to_datetime(start) + pd.to_timedelta(np.maximum(ents["churn_day"], 0), unit="D")
    prop = pd.DataFrame(
        {
            "entity": entity,
            "propensity": np.round(ents["p"], 4),
            "trajectory": TRAJECTORIES[ents["traj"]],
            "churned_at": churned.where(ents["churn_day"] >= 0),
        }
    )
    con.register("_p", prop)
    con.execute("INSERT INTO hidden_propensity SELECT * FROM _p")
    con.unregister("_p")


def _simulate(
    rng: np.random.Generator,
    ents: dict,
    idx: np.ndarray,
    spec: SampleSpec,
    start: datetime,
    user_offset: int,
    event_offset: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Users and events of the entities `idx`."""
    days = spec.days
    n_users = ents["n_users"][idx]
    ue = np.repeat(idx, n_users)  # entity of each user
    nu = len(ue)
    first = np.concatenate([[0], np.cumsum(n_users)[:-1]])
    ordinal = np.arange(nu) - np.repeat(first, n_users)
    p = ents["p"][ue]
    traj = ents["traj"][ue]
    s0 = ents["start_day"][ue]
    churn = ents["churn_day"][ue]
    end_day = np.where(churn >= 0, churn, days)
    size = ents["size_class"][ue]

    # users join over the account's life: later for growing accounts
    alpha = np.array([0.6, 1.2, 2.5, 2.0])[traj]
    span = np.maximum(end_day - s0 - 1, 0)
    join_day = s0 + (span * rng.random(nu) ** alpha).astype(int)
    join_day[ordinal == 0] = s0[ordinal == 0]
    join_t = join_day * DAY + rng.integers(8 * 3600, 19 * 3600, size=nu)

    role = np.where(ordinal == 0, 0, rng.choice(3, size=nu, p=[0.1, 0.75, 0.15]))
    ent_dept = rng.integers(0, len(cat.DEPARTMENTS), size=len(idx))
    dept = np.where(
        rng.random(nu) < np.where(size == 2, 0.4, 0.65),
        np.repeat(ent_dept, n_users),
        rng.integers(0, len(cat.DEPARTMENTS), size=nu),
    )
    exec_p = np.where(ordinal == 0, np.where(size == 0, 0.35, 0.08), 0.03)
    is_exec = rng.random(nu) < exec_p

    users = _user_table(rng, ents, ue, ordinal, role, dept, is_exec, join_t, start, user_offset)

    # daily activity -------------------------------------------------------------------
    act_rate = np.clip(0.06 + 0.55 * p + rng.normal(0, 0.06, nu), 0.02, 0.9)
    act_rate *= np.array([1.0, 0.9, 0.45])[role]
    length = np.maximum(end_day - join_day, 0)
    tot = int(length.sum())
    ud_user = np.repeat(np.arange(nu), length)
    ud_day = join_day[ud_user] + (
        np.arange(tot) - np.repeat(np.concatenate([[0], np.cumsum(length)[:-1]]), length)
    )
    life = np.maximum(end_day - s0, 1)[ud_user]
    frac = (ud_day - s0[ud_user]) / life
    tr = traj[ud_user]
    mult = np.select([tr == 0, tr == 2], [0.45 + 1.1 * frac, 1.3 - 1.15 * frac], 1.0)
    weekday = (pd.Timestamp(start).dayofweek + ud_day) % 7
    mult = mult * np.where(weekday >= 5, 0.3, 1.0)
    active = rng.random(tot) < np.clip(act_rate[ud_user] * mult, 0, 0.95)
    a_user = ud_user[active]
    a_day = ud_day[active]
    ap = p[a_user]
    n_ev = 1 + rng.poisson(5.0 + 10.0 * ap)

    parts: list[tuple[np.ndarray, ...]] = []
    # one session per active day
    sess_t = a_day * DAY + rng.integers(7 * 3600, 12 * 3600, size=len(a_day))
    parts.append(_ev(a_user, "session_started", sess_t))

    e_user = np.repeat(a_user, n_ev)
    e_day = np.repeat(a_day, n_ev)
    e_p = p[e_user]
    ne = len(e_user)
    e_t = e_day * DAY + rng.integers(9 * 3600, 21 * 3600, size=ne)
    eng = np.isin(dept[e_user], [0, 7])  # Engineering, Data
    weights = np.stack(
        [
            np.full(ne, 50.0),  # core action
            np.full(ne, 20.0),  # basic feature
            0.15 + 5 * e_p**2,  # premium feature
            (0.1 + 3 * e_p**2) * np.where(eng, 2.5, 0.5),  # api
            np.full(ne, 3.0),  # export
            0.2 + 1.5 * e_p,  # external share
            0.1 + 1.5 * e_p**2,  # pricing view
            np.full(ne, 4.0),  # plan usage
        ],
        axis=1,
    )
    cum = np.cumsum(weights, axis=1)
    kind = (rng.random(ne)[:, None] * cum[:, -1:] > cum).sum(axis=1)

    def pick(k: int) -> np.ndarray:
        return kind == k

    m = pick(0)
    core = np.array([cat.EVENT_CODE[c] for c in cat.CORE_ACTIONS])
    parts.append((e_user[m], core[rng.integers(0, len(core), m.sum())], e_t[m], None, None))
    m = pick(1)
    parts.append(_ev(e_user[m], "feature_used", e_t[m], _feat(rng, cat.BASIC_FEATURES, m.sum())))
    m = pick(2)
    parts.append(_ev(e_user[m], "feature_used", e_t[m], _feat(rng, cat.PREMIUM_FEATURES, m.sum())))
    m = pick(3)
    parts.append(
        _ev(
            e_user[m],
            "api_called",
            e_t[m],
            _feat(rng, ["api_access"], m.sum()),
            rng.poisson(10 + 90 * e_p[m]).astype(float),
        )
    )
    m = pick(4)
    parts.append(_ev(e_user[m], "data_exported", e_t[m]))
    m = pick(5)
    parts.append(_ev(e_user[m], "link_shared_external", e_t[m]))
    m = pick(6)
    secs = np.round(rng.lognormal(np.log(40 + 200 * e_p[m]), 0.8), 0)
    parts.append(_ev(e_user[m], "pricing_viewed", e_t[m], None, secs))
    m = pick(7)
    # plan usage climbs over the account's life, faster for high-propensity, growing accounts
    uu = e_user[m]
    ent_r0 = np.repeat(rng.uniform(0.05, 0.35, len(idx)), n_users)[uu]
    slope = (0.15 + 0.9 * p[uu]) * np.array([1.4, 1.0, 0.4, 0.6])[traj[uu]]
    age = (e_day[m] - s0[uu]) / 90.0
    ratio = np.round(np.clip(ent_r0 + slope * age + rng.normal(0, 0.04, m.sum()), 0, 1.3), 3)
    parts.append(
        _ev(uu, "plan_usage_recorded", e_t[m], _feat(rng, cat.USAGE_METRICS, m.sum()), ratio)
    )

    # once-in-a-while events ----------------------------------------------------------------
    life_lo = join_t
    life_hi = np.maximum(end_day * DAY, join_t + 3600)
    recent = np.where(traj == 0, 0.5, 1.0)

    def when(mask: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
        u = rng.random(mask.sum())
        if bias is not None:
            u = u ** bias[mask]
        return (life_lo[mask] + u * (life_hi[mask] - life_lo[mask])).astype(np.int64)

    def rare(name: str, prob: np.ndarray, feats: list[str] | None = None, bias=None) -> None:
        mask = rng.random(nu) < prob
        who = np.flatnonzero(mask)
        f = _feat(rng, feats, len(who)) if feats else None
        parts.append(_ev(who, name, when(mask, bias), f))

    onboard = rng.random(nu) < 0.5 + 0.45 * p
    minutes = rng.lognormal(np.log(240.0) - 2.6 * p, 0.9)
    parts.append(
        _ev(
            np.flatnonzero(onboard),
            "onboarding_completed",
            (join_t + minutes * 60).astype(np.int64)[onboard],
        )
    )
    for _ in range(3):
        rare("integration_connected", 0.04 + 0.3 * p, cat.INTEGRATIONS)
    rare("setup_abandoned", np.full(nu, 0.12), cat.INTEGRATIONS)
    rare("contact_sales_clicked", 0.01 + 0.18 * p * (size >= 1), bias=recent)
    ent_prob = np.array([0.02, 0.05, 0.1])[size] + np.array([0.0, 0.25, 0.5])[size] * p
    for _ in range(2):
        rare("enterprise_feature_viewed", ent_prob, cat.ENTERPRISE_FEATURES, bias=recent)
    rare("billing_question", 0.02 + 0.25 * p, cat.BILLING_TOPICS, bias=recent)
    rare("support_ticket_opened", 0.15 + 0.25 * (1 - p), cat.SUPPORT_TOPICS)
    rare("support_ticket_opened", 0.1 * np.ones(nu), cat.SUPPORT_TOPICS)
    rare("workspace_created", np.where(ordinal == 0, 1.0, 0.04 + 0.08 * size))
    # upgrade flow: started, then abandoned or completed
    up = rng.random(nu) < (0.03 + 0.35 * p) * np.where(role == 0, 1.0, 0.3)
    up_t = when(up, recent)
    parts.append(_ev(np.flatnonzero(up), "upgrade_started", up_t))
    aband = rng.random(up.sum()) < 0.55
    parts.append(_ev(np.flatnonzero(up)[aband], "checkout_abandoned", up_t[aband] + 600))
    parts.append(_ev(np.flatnonzero(up)[~aband], "plan_upgraded", up_t[~aband] + 900))
    # invites: each later user was invited by the account's first user and accepted
    later = np.flatnonzero(ordinal > 0)
    inviter = later - ordinal[later]
    inv_t = np.maximum(join_t[later] - rng.integers(600, 2 * DAY, len(later)), join_t[inviter])
    parts.append(_ev(inviter, "teammate_invited", inv_t))
    parts.append(_ev(later, "invite_accepted", join_t[later] + 60))
    pending = rng.poisson(0.4 * p)
    who = np.repeat(np.arange(nu), pending)
    parts.append(
        _ev(who, "teammate_invited", when(np.ones(nu, bool))[np.repeat(np.arange(nu), pending)])
    )

    events = _event_table(parts, start, event_offset, user_offset, spec.end)
    return users, events


def _feat(rng: np.random.Generator, names: list[str], n: int) -> np.ndarray:
    codes = np.array([cat.FEATURE_CODE[x] for x in names])
    return codes[rng.integers(0, len(codes), n)]


def _ev(
    users: np.ndarray,
    name: str,
    t: np.ndarray,
    feature: np.ndarray | None = None,
    value: np.ndarray | None = None,
) -> tuple:
    return users, np.full(len(users), cat.EVENT_CODE[name]), t, feature, value


def _event_table(
    parts: list[tuple], start: datetime, event_offset: int, user_offset: int, end: datetime
) -> pd.DataFrame:
    users = np.concatenate([x[0] for x in parts])
    codes = np.concatenate([x[1] for x in parts])
    secs = np.concatenate([x[2] for x in parts]).astype(np.int64)
    feats = np.concatenate(
        [x[3] if x[3] is not None else np.full(len(x[0]), -1) for x in parts]
    ).astype(np.int64)
    vals = np.concatenate(
        [x[4] if x[4] is not None else np.full(len(x[0]), np.nan) for x in parts]
    ).astype(float)
    horizon = int((pd.Timestamp(end) - pd.Timestamp(start)).total_seconds())
    keep = secs < horizon
    users, codes, secs, feats, vals = users[keep], codes[keep], secs[keep], feats[keep], vals[keep]
    order = np.argsort(secs, kind="stable")
    users, codes, secs, feats, vals = (
        users[order], codes[order], secs[order], feats[order], vals[order]
    )  # fmt: skip
    n = len(users)
    base = np.datetime64(pd.Timestamp(start).to_datetime64(), "s")
    return pd.DataFrame(
        {
            "event_id": np.arange(event_offset, event_offset + n, dtype=np.int64),
            "user_id": pd.Categorical.from_codes(
                users,
                categories=[_uid(i) for i in range(user_offset, user_offset + users.max() + 1)],
            )
            if n
            else pd.Categorical([]),
            "event_name": pd.Categorical.from_codes(codes, categories=cat.EVENT_NAMES),
            "occurred_at": base + secs.astype("timedelta64[s]"),
            "feature": pd.Categorical.from_codes(feats, categories=cat.FEATURE_VALUES),
            "value": vals,
        }
    )


def _uid(i: int) -> str:
    return f"u{i:08d}"


def _user_table(
    rng: np.random.Generator,
    ents: dict,
    ue: np.ndarray,
    ordinal: np.ndarray,
    role: np.ndarray,
    dept: np.ndarray,
    is_exec: np.ndarray,
    join_t: np.ndarray,
    start: datetime,
    user_offset: int,
) -> pd.DataFrame:
    nu = len(ue)
    first = rng.integers(0, len(cat.FIRST_NAMES), nu)
    last = rng.integers(0, len(cat.LAST_NAMES), nu)
    n_acc = len(ents["domain"])
    free = rng.integers(0, len(cat.FREEMAIL), nu)
    shout = rng.random(nu) < 0.02  # mixed-case addresses, as real signups have
    regional = rng.random(nu) < 0.03  # eu.acme.com: one company, a regional mail host
    emails, names, titles = [], [], []
    for i in range(nu):
        fn, ln = cat.FIRST_NAMES[first[i]], cat.LAST_NAMES[last[i]]
        uid = user_offset + i
        if ents["freemail"][ue[i]]:
            email = f"{fn}.{ln}{uid % 997}@{cat.FREEMAIL[free[i]]}"
        else:
            domain = ents["domain"][ue[i]] if ue[i] < n_acc else "example.com"
            if regional[i] and ordinal[i] > 0:
                domain = f"{('eu', 'us', 'mail')[int(first[i]) % 3]}.{domain}"
            email = f"{fn}.{ln}{ordinal[i] if ordinal[i] else ''}@{domain}"
        if shout[i]:
            local, _, dom = email.partition("@")
            email = f"{local.title()}@{dom.upper()}"
        emails.append(email)
        names.append(f"{fn.title()} {ln.title()}")
        d = cat.DEPARTMENTS[dept[i]]
        pool = cat.EXEC_TITLES[d] if is_exec[i] else cat.IC_TITLES[d]
        titles.append(pool[(first[i] + last[i]) % len(pool)])
    return pd.DataFrame(
        {
            "user_id": [_uid(user_offset + i) for i in range(nu)],
            "email": emails,
            "name": names,
            "title": titles,
            "role": np.array(["admin", "member", "viewer"])[role],
            "department": np.array(cat.DEPARTMENTS)[dept],
            "created_at": pd.Timestamp(start) + pd.to_timedelta(join_t, unit="s"),
        }
    )
