"""Handoff's calibration reports inside the Airflow UI: a "Handoff reports" entry in the nav
opens the newest reports written by handoff_calibrate ($HANDOFF_HOME/reports), served by a
FastAPI app mounted at /handoff. Only signed-in Airflow users can read them."""

from __future__ import annotations

import html
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from airflow.api_fastapi.core_api.security import requires_authenticated
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

SERVED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*\.(html|json|yaml)$")


def reports_dir() -> Path:
    return Path(os.environ.get("HANDOFF_HOME", "data")) / "reports"


app = FastAPI(title="Handoff reports", dependencies=[Depends(requires_authenticated())])


@app.get("/reports/", response_class=HTMLResponse)
def index() -> str:
    files = [p for p in reports_dir().glob("*") if SERVED.match(p.name)]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    rows = "".join(
        f'<li><a href="{html.escape(p.name)}">{html.escape(p.name)}</a> '
        f"<small>{datetime.fromtimestamp(p.stat().st_mtime, UTC):%Y-%m-%d %H:%M} UTC</small></li>"
        for p in files
    )
    body = f"<ul>{rows}</ul>" if rows else "<p>No reports yet: handoff_calibrate writes them.</p>"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Handoff reports</title></head>"
        f"<body style='font-family: sans-serif'><h1>Handoff reports</h1>{body}</body></html>"
    )


@app.get("/reports/{name}")
def report(name: str) -> FileResponse:
    path = reports_dir() / name
    if not SERVED.match(name) or not path.is_file():
        raise HTTPException(404, f"no report named {name!r}")
    return FileResponse(path)


class HandoffReportsPlugin(AirflowPlugin):
    name = "handoff_reports"
    fastapi_apps = [{"app": app, "url_prefix": "/handoff", "name": "Handoff reports"}]
    external_views = [
        {
            "name": "Handoff reports",
            "href": "handoff/reports/",
            "destination": "nav",
            "url_route": "handoff_reports",
        }
    ]
