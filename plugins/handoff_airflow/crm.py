"""CRM destinations from Airflow connections: `hubspot_default` and `salesforce_default`.

HubSpot has no Airflow provider: the connection (conn_type http) carries the API host, the
private-app token as password and extras ca_bundle / requests_per_10s. Salesforce goes
through the provider's SalesforceHook, so every login it supports (username/password with
security token, JWT, session id) works; without a login, the password is used as the
session id / OAuth access token. extra.ca_bundle pins the CA for both.
"""

from __future__ import annotations

import logging
import os

from airflow.providers.salesforce.hooks.salesforce import SalesforceHook
from airflow.sdk import BaseHook, Param

from handoff.crm.base import Destination
from handoff.crm.connect import (
    DEFAULT_CONN_IDS,
    ConnectionFields,
    hubspot_destination,
    salesforce_options,
    salesforce_session,
)
from handoff.crm.salesforce import SalesforceDestination
from handoff.sync.mapping import CrmMapping

log = logging.getLogger(__name__)


def crm_params() -> dict[str, Param]:
    """The DAG params naming the CRM and its connection (handoff_sync, handoff_outcomes)."""
    return {
        "crm": Param(
            os.environ.get("HANDOFF_CRM", "hubspot"), type="string", enum=["hubspot", "salesforce"]
        ),
        "conn_id": Param(
            "", type="string", description="default: hubspot_default / salesforce_default"
        ),
    }


def connection_fields(conn_id: str) -> ConnectionFields:
    conn = BaseHook.get_connection(conn_id)
    return ConnectionFields(
        conn_id=conn_id,
        host=conn.host,
        login=conn.login,
        password=conn.password,
        extra=conn.extra_dejson,
    )


def crm_destination(crm: str, mapping: CrmMapping, conn_id: str | None = None) -> Destination:
    conn_id = conn_id or DEFAULT_CONN_IDS[crm]
    fields = connection_fields(conn_id)
    key = mapping.account.key(crm).name(crm) or ""  # type: ignore[arg-type]
    log.info("CRM %s from connection %s (host %s)", crm, conn_id, fields.host or "default")
    if crm == "hubspot":
        return hubspot_destination(fields, company_key_field=key)
    if crm != "salesforce":
        raise ValueError(f"unknown CRM {crm!r}: expected hubspot or salesforce")
    hook = SalesforceHook(
        salesforce_conn_id=conn_id,
        session_id=None if fields.login else fields.password,
        session=salesforce_session(fields),
    )
    return SalesforceDestination(hook.get_conn(), **salesforce_options(fields, key))
