# Handoff: the two commands are `make demo` and `make test`. Both are safe to rerun.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | sha1sum | cut -c1-12)

# Local Airflow: SQLite metadata DB and the DAGs of this repository.
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN := sqlite:///$(CURDIR)/.airflow/airflow.db
export HANDOFF_HOME := $(CURDIR)/data
export PATH := $(CURDIR)/$(BIN):$(PATH)

SIZE ?= small
SANDBOX_PORT ?= 8443

.PHONY: install demo test lint format bench bench-sync sandbox ui clean

install: $(STAMP)

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: install
	$(BIN)/python scripts/demo.py --size $(SIZE)

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python bench/score.py

bench-sync: install
	$(BIN)/python bench/sync.py

sandbox: install
	$(BIN)/crm-sandbox --port $(SANDBOX_PORT) --state-file .sandbox/state.json

ui: install  ## the Airflow UI on http://localhost:8080 (scheduler, API server, ...), same DB as the demo
	$(BIN)/airflow standalone

clean:
	rm -rf .airflow data .sandbox .pytest_cache .ruff_cache
