"""Outcomes back from the CRM: pulls with watermarks, per-handoff outcomes, funnel metrics."""
