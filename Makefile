# Every target installs what it needs into a project venv (.venv) first; nothing else is required.
# `serve` installs the runtime only; `test`, `check`, `format` and `bench` add the dev tools (and the
# PostgreSQL driver the test suite needs). A stamp per set of extras records what is installed, so
# `make serve` after `make test` installs nothing and `make test` after `make serve` adds only the rest.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# With TRACKTION_DATABASE_URL set, `make serve` runs on PostgreSQL and so needs the `postgres` extra too.
SERVE_EXTRAS = $(if $(TRACKTION_DATABASE_URL),[postgres])
SERVE_STAMP  = $(VENV)/.installed-runtime$(if $(SERVE_EXTRAS),-postgres)
DEV_STAMP    = $(VENV)/.installed-dev

.PHONY: serve test check lint format bench wheel clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(SERVE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".$(SERVE_EXTRAS)"
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,postgres]"
	@touch $@

## serve: start tracktion on the embedded SQLite default (./tracktion-data); TRACKTION_* env vars apply
serve: $(SERVE_STAMP)
	$(BIN)/tracktion serve

## test: lint, format check, type check, then the whole test suite
test: check
	$(BIN)/pytest

## check: ruff (lint + format check) and mypy
check: $(DEV_STAMP)
	$(BIN)/ruff check tracktion tests bench
	$(BIN)/ruff format --check tracktion tests bench
	$(BIN)/mypy

## format: apply ruff's fixes and formatting
format: $(DEV_STAMP)
	$(BIN)/ruff check --fix tracktion tests bench
	$(BIN)/ruff format tracktion tests bench

## bench: run the benchmark harness (results under bench/results/)
bench: $(DEV_STAMP)
	$(BIN)/python -m bench

## wheel: build dist/tracktion-<version>-py3-none-any.whl (what the Dockerfile installs)
wheel: $(DEV_STAMP)
	$(BIN)/python -m build --wheel --outdir dist .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist
