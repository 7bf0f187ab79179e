"""Firmographic enrichment: company domains, providers, the firmographics cache, ICP fit."""

from handoff.enrich.accounts import account_fit, domains_to_enrich
from handoff.enrich.cache import (
    FIRMOGRAPHICS_DDL,
    FIRMOGRAPHICS_TABLE,
    EnrichSummary,
    enrich,
    read_firmographics,
)
from handoff.enrich.config import EnrichmentConfig, build_provider, load_enrichment
from handoff.enrich.domains import normalize_domain, normalize_domains
from handoff.enrich.errors import EnrichmentError, FirmographicsFileError, ProviderAuthError
from handoff.enrich.icp import FIT_COLUMNS, IcpConfig, fit, load_icp, size_band
from handoff.enrich.providers import (
    LOOKUP_COLUMNS,
    CsvProvider,
    FirmographicsProvider,
    HttpProvider,
    TableProvider,
)

__all__ = [
    "FIRMOGRAPHICS_DDL",
    "FIRMOGRAPHICS_TABLE",
    "FIT_COLUMNS",
    "LOOKUP_COLUMNS",
    "CsvProvider",
    "EnrichSummary",
    "EnrichmentConfig",
    "EnrichmentError",
    "FirmographicsFileError",
    "FirmographicsProvider",
    "HttpProvider",
    "IcpConfig",
    "ProviderAuthError",
    "TableProvider",
    "account_fit",
    "build_provider",
    "domains_to_enrich",
    "enrich",
    "fit",
    "load_enrichment",
    "load_icp",
    "normalize_domain",
    "normalize_domains",
    "read_firmographics",
    "size_band",
]
