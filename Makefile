# Frontline — two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= $(or $(FRONTLINE_PORT),8080)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run serve install frontend migrate demo test lint typecheck contracts pytest rasa rasa-train rasa-start rasa-stop bench clean fuzz

# The venv is rebuilt only when pyproject.toml changes; torch is pinned to its CPU build.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,st]'
	@touch $(STAMP)

install: $(STAMP)

# Front-end packages come from the npm registry (npm ci, the committed lock file); esbuild bundles them.
FRONTEND_SRC := $(shell find frontend/src -type f 2>/dev/null)
frontend/node_modules/.installed: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

frontend/dist/.built: frontend/node_modules/.installed frontend/build.mjs $(FRONTEND_SRC)
	cd frontend && npm run --silent build -- --quiet
	@touch $@

frontend: frontend/dist/.built

migrate: install
	$(BIN)/frontline db upgrade
	$(BIN)/frontline ticket backfill-durations

demo: migrate
	$(BIN)/frontline demo load

run: demo frontend
	FRONTLINE_PORT=$(PORT) $(BIN)/frontline serve

lint: install frontend/node_modules/.installed
	cd frontend && npm run --silent check
	$(BIN)/ruff check core nlu kb sla tickets records handoff notices portal reports bot standin tests bench migrations
	$(BIN)/ruff format --check core nlu kb sla tickets records handoff notices portal reports bot standin tests bench

typecheck: install
	$(BIN)/mypy

contracts: install
	$(BIN)/lint-imports

pytest: install frontend
	$(BIN)/pytest -q

test: lint typecheck contracts pytest

rasa:
	bash scripts/rasa.sh install
	bash scripts/rasa.sh train

rasa-start: rasa
	bash scripts/rasa.sh start

rasa-stop:
	bash scripts/rasa.sh stop

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache frontend/node_modules frontend/dist

# The fuzz pass: schemathesis (its own venv) against the OpenAPI document, signed in as admin; any 5xx fails.
FUZZ_VENV := .fuzz-venv
$(FUZZ_VENV)/.installed:
	@test -x $(FUZZ_VENV)/bin/python || $(PYTHON) -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/pip install -q "schemathesis==4.32.5"
	@touch $@

fuzz: install $(FUZZ_VENV)/.installed
	$(BIN)/python scripts/fuzz.py $(FUZZ_VENV)/bin/schemathesis $(FUZZ_ARGS)
