# w2t-bkin developer commands. Everything installs from scratch into .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_ROOT ?= demo-experiment

.PHONY: install demo test lint format bench clean browser-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test,all]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

# The QC browser test drives Debian's chromium (never a downloaded browser): install it when
# running as root and it is missing; otherwise the test skips with a reason (fails when CI=true).
browser-deps:
	command -v chromium >/dev/null || (test "$$(id -u)" = 0 && apt-get update -qq && apt-get install -y -qq chromium) || true

test: $(STAMP) lint browser-deps
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/w2t-bkin demo $(DEMO_ROOT) --force

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --output benchmarks/RESULTS.md

clean:
	rm -rf $(VENV) $(DEMO_ROOT) .pytest_cache .mypy_cache .ruff_cache
