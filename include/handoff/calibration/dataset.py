"""The calibration dataset from the warehouse: scored rows joined to their later outcomes.

One row per scored entity of a handoff: score_history (entity_type account or user) at the
handoff's as_of and model version, joined to handoff_outcomes on (as_of, account_domain).
Label: the target (accepted, opportunity, won, self_serve, converted = won or self-serve)
happened at or after the score's as_of and within `horizon_days` of it. Late labels: a row
whose horizon is not fully observed yet (observed_until < as_of + horizon) is left out, not
counted as a negative. Features: only the feature slice taken at that as_of (events before
it); signals are evaluated by the engine, with the model being calibrated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from handoff.calibration.config import TARGETS
from handoff.calibration.design import Design, entity_signals, features_design
from handoff.config.model import ScoringModel
from handoff.features import ACCOUNT_FEATURES_TABLE, USER_FEATURES_TABLE
from handoff.outcomes.metrics import (
    MissingTableError,
    outcome_time,
    read_outcomes,
    require_columns,
)
from handoff.scoring.history import SCORE_HISTORY_TABLE
from handoff.warehouse import Warehouse, literal

log = logging.getLogger(__name__)

SCORE_COLUMNS = (
    "as_of",
    "model_version",
    "entity_type",
    "entity_id",
    "account_domain",
    "score",
    "status",
)


@dataclass(frozen=True)
class DatasetCounts:
    handoffs: int  # rows of handoff_outcomes
    population: int  # with a decision in the population
    unobserved: int  # left out: horizon not observed yet
    labelled: int  # handoffs with an observed label
    unscored: int  # labelled handoffs without a score_history row
    no_features: int  # scored rows whose feature slice is missing
    rows: int  # rows of the design


def target_time(outcomes: pd.DataFrame, target: str) -> pd.Series:
    """When each handoff reached the target (NaT if it did not)."""
    if target == "accepted":
        accepted = outcomes["disposition"] == "accepted"
        at = outcomes["disposition_at"].fillna(outcomes["handed_off_at"])
        return at.where(accepted)
    if target in ("opportunity", "won", "self_serve", "converted"):
        return outcome_time(outcomes, target)  # type: ignore[arg-type]
    raise ValueError(f"target must be one of {', '.join(TARGETS)}, not {target!r}")


def outcome_labels(
    outcomes: pd.DataFrame, target: str, horizon_days: int, decisions: list[str]
) -> tuple[pd.DataFrame, int, int]:
    """(labels per (as_of, account_domain, model_version), population, unobserved)."""
    pop = outcomes[outcomes["decision"].isin(decisions)].copy()
    start = pop["as_of"]
    end = start + pd.to_timedelta(horizon_days, unit="D")
    at = target_time(pop, target)
    pop["label"] = (at.notna() & (at >= start) & (at <= end)).astype(int)
    pop["observed"] = pop["observed_until"].notna() & (pop["observed_until"] >= end)
    unobserved = int((~pop["observed"]).sum())
    seen = pop[pop["observed"]]
    labels = (
        seen.groupby(["as_of", "account_domain"], dropna=False, sort=True)
        .agg(
            label=("label", "max"),
            model_version=("model_version", "first"),
            tier=("tier", "first"),
        )
        .reset_index()
    )
    return labels, len(pop), unobserved


def _in_list(values: list[object]) -> str:
    return "(" + ", ".join(literal(v) for v in values) + ")"


def _timestamps(values: pd.Series) -> list[object]:
    return [pd.Timestamp(v).to_pydatetime() for v in sorted(pd.to_datetime(values).unique())]


def read_scores(wh: Warehouse, entity: str, as_ofs: list[object]) -> pd.DataFrame:
    if not wh.has_table(SCORE_HISTORY_TABLE):
        raise MissingTableError(SCORE_HISTORY_TABLE, " (it is written by handoff score)")
    if not as_ofs:
        empty = pd.DataFrame(columns=list(SCORE_COLUMNS))
        empty["as_of"] = pd.to_datetime(empty["as_of"])
        return empty
    cols = wh.columns(SCORE_HISTORY_TABLE)
    require_columns(pd.DataFrame(columns=cols), SCORE_COLUMNS, SCORE_HISTORY_TABLE)
    df = wh.query(
        f"SELECT {', '.join(SCORE_COLUMNS)} FROM {SCORE_HISTORY_TABLE} "
        f"WHERE entity_type = {literal(entity)} AND as_of IN {_in_list(as_ofs)}"
    )
    df["as_of"] = pd.to_datetime(df["as_of"])
    return df


def _join_scores(labels: pd.DataFrame, scores: pd.DataFrame, model: ScoringModel) -> pd.DataFrame:
    """Each labelled handoff with the score rows of the version that made it (the model's
    own version, then any, when the outcome does not say which)."""
    labels = labels.assign(as_of=pd.to_datetime(labels["as_of"]))
    merged = labels.merge(
        scores.rename(columns={"model_version": "scored_version"}),
        on=["as_of", "account_domain"],
        how="inner",
    )
    wanted = merged["model_version"].fillna(model.model_version)
    merged["pref"] = np.where(
        merged["scored_version"] == wanted,
        0,
        np.where(merged["scored_version"] == model.model_version, 1, 2),
    )
    best = merged.groupby(["as_of", "account_domain"])["pref"].transform("min")
    merged = merged[merged["pref"] == best]
    best_version = merged.groupby(["as_of", "account_domain"])["scored_version"].transform("min")
    merged = merged[merged["scored_version"] == best_version]
    return merged.drop(columns=["pref"]).reset_index(drop=True)


def _feature_slice(wh: Warehouse, table: str, as_of: object, domains: list[str]) -> pd.DataFrame:
    return wh.query(
        f"SELECT * FROM {table} WHERE as_of = {literal(as_of)} "
        f"AND account_domain IN {_in_list(domains)}"
    )


def build_dataset(
    wh: Warehouse,
    model: ScoringModel,
    target: str = "won",
    horizon_days: int = 90,
    entity: str = "account",
    decisions: list[str] | None = None,
) -> tuple[Design, DatasetCounts]:
    """The labelled design of `model` over the handoffs with an observed horizon."""
    for table in (USER_FEATURES_TABLE, ACCOUNT_FEATURES_TABLE):
        if not wh.has_table(table):
            raise MissingTableError(table, " (it is written by handoff features / score)")
    outcomes = read_outcomes(wh)
    decisions = decisions or (["routed", "holdout"] if target == "self_serve" else ["routed"])
    labels, population, unobserved = outcome_labels(outcomes, target, horizon_days, decisions)
    scores = read_scores(wh, entity, _timestamps(labels["as_of"]))
    joined = _join_scores(labels, scores, model)
    scored_handoffs = joined[["as_of", "account_domain"]].drop_duplicates()
    unscored = len(labels) - len(scored_handoffs)
    key_col = "account_domain" if entity == "account" else "entity_id"
    parts_x, parts_f, rows, excluded = [], [], [], {}
    no_features = 0
    for as_of, group in joined.groupby("as_of", sort=True):
        domains = sorted(group["account_domain"].dropna().astype(str).unique())
        accounts = _feature_slice(wh, ACCOUNT_FEATURES_TABLE, as_of, domains)
        users = _feature_slice(wh, USER_FEATURES_TABLE, as_of, domains)
        if accounts.empty:
            no_features += len(group)
            log.warning("no feature slice as of %s: %d scored row(s) left out", as_of, len(group))
            continue
        X, fired, _, excl = features_design(
            users,
            accounts,
            model,
            pd.Timestamp(as_of),
            entity,
            where=f"calibration of {model.name}",
        )
        excluded.update(excl)
        keys = group[key_col].astype(str)
        present = keys.isin(X.index).to_numpy()
        no_features += int((~present).sum())
        group = group[present]
        keys = keys[present]
        parts_x.append(X.reindex(keys.to_numpy()).reset_index(drop=True))
        parts_f.append(fired.reindex(keys.to_numpy()).reset_index(drop=True))
        rows.append(group.reset_index(drop=True))
    signals = [s for s in entity_signals(model, entity) if s.id not in excluded]
    cols = [s.id for s in signals]
    if rows:
        table = pd.concat(rows, ignore_index=True)
        X = pd.concat(parts_x, ignore_index=True).reindex(columns=cols).fillna(0.0)
        fired = pd.concat(parts_f, ignore_index=True).reindex(columns=cols).fillna(0.0)
    else:
        table = pd.DataFrame(columns=["as_of", "label", "tier", "status", key_col])
        X = pd.DataFrame(columns=cols, dtype=float)
        fired = pd.DataFrame(columns=cols, dtype=float)
    tier = table["tier"] if entity == "account" else table["status"]
    design = Design(
        X=X,
        fired=fired,
        y=table["label"].to_numpy(dtype=int),
        time=pd.to_datetime(table["as_of"]).reset_index(drop=True),
        signals=signals,
        tier=tier.astype(object).reset_index(drop=True),
        key=table[key_col].astype(str).reset_index(drop=True),
        excluded=excluded,
        entity=entity,
    )
    counts = DatasetCounts(
        handoffs=len(outcomes),
        population=population,
        unobserved=unobserved,
        labelled=len(labels),
        unscored=unscored,
        no_features=no_features,
        rows=len(design),
    )
    return design, counts
