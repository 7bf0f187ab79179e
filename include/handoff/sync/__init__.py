"""Sync: the latest snapshot to the CRM, only what changed, exactly once in effect."""
