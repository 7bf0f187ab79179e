"""HubSpot CRM v3 emulation (objects, batch, search, properties, associations v4, owners,
pipelines, rate limits)."""

from crm_sandbox.hubspot.api import HubSpotApi

__all__ = ["HubSpotApi"]
