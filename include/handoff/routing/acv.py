"""Size band and expected ACV range of each account, from its seats, plan and size."""

from __future__ import annotations

import numpy as np
import pandas as pd

from handoff.routing.config import Acv


def size_bands(df: pd.DataFrame, acv: Acv) -> pd.Series:
    """The account's size band: enrichment's `size_band` when it names a configured band,
    else from `employees`; unknown size -> `acv.unknown_size_band`."""
    names = [b.name for b in acv.size_bands]
    employees = (
        pd.to_numeric(df["employees"], errors="coerce").astype("float64")
        if "employees" in df.columns
        else pd.Series(np.nan, index=df.index)
    )
    out = pd.Series(acv.unknown_size_band, index=df.index, dtype=object)
    known = employees.notna()
    # bands are ordered smallest first: assign from the largest down so the smallest wins
    for band in reversed(acv.size_bands):
        hit = known if band.max_employees is None else known & (employees <= band.max_employees)
        out[hit] = band.name
    if "size_band" in df.columns:
        given = df["size_band"].where(df["size_band"].isin(names))
        out = given.fillna(out).astype(object)
    return out


def expected_acv(df: pd.DataFrame, acv: Acv) -> pd.DataFrame:
    """Columns size_band, seats, expected_acv_low, expected_acv_high, expected_acv (midpoint).

    seats = the largest of `acv.seats_from` present (at least 1); the range is
    seats x the band's seat multipliers (capped at the employee count, never below the
    current seats) x the annual price per seat of the account's plan.
    """
    band = size_bands(df, acv)
    seat_cols = [c for c in acv.seats_from if c in df.columns]
    if seat_cols:
        seats = df[seat_cols].apply(pd.to_numeric, errors="coerce").astype("float64")
        seats = seats.max(axis=1).fillna(1.0)
    else:
        seats = pd.Series(1.0, index=df.index)
    seats = seats.clip(lower=1.0)
    mult = {b.name: b.seat_multiplier for b in acv.size_bands}
    lo = seats * band.map(lambda b: mult[b][0])
    hi = seats * band.map(lambda b: mult[b][1])
    if acv.cap_at_employees and "employees" in df.columns:
        cap = pd.to_numeric(df["employees"], errors="coerce").astype("float64").fillna(np.inf)
        cap = np.maximum(cap, seats)
        lo, hi = np.minimum(lo, cap), np.minimum(hi, cap)
    plan = df["plan"] if "plan" in df.columns else pd.Series(None, index=df.index)
    price = plan.map(lambda p: acv.price_per_seat.get(str(p), acv.price_per_seat["default"]))
    low = (lo * price.astype(float)).round(-2)
    high = (hi * price.astype(float)).round(-2)
    return pd.DataFrame(
        {
            "size_band": band,
            "seats": seats.astype(float),
            "expected_acv_low": low.astype(float),
            "expected_acv_high": high.astype(float),
            "expected_acv": ((low + high) / 2).astype(float),
        },
        index=df.index,
    )
