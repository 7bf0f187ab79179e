"""Build a CRM destination from the fields of a connection (an Airflow connection in DAGs;
the same JSON in an AIRFLOW_CONN_<ID> variable for the CLI). Nothing here is sandbox-only:
the sandbox is a CRM at another host with its own CA.

hubspot_default (conn_type http): password = private-app access token; host = API base URL
    (default https://api.hubapi.com); extra: ca_bundle, requests_per_10s.
salesforce_default (conn_type salesforce, the provider's): extra instance_url (and version);
    without a login, password = session id / OAuth access token; extra ca_bundle pins the CA;
    bulk_threshold (default 2000) switches upserts to Bulk API 2.0.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import requests

from handoff.crm.base import CrmError
from handoff.crm.hubspot import HubSpotDestination
from handoff.crm.salesforce import SalesforceDestination

DEFAULT_CONN_IDS = {"hubspot": "hubspot_default", "salesforce": "salesforce_default"}


@dataclass(frozen=True)
class ConnectionFields:
    conn_id: str
    host: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never show the secret
        return f"ConnectionFields(conn_id={self.conn_id!r}, host={self.host!r})"


def connection_from_env(conn_id: str) -> ConnectionFields:
    """An Airflow connection given as JSON in AIRFLOW_CONN_<CONN_ID> (Airflow's own format)."""
    var = "AIRFLOW_CONN_" + conn_id.upper()
    raw = os.environ.get(var)
    if not raw:
        raise CrmError(
            f"connection {conn_id!r} is not set: export {var} as JSON, e.g. "
            '\'{"conn_type": "http", "host": "https://api.hubapi.com", "password": "<token>"}\''
        )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CrmError(f"{var} is not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise CrmError(f"{var} must be a JSON object with conn_type, host, password, extra")
    extra = data.get("extra") or {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError:
            raise CrmError(f"{var}: extra is not valid JSON") from None
    return ConnectionFields(
        conn_id=conn_id,
        host=data.get("host"),
        login=data.get("login"),
        password=data.get("password"),
        extra=extra,
    )


def _int(conn: ConnectionFields, name: str) -> int | None:
    value = conn.extra.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CrmError(f"connection {conn.conn_id}: extra.{name} must be a whole number") from None


def hubspot_destination(conn: ConnectionFields, company_key_field: str) -> HubSpotDestination:
    if not conn.password:
        raise CrmError(f"connection {conn.conn_id}: the password must hold the access token")
    return HubSpotDestination(
        access_token=conn.password,
        host=conn.host or None,
        ca_bundle=conn.extra.get("ca_bundle") or None,
        requests_per_10s=_int(conn, "requests_per_10s"),
        company_key_field=company_key_field,
    )


def salesforce_session(conn: ConnectionFields) -> requests.Session:
    """The HTTP session for simple-salesforce: verifies with extra.ca_bundle when set, and
    ignores the environment (REQUESTS_CA_BUNDLE would otherwise override `verify`)."""
    session = requests.Session()
    session.trust_env = False
    if conn.extra.get("ca_bundle"):
        session.verify = conn.extra["ca_bundle"]
    return session


def salesforce_options(conn: ConnectionFields, account_key_field: str) -> dict[str, Any]:
    options: dict[str, Any] = {"account_key_field": account_key_field}
    if (threshold := _int(conn, "bulk_threshold")) is not None:
        options["bulk_threshold"] = threshold
    return options


def salesforce_destination(conn: ConnectionFields, account_key_field: str) -> SalesforceDestination:
    """Session-id (OAuth access token) auth; DAGs go through the provider's SalesforceHook,
    which also supports username/password and JWT (see handoff_airflow.crm)."""
    url = conn.extra.get("instance_url") or conn.host
    if not url or not conn.password:
        raise CrmError(
            f"connection {conn.conn_id}: needs extra.instance_url and the session id / access "
            "token as password (username/password login: use the Airflow connection in a DAG)"
        )
    from simple_salesforce import Salesforce

    sf = Salesforce(
        instance_url=url,
        session_id=conn.password,
        session=salesforce_session(conn),
        version=str(conn.extra.get("version") or "62.0"),
    )
    return SalesforceDestination(sf, **salesforce_options(conn, account_key_field))
