"""Seed the sandbox's CRM users from a list of people (name, email): HubSpot owners and
Salesforce users, as live settings for `running_sandbox(**settings)` or `crm-sandbox`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def people_settings(people: Iterable[tuple[str, str]]) -> dict[str, Any]:
    owners, users = [], []
    for name, email in people:
        first, _, last = name.strip().rpartition(" ")
        first, last = (first or None), (last or name)
        owners.append({"firstName": first, "lastName": last, "email": email})
        users.append({"FirstName": first, "LastName": last, "Email": email, "Title": "Sales"})
    return {"hubspot_owners": owners, "salesforce_users": users}
