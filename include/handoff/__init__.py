"""Handoff: product usage to sales action. Pure Python; never imports airflow."""

__version__ = "0.1.0"
