"""docker-compose.yml and the Dockerfile, checked without a Docker engine."""

from __future__ import annotations

import re

import yaml

from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}


def pinned(package: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.lower() == package:
            return version
    raise AssertionError(f"{package} is not pinned in requirements.txt")


def test_compose_has_the_scale_out_stack() -> None:
    assert set(COMPOSE["services"]) == AIRFLOW_SERVICES | {"postgres", "redis"}
    for name in ("postgres", "redis"):
        assert "healthcheck" in COMPOSE["services"][name]


def test_airflow_services_share_the_celery_configuration() -> None:
    for name in AIRFLOW_SERVICES:
        svc = COMPOSE["services"][name]
        env = svc["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://"), name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql"), name
        # workers reach task state through the API server's execution API
        api = env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
        assert api == "http://airflow-apiserver:8080/execution/", name
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/handoff/dags"
        assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/opt/handoff/plugins"
        assert svc["build"] == "."
        assert "handoff-data:/opt/handoff/data" in svc["volumes"]


def test_services_run_the_right_commands() -> None:
    s = COMPOSE["services"]
    assert s["airflow-apiserver"]["command"] == "api-server"
    assert s["airflow-scheduler"]["command"] == "scheduler"
    assert s["airflow-dag-processor"]["command"] == "dag-processor"
    assert s["airflow-triggerer"]["command"] == "triggerer"
    assert s["airflow-worker"]["command"] == "celery worker"
    assert "airflow db migrate" in s["airflow-init"]["command"][1]
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        cond = s[name]["depends_on"]["airflow-init"]["condition"]
        assert cond == "service_completed_successfully"


def test_no_secret_is_hard_coded() -> None:
    env = COMPOSE["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__FERNET_KEY"].startswith("${")
    assert env["AIRFLOW_CONN_HANDOFF_WAREHOUSE"].startswith("${HANDOFF_WAREHOUSE_CONN:-")


def test_dockerfile_matches_the_pins() -> None:
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM apache/airflow:(\S+)-python(\S+)$", text, re.M)
    assert base is not None
    assert base.group(1) == pinned("apache-airflow")
    assert base.group(2) == "3.11"
    assert f'"apache-airflow=={pinned("apache-airflow")}"' in text
    assert "-r /opt/handoff/requirements.txt" in text
    for path in ("include", "dags", "plugins"):
        assert f"COPY --chown=airflow:root {path} /opt/handoff/{path}" in text
    # the celery extra the stack needs is pinned
    assert pinned("apache-airflow-providers-celery")
