"""The Salesforce half of the CRM sandbox: REST sObjects, sObject Collections, SOQL, Bulk API
2.0 ingest, Tooling API custom fields and org limits, as the unmodified simple-salesforce
client uses them."""

from crm_sandbox.salesforce.api import CURRENT_VERSION, VERSIONS, SalesforceApi

__all__ = ["CURRENT_VERSION", "VERSIONS", "SalesforceApi"]
