"""ICP fit: does a company match the ideal customer profile (include/config/icp.yaml)?

`fit(df, icp)` takes rows with employees, industry, country (and, if present, the
firmographics `status`) and adds:

- `size_band`: the band its head count falls in (seed 003: smb 1-49, mid_market 50-499,
  enterprise 500+), None when the head count is unknown;
- `icp_size_match`, `icp_industry_match`, `icp_country_match`: each part of the profile;
- `icp_match`: size and industry (and country, when the profile names countries) match;
- `fit_tier`: 'A' ICP match, 'B' partial (size or industry matches), 'C' neither,
  'unknown' when there are no firmographics (status not 'found', or neither head count
  nor industry known).

The profile's parts are the model language's conditions, so RevOps write them as they
write signals, e.g. `size: {feature: employees, between: [50, 5000]}`.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from handoff.config.loader import DEFAULT_CONFIG_DIR, load_yaml_model
from handoff.config.model import Condition, Strict
from handoff.scoring.conditions import evaluate

FIT_COLUMNS = [
    "size_band",
    "icp_size_match",
    "icp_industry_match",
    "icp_country_match",
    "icp_match",
    "fit_tier",
]


class SizeBand(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = ""
    min_employees: int = Field(ge=0)
    max_employees: int | None = None  # None: no upper bound

    @model_validator(mode="after")
    def _ordered(self) -> SizeBand:
        if self.max_employees is not None and self.max_employees < self.min_employees:
            raise ValueError("max_employees is below min_employees")
        return self


class IcpConfig(Strict):
    name: str = "icp"
    description: str = ""
    size_bands: list[SizeBand]
    size: Condition  # on employees
    industry: Condition  # on industry
    country: Condition | None = None  # on country; None: any country
    # provider industry names -> the names the conditions use (matched case-insensitively)
    industry_aliases: dict[str, str] = {}
    conditions: dict[str, Condition] = {}  # named conditions the parts may `ref`

    @model_validator(mode="after")
    def _consistent(self) -> IcpConfig:
        problems = []
        bands = self.size_bands
        if not bands:
            problems.append("size_bands: at least one band is needed")
        names = [b.name for b in bands]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"size_bands: duplicate band name '{dup}'")
        for i, (a, b) in enumerate(itertools.pairwise(bands)):
            if a.max_employees is None or b.min_employees != a.max_employees + 1:
                problems.append(
                    f"size_bands[{i + 1}].min_employees: bands must be in order and "
                    f"contiguous: expected {None if a.max_employees is None else a.max_employees + 1}"
                )
        if bands and bands[-1].max_employees is not None:
            problems.append("size_bands: the last band must be open-ended (no max_employees)")
        for key in ("size", "industry", "country"):
            cond = getattr(self, key)
            if cond is not None:
                for ref in cond.refs() - set(self.conditions):
                    problems.append(f"{key}: unknown condition ref '{ref}'")
        if problems:
            raise ValueError("\n".join(problems))
        return self


def load_icp(path: str | Path | None = None) -> IcpConfig:
    return load_yaml_model(path or DEFAULT_CONFIG_DIR / "icp.yaml", IcpConfig)


def size_band(employees: pd.Series, icp: IcpConfig) -> pd.Series:
    """The band name for each head count; None when unknown or below the first band."""
    num = pd.to_numeric(employees, errors="coerce").to_numpy(dtype=float)
    out = np.full(len(num), None, dtype=object)
    for band in icp.size_bands:
        hi = np.inf if band.max_employees is None else band.max_employees
        with np.errstate(invalid="ignore"):
            out[(num >= band.min_employees) & (num <= hi)] = band.name
    return pd.Series(out, index=employees.index, dtype=object)


def _canonical_industry(industry: pd.Series, icp: IcpConfig) -> pd.Series:
    if not icp.industry_aliases:
        return industry
    aliases = {k.strip().casefold(): v for k, v in icp.industry_aliases.items()}
    return industry.map(lambda v: aliases.get(v.strip().casefold(), v) if isinstance(v, str) else v)


def fit(df: pd.DataFrame, icp: IcpConfig) -> pd.DataFrame:
    """`df` with FIT_COLUMNS added (see the module doc). Reads employees, industry, country."""
    out = df.copy()
    for col in ("employees", "industry", "country"):
        if col not in out.columns:
            out[col] = None
    view = out.copy()
    view["industry"] = _canonical_industry(view["industry"], icp)
    size_ok = evaluate(icp.size, view, icp)
    industry_ok = evaluate(icp.industry, view, icp)
    country_ok = (
        np.ones(len(view), dtype=bool) if icp.country is None else evaluate(icp.country, view, icp)
    )
    known = np.array(out["employees"].notna() | out["industry"].notna(), dtype=bool)
    if "status" in out.columns:
        known &= np.array(out["status"] == "found", dtype=bool)
    match = size_ok & industry_ok & country_ok & known
    tier = np.select([match, size_ok | industry_ok], ["A", "B"], "C").astype(object)
    tier[~known] = "unknown"
    out["size_band"] = size_band(out["employees"], icp)
    out["icp_size_match"] = size_ok & known
    out["icp_industry_match"] = industry_ok & known
    out["icp_country_match"] = country_ok & known
    out["icp_match"] = match
    out["fit_tier"] = tier
    return out
