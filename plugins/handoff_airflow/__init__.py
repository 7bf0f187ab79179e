"""Airflow glue for Handoff: hooks that turn Airflow connections into Handoff clients."""
