"""The design matrix of a calibration: one column per signal, evaluated with the engine.

A signal's column is its weight in today's score: 1 when it fires and counts, times its decay
factor at the row's time, 0 in a ladder group when a stronger rung counts instead (the
engine's own signal_points, divided by the signal's points). The current score of a row is
then exactly the design times the current points, and a logistic regression over the design
gives coefficients that map onto points. `fired` keeps the plain indicator (condition
holds, no decay, no ladder) for per-signal lift.

For accounts (PQA) a user-level signal's column is the sum over the account's users (the max
when pqa.user_aggregate is max, an approximation of the engine's max of category sums).

Leakage: a signal is left out of the fit, with the reason recorded, when it reads an
outcome column, or a time column holding a time after the row's as_of (evidence from the
future). Features of the warehouse path come only from the feature slice at the row's
as_of (handoff.calibration.dataset).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from handoff.config.model import ScoringModel, Signal
from handoff.outcomes.metrics import MissingColumnsError, require_columns
from handoff.outcomes.schema import HANDOFF_OUTCOME_COLUMNS
from handoff.scoring.conditions import evaluate
from handoff.scoring.engine import FIRMOGRAPHIC, check_features, signal_points

# outcome columns of the contract: never a feature
OUTCOME_COLUMNS = frozenset(
    list(HANDOFF_OUTCOME_COLUMNS)[list(HANDOFF_OUTCOME_COLUMNS).index("disposition") :]
)


@dataclass
class Design:
    X: pd.DataFrame  # rows x signal ids: weight of the signal in today's score
    fired: pd.DataFrame  # rows x signal ids: the condition holds (0/1)
    y: np.ndarray  # 0/1 label
    time: pd.Series  # the row's as_of (split key)
    signals: list[Signal]  # the signals of the columns, in order
    tier: pd.Series | None = None  # today's tier / status, for lift by tier
    key: pd.Series | None = None  # entity id, for reading the rows back
    excluded: dict[str, str] = field(default_factory=dict)  # signal id -> why not fitted
    entity: str = "account"

    @property
    def current_points(self) -> np.ndarray:
        return np.array([float(s.points) for s in self.signals])

    def score(self, points: np.ndarray | None = None) -> np.ndarray:
        pts = self.current_points if points is None else points
        return self.X.to_numpy(dtype=float) @ pts if len(self.signals) else np.zeros(len(self.X))

    def subset(self, mask: np.ndarray) -> Design:
        idx = np.flatnonzero(mask)
        return Design(
            X=self.X.iloc[idx].reset_index(drop=True),
            fired=self.fired.iloc[idx].reset_index(drop=True),
            y=self.y[idx],
            time=self.time.iloc[idx].reset_index(drop=True),
            signals=self.signals,
            tier=None if self.tier is None else self.tier.iloc[idx].reset_index(drop=True),
            key=None if self.key is None else self.key.iloc[idx].reset_index(drop=True),
            excluded=self.excluded,
            entity=self.entity,
        )

    def __len__(self) -> int:
        return len(self.y)


def entity_signals(model: ScoringModel, entity: str) -> list[Signal]:
    """The signals that count in a score: PQA all of them (minus excluded user categories),
    PQL the user's own plus the account categories it inherits."""
    if entity == "account":
        skip = set(model.pqa.exclude_user_categories)
        return [s for s in model.signals if s.level == "account" or s.category not in skip]
    if entity == "user":
        inherit = set(model.pql.include_account_categories)
        return [s for s in model.signals if s.level == "user" or s.category in inherit]
    raise ValueError(f"entity must be 'account' or 'user', not {entity!r}")


def signal_columns(sig: Signal, model: ScoringModel) -> set[str]:
    """Columns a signal reads to fire and to decay (the evidence value is display only)."""
    cols = set(model.features_of(sig.when))
    if sig.decay is not None and sig.evidence is not None and sig.evidence.at:
        cols.add(sig.evidence.at)
    return cols


def leaky_signals(
    frame: pd.DataFrame,
    signals: list[Signal],
    model: ScoringModel,
    times: pd.Series,
    forbidden: set[str] | frozenset[str],
) -> dict[str, str]:
    """Signals that would use information from after the row's time: they read an outcome
    column, or a time column (conditions and evidence.at) with a value after the row's time."""
    out: dict[str, str] = {}
    t = pd.to_datetime(times).to_numpy()
    for sig in signals:
        cols = set(model.features_of(sig.when))
        if sig.evidence is not None and sig.evidence.at:
            cols.add(sig.evidence.at)
        bad = sorted(cols & set(forbidden))
        if bad:
            out[sig.id] = f"reads outcome column(s) {', '.join(bad)}"
            continue
        for col in sorted(cols):
            if col not in frame.columns or not pd.api.types.is_datetime64_any_dtype(frame[col]):
                continue
            values = pd.to_datetime(frame[col]).to_numpy()
            with np.errstate(invalid="ignore"):
                after = int((~pd.isna(values) & (values > t)).sum())
            if after:
                out[sig.id] = (
                    f"column {col} holds a time after the row's as_of in {after} row(s): "
                    "information from after the score time"
                )
                break
    return out


def _weights(points: pd.DataFrame, signals: list[Signal], fired: pd.DataFrame) -> pd.DataFrame:
    cols = {}
    for sig in signals:
        if sig.points:
            cols[sig.id] = points[sig.id].to_numpy(dtype=float) / float(sig.points)
        else:  # a zero-point signal: its plain indicator
            cols[sig.id] = fired[sig.id].to_numpy(dtype=float)
    return pd.DataFrame(cols, index=points.index, columns=[s.id for s in signals])


def _fired(frame: pd.DataFrame, signals: list[Signal], model: ScoringModel) -> pd.DataFrame:
    return pd.DataFrame(
        {s.id: evaluate(s.when, frame, model).astype(float) for s in signals},
        index=frame.index,
        columns=[s.id for s in signals],
    )


def table_design(
    df: pd.DataFrame,
    model: ScoringModel,
    target_col: str,
    time_col: str,
    entity: str = "account",
    tier_col: str | None = None,
    exclude_cols: tuple[str, ...] | list[str] = (),
    table: str = "table",
) -> Design:
    """Design of a table whose columns hold the features the model's signals read, an
    outcome column (0/1) and a time column (when the features were taken)."""
    require_columns(df, [target_col, time_col] + ([tier_col] if tier_col else []), table)
    frame = df.reset_index(drop=True)
    times = pd.to_datetime(frame[time_col])
    if times.isna().any():
        raise ValueError(f"{table}: column {time_col} has {int(times.isna().sum())} NULL time(s)")
    y_raw = frame[target_col]
    if y_raw.isna().any():
        raise ValueError(
            f"{table}: column {target_col} has {int(y_raw.isna().sum())} NULL label(s); "
            "drop the rows whose outcome is not observed yet"
        )
    y = y_raw.astype(float).to_numpy()
    if not np.isin(y, [0.0, 1.0]).all():
        raise ValueError(f"{table}: column {target_col} must hold 0/1 (or booleans)")
    signals = entity_signals(model, entity)
    excluded: dict[str, str] = {}
    for sig in signals:
        missing = sorted(signal_columns(sig, model) - set(frame.columns))
        if not missing:
            continue
        if sig.category == FIRMOGRAPHIC:
            excluded[sig.id] = f"firmographic column(s) {', '.join(missing)} not in the table"
        else:
            raise MissingColumnsError(f"{table} (signal {sig.id})", missing, list(frame.columns))
    forbidden = set(OUTCOME_COLUMNS) | {target_col} | set(exclude_cols)
    active = [s for s in signals if s.id not in excluded]
    excluded.update(leaky_signals(frame, active, model, times, forbidden))
    active = [s for s in active if s.id not in excluded]
    fired = _fired(frame, active, model)
    parts = []
    for t, idx in frame.groupby(times, sort=False).groups.items():
        sub = frame.loc[idx]
        pts = signal_points(sub, active, model, pd.Timestamp(t).to_pydatetime()).points
        parts.append(_weights(pts, active, fired.loc[idx]))
    X = (
        pd.concat(parts).sort_index()
        if parts
        else pd.DataFrame(columns=[s.id for s in active], dtype=float)
    )
    return Design(
        X=X.reset_index(drop=True),
        fired=fired.reset_index(drop=True),
        y=y.astype(int),
        time=times,
        signals=active,
        tier=None if tier_col is None else frame[tier_col].astype(object).reset_index(drop=True),
        excluded=excluded,
        entity=entity,
    )


def features_design(
    users: pd.DataFrame,
    accounts: pd.DataFrame,
    model: ScoringModel,
    as_of: pd.Timestamp,
    entity: str = "account",
    where: str = "model",
) -> tuple[pd.DataFrame, pd.DataFrame, list[Signal], dict[str, str]]:
    """(X, fired, signals, excluded) of one feature slice, indexed by account_domain (entity
    account) or user_id (entity user), from the engine's own evaluation."""
    users = users.reset_index(drop=True)
    accounts = accounts.reset_index(drop=True)
    skipped, null_cols = check_features(model, set(users.columns), set(accounts.columns), where)
    accounts = accounts.assign(**{c: None for c in sorted(null_cols)})
    excluded = {s: "firmographic column not in account_features" for s in skipped}
    signals = [s for s in entity_signals(model, entity) if s.id not in excluded]
    times_u = pd.Series([as_of] * len(users))
    times_a = pd.Series([as_of] * len(accounts))
    u_sigs = [s for s in signals if s.level == "user"]
    a_sigs = [s for s in signals if s.level == "account"]
    excluded.update(leaky_signals(users, u_sigs, model, times_u, OUTCOME_COLUMNS))
    excluded.update(leaky_signals(accounts, a_sigs, model, times_a, OUTCOME_COLUMNS))
    signals = [s for s in signals if s.id not in excluded]
    u_sigs = [s for s in signals if s.level == "user"]
    a_sigs = [s for s in signals if s.level == "account"]
    at = pd.Timestamp(as_of).to_pydatetime()
    u_fired = _fired(users, u_sigs, model)
    a_fired = _fired(accounts, a_sigs, model)
    u_x = _weights(signal_points(users, u_sigs, model, at).points, u_sigs, u_fired)
    a_x = _weights(signal_points(accounts, a_sigs, model, at).points, a_sigs, a_fired)
    cols = [s.id for s in signals]
    if entity == "account":
        index = accounts["account_domain"].astype(str).to_numpy()
        dom = users["account_domain"]
        has = dom.notna().to_numpy()
        how = model.pqa.user_aggregate
        ux = u_x[has].groupby(dom[has].astype(str).to_numpy()).agg(how)
        uf = u_fired[has].groupby(dom[has].astype(str).to_numpy()).max()
        X = pd.concat([a_x.set_axis(index), ux.reindex(index).fillna(0.0)], axis=1)
        fired = pd.concat([a_fired.set_axis(index), uf.reindex(index).fillna(0.0)], axis=1)
    else:
        index = users["user_id"].astype(str).to_numpy()
        dom = users["account_domain"].astype(object).where(users["account_domain"].notna(), None)
        a_index = accounts["account_domain"].astype(str).to_numpy()
        ax = a_x.set_axis(a_index).reindex(dom.to_numpy()).fillna(0.0)
        af = a_fired.set_axis(a_index).reindex(dom.to_numpy()).fillna(0.0)
        X = pd.concat([u_x.set_axis(index), ax.set_axis(index)], axis=1)
        fired = pd.concat([u_fired.set_axis(index), af.set_axis(index)], axis=1)
    return X[cols].astype(float), fired[cols].astype(float), signals, excluded
