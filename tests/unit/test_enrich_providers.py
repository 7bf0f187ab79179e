"""CSV provider (answers, malformed files), enrichment.yaml and the provider factory."""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff.enrich.config import build_provider, load_enrichment
from handoff.enrich.errors import EnrichmentError, FirmographicsFileError
from handoff.enrich.providers import LOOKUP_COLUMNS, CsvProvider, HttpProvider, RateLimiter
from handoff.errors import ConfigError

GOOD = """domain,name,employees,industry,country,annual_revenue,extra
acme.com,Acme,120,SaaS,US,"12,000,000",x
WWW.Globex.co.uk,Globex,4500,Fintech,GB,,y

initech.io,Initech,,,,,z
"""


def csv_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "firmo.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_found_and_unknown(tmp_path: Path) -> None:
    provider = CsvProvider(csv_file(tmp_path, GOOD))
    out = provider.lookup(["acme.com", "globex.co.uk", "initech.io", "nobody.com"])
    assert list(out.columns) == LOOKUP_COLUMNS
    assert out["domain"].tolist() == ["acme.com", "globex.co.uk", "initech.io", "nobody.com"]
    assert out["status"].tolist() == ["found", "found", "found", "unknown"]
    acme = out.iloc[0]
    assert (acme["name"], acme["employees"], acme["industry"], acme["country"]) == (
        "Acme", 120, "SaaS", "US")  # fmt: skip
    assert acme["annual_revenue"] == 12_000_000.0
    assert out["employees"].isna().tolist() == [False, False, True, True]
    assert out.iloc[3]["detail"] == "not in file"
    assert str(out["employees"].dtype) == "Int64"


def test_csv_only_domain_column(tmp_path: Path) -> None:
    out = CsvProvider(csv_file(tmp_path, "Domain\nacme.com\n")).lookup(["acme.com"])
    assert out["status"].tolist() == ["found"]
    assert out["employees"].isna().all()


@pytest.mark.parametrize(
    ("text", "line", "column", "problem"),
    [
        ("name,employees\nAcme,3\n", 1, "domain", "missing required column"),
        ("", 1, None, "empty"),
        ("domain,employees\nacme.com,12\nglobex.com,twelve\n", 3, "employees", "'twelve'"),
        ("domain,employees\nacme.com,12.5\n", 2, "employees", "non-negative int"),
        ("domain,employees\nacme.com,-4\n", 2, "employees", "non-negative"),
        ("domain,annual_revenue\nacme.com,lots\n", 2, "annual_revenue", "float"),
        ("domain,employees\nacme.com,1\nglobex.com,2,3\n", 3, None, "expected 2 fields, found 3"),
        ("domain,employees\nacme.com,1\nnot a domain,2\n", 3, "domain", "not a company domain"),
        ("domain\nacme.com\nb.com\nwww.ACME.com\n", 4, "domain", "already on line 2"),
        ('domain,name\nacme.com,"Acme\n', 2, None, "not valid CSV"),
        ("domain,domain\na.com,b.com\n", 1, "domain", "twice"),
    ],
)
def test_malformed_csv_names_file_line_column(
    tmp_path: Path, text: str, line: int, column: str | None, problem: str
) -> None:
    path = csv_file(tmp_path, text)
    with pytest.raises(FirmographicsFileError) as err:
        CsvProvider(path).lookup(["acme.com"])
    assert (err.value.line, err.value.column) == (line, column)
    assert problem in err.value.problem
    assert str(err.value).startswith(f"{path}, line {line}")


def test_missing_csv(tmp_path: Path) -> None:
    with pytest.raises(FirmographicsFileError, match="cannot read"):
        CsvProvider(tmp_path / "nope.csv").lookup(["acme.com"])


def test_default_config_and_csv_path_beside_base_dir(tmp_path: Path) -> None:
    cfg = load_enrichment()
    assert (cfg.provider, cfg.ttl_days) == ("csv", 30)
    provider = build_provider(cfg, base_dir=tmp_path)
    assert isinstance(provider, CsvProvider)
    assert provider.path == tmp_path / "firmographics.csv"


def test_bad_enrichment_yaml_names_key(tmp_path: Path) -> None:
    path = tmp_path / "enrichment.yaml"
    path.write_text("provider: ftp\nttl_days: -1\nhttp: {rate: 3}\n")
    with pytest.raises(ConfigError) as err:
        load_enrichment(path)
    keys = {k for k, _ in err.value.problems}
    assert {"provider", "ttl_days", "http.rate"} <= keys
    assert str(path) in str(err.value)


def test_http_provider_from_arguments_or_environment(tmp_path: Path) -> None:
    path = tmp_path / "enrichment.yaml"
    path.write_text("provider: http\nhttp: {requests_per_second: 2, max_retries: 1}\n")
    cfg = load_enrichment(path)
    env = {"HANDOFF_ENRICH_URL": "http://env.example", "HANDOFF_ENRICH_TOKEN": "env-token"}
    from_env = build_provider(cfg, environ=env)
    assert isinstance(from_env, HttpProvider)
    assert from_env.base_url == "http://env.example" and from_env.max_retries == 1
    assert "env-token" not in repr(from_env)
    from_args = build_provider(cfg, base_url="http://conn.example/", token="t", environ=env)
    assert isinstance(from_args, HttpProvider) and from_args.base_url == "http://conn.example"
    with pytest.raises(EnrichmentError, match="HANDOFF_ENRICH_TOKEN"):
        build_provider(cfg, environ={"HANDOFF_ENRICH_URL": "http://x"})
    with pytest.raises(EnrichmentError, match="HANDOFF_ENRICH_URL"):
        build_provider(cfg, environ={})


def test_table_provider_needs_a_warehouse(tmp_path: Path) -> None:
    path = tmp_path / "enrichment.yaml"
    path.write_text("provider: table\n")
    with pytest.raises(EnrichmentError, match="needs a warehouse"):
        build_provider(load_enrichment(path))


def test_rate_limiter_spaces_calls() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.wait()
    assert slept == pytest.approx([0.25, 0.25])
    now[0] += 10  # idle: no wait
    limiter.wait()
    assert len(slept) == 2
