"""The feedback report: a static, self-contained HTML page with embedded PNG charts."""

from handoff.report.html import render_report, write_report

__all__ = ["render_report", "write_report"]
