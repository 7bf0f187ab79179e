"""The simple-salesforce client the Salesforce contract tests share."""

from __future__ import annotations

import requests
from simple_salesforce import Salesforce

from crm_sandbox.server import SandboxServer


def client_session(sandbox: SandboxServer) -> requests.Session:
    session = requests.Session()
    session.verify = sandbox.ca_bundle
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override Session.verify
    session.trust_env = False
    # no idle keep-alive connections left behind when the session server stops
    session.headers["Connection"] = "close"
    return session


def salesforce(sandbox: SandboxServer) -> Salesforce:
    return Salesforce(
        instance_url=sandbox.base_url,
        session_id=sandbox.token,
        session=client_session(sandbox),
        version="62.0",
    )


def add_key_field(sf: Salesforce, obj: str = "Account", name: str = "Handoff_Key__c") -> dict:
    """Create the external-id text field upserts key on, through the Tooling API."""
    return sf.toolingexecute(
        "sobjects/CustomField",
        method="POST",
        data={
            "FullName": f"{obj}.{name}",
            "Metadata": {
                "label": "Handoff Key",
                "type": "Text",
                "length": 64,
                "externalId": True,
                "unique": True,
            },
        },
    )
