"""Evaluate model conditions over a DataFrame of features, vectorised."""

from __future__ import annotations

import numpy as np
import pandas as pd

from handoff.config.model import Condition, ScoringModel


def evaluate(cond: Condition, df: pd.DataFrame, model: ScoringModel) -> np.ndarray:
    """Boolean mask of the rows where `cond` holds. NULL compares false, as in SQL."""
    if cond.ref is not None:
        return evaluate(model.conditions[cond.ref], df, model)
    if cond.all is not None:
        out = np.ones(len(df), dtype=bool)
        for child in cond.all:
            out &= evaluate(child, df, model)
        return out
    if cond.any is not None:
        out = np.zeros(len(df), dtype=bool)
        for child in cond.any:
            out |= evaluate(child, df, model)
        return out
    if cond.not_ is not None:
        return ~evaluate(cond.not_, df, model)
    assert cond.feature is not None
    col = df[cond.feature]
    op, value = cond.op
    present = col.notna().to_numpy()
    if op == "is_null":
        return ~present if value else present
    if op in ("in", "not_in"):
        hit = col.isin(value).to_numpy()
        return (hit if op == "in" else ~hit) & present
    if op in ("eq", "ne"):
        hit = (col == value).fillna(False).to_numpy(dtype=bool)
        return (hit if op == "eq" else ~hit) & present
    num = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        if op == "gt":
            out = num > value
        elif op == "gte":
            out = num >= value
        elif op == "lt":
            out = num < value
        elif op == "lte":
            out = num <= value
        else:  # between, inclusive
            lo, hi = value
            out = (num >= lo) & (num <= hi)
    return out & ~np.isnan(num)
