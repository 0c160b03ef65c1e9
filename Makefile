# Every target installs what it needs into a project venv (.venv) first; nothing else is required.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp

.PHONY: serve test check lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,postgres]"
	@touch $(STAMP)

## serve: start tracktion on the embedded SQLite default (./tracktion-data); TRACKTION_* env vars apply
serve: $(STAMP)
	$(BIN)/tracktion serve

## test: lint, format check, type check, then the whole test suite
test: check
	$(BIN)/pytest

## check: ruff (lint + format check) and mypy
check: $(STAMP)
	$(BIN)/ruff check tracktion tests bench
	$(BIN)/ruff format --check tracktion tests bench
	$(BIN)/mypy

## format: apply ruff's fixes and formatting
format: $(STAMP)
	$(BIN)/ruff check --fix tracktion tests bench
	$(BIN)/ruff format tracktion tests bench

## bench: run the benchmark harness (results under bench/results/)
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
