# Frontline — two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= $(or $(FRONTLINE_PORT),8080)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run serve install migrate demo test lint typecheck contracts pytest rasa rasa-train rasa-start rasa-stop bench clean

# The venv is rebuilt only when pyproject.toml changes; torch is pinned to its CPU build.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,st]'
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/frontline db upgrade

demo: migrate
	$(BIN)/frontline demo load

run: demo
	FRONTLINE_PORT=$(PORT) $(BIN)/frontline serve

lint: install
	$(BIN)/ruff check core nlu kb handoff bot tests bench migrations
	$(BIN)/ruff format --check core nlu kb handoff bot tests bench

typecheck: install
	$(BIN)/mypy

contracts: install
	$(BIN)/lint-imports

pytest: install
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
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
