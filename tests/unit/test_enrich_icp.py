"""ICP fit tiers and size bands at their boundaries; the icp.yaml checks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from handoff.enrich.icp import FIT_COLUMNS, load_icp, size_band
from handoff.enrich.icp import fit as icp_fit
from handoff.errors import ConfigError

ICP = load_icp()


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["domain", "employees", "industry", "country", "status"])


@pytest.mark.parametrize(
    ("employees", "band"),
    [(1, "smb"), (49, "smb"), (50, "mid_market"), (499, "mid_market"), (500, "enterprise"),
     (20_000, "enterprise"), (0, None), (None, None)],
)  # fmt: skip
def test_size_bands_at_boundaries(employees: int | None, band: str | None) -> None:
    assert size_band(pd.Series([employees], dtype="Int64"), ICP).tolist() == [band]


@pytest.mark.parametrize(
    ("employees", "industry", "tier"),
    [
        (50, "SaaS", "A"),  # lower size bound is inside
        (5000, "Fintech", "A"),  # upper bound inside
        (49, "SaaS", "B"),  # industry only
        (5001, "E-commerce", "B"),
        (50, "Healthcare", "B"),  # size only
        (5000, None, "B"),
        (49, "Healthcare", "C"),
        (5001, "Retail", "C"),
        (None, "SaaS", "B"),  # industry known, size unknown
        (None, None, "unknown"),
    ],
)
def test_fit_tiers(employees: int | None, industry: str | None, tier: str) -> None:
    out = icp_fit(frame([("x.com", employees, industry, "US", "found")]), ICP)
    assert out["fit_tier"].tolist() == [tier]
    assert out["icp_match"].tolist() == [tier == "A"]


def test_not_found_is_unknown_whatever_the_values() -> None:
    out = icp_fit(
        frame([("x.com", 120, "SaaS", "US", "unknown"), ("y.com", 120, "SaaS", "US", None)]), ICP
    )
    assert out["fit_tier"].tolist() == ["unknown", "unknown"]
    assert not out["icp_match"].any()
    assert out["size_band"].tolist() == ["mid_market", "mid_market"]


def test_columns_added_and_input_untouched() -> None:
    df = frame([("x.com", 120, "SaaS", "US", "found")])
    out = icp_fit(df, ICP)
    assert list(out.columns) == list(df.columns) + FIT_COLUMNS
    assert list(df.columns) == ["domain", "employees", "industry", "country", "status"]


def test_without_status_column_values_decide() -> None:
    df = pd.DataFrame({"employees": [120, None], "industry": ["SaaS", None]})
    assert icp_fit(df, ICP)["fit_tier"].tolist() == ["A", "unknown"]


def test_industry_aliases_case_insensitive() -> None:
    out = icp_fit(frame([("x.com", 300, "Internet Software & Services", "US", "found"),
                         ("y.com", 300, "saas", "US", "found")]), ICP)  # fmt: skip
    assert out["fit_tier"].tolist() == ["A", "A"]
    assert out["industry"].tolist() == ["Internet Software & Services", "saas"]  # kept as given


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "icp.yaml"
    path.write_text(text)
    return path


BANDS = """
size_bands:
  - {name: smb, min_employees: 1, max_employees: 49}
  - {name: big, min_employees: 50}
size: {feature: employees, gte: 100}
industry: {feature: industry, in: [SaaS]}
"""


def test_country_restricts_a_to_b(tmp_path: Path) -> None:
    icp = load_icp(write(tmp_path, BANDS + "country: {feature: country, in: [US, GB]}\n"))
    out = icp_fit(frame([("a.com", 200, "SaaS", "GB", "found"), ("b.com", 200, "SaaS", "FR", "found"),
                         ("c.com", 200, "SaaS", None, "found")]), icp)  # fmt: skip
    assert out["fit_tier"].tolist() == ["A", "B", "B"]
    assert out["icp_country_match"].tolist() == [True, False, False]


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (BANDS.replace("min_employees: 50", "min_employees: 60"), "size_bands[1].min_employees", "contiguous"),
        (BANDS.replace("{name: big, min_employees: 50}", "{name: big, min_employees: 50, max_employees: 90}"),
         "size_bands", "open-ended"),
        (BANDS.replace("gte: 100", "gte: 100, lte: 3"), "size", "exactly one operator"),
        (BANDS + "colour: red\n", "colour", "unknown key"),
        (BANDS.replace("size: {feature: employees, gte: 100}", "size: {ref: big_co}"), "size", "unknown condition ref"),
    ],
)  # fmt: skip
def test_bad_icp_files_name_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_icp(path)
    assert str(path) in str(err.value)
    assert any(k == key and problem in msg for k, msg in err.value.problems), err.value.problems
