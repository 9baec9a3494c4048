# w2t-bkin developer commands. Everything installs from scratch into .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_ROOT ?= demo-experiment

.PHONY: install demo test lint format bench clean browser-deps mediapipe-model docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test,all]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs/hooks
	$(BIN)/ruff format --check src tests benchmarks docs/hooks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

# The QC browser test drives Debian's chromium (never a downloaded browser): install it when
# running as root and it is missing; otherwise the test skips with a reason (fails when CI=true).
browser-deps:
	command -v chromium >/dev/null || (test "$$(id -u)" = 0 && apt-get update -qq && apt-get install -y -qq chromium) || true

# MediaPipe's pose model (.task bundle), built offline from the two models Apache-2.0 shipped in
# the registry's mediapipe 0.10.21 wheel, into ~/.cache/w2t-bkin/models (or $W2T_MODELS_DIR).
mediapipe-model: $(STAMP)
	$(BIN)/python -m pip download --quiet --no-deps --only-binary=:all: \
	  -d "$$($(BIN)/python -c 'from w2t_bkin.pose.estimators.mediapipe_bundle import wheels_cache_dir; print(wheels_cache_dir())')" \
	  mediapipe==0.10.21
	$(BIN)/w2t-bkin pose build-model

# The documentation site (mkdocs-material; reference pages generated from the code), offline.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: $(STAMP) lint browser-deps mediapipe-model docs
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/w2t-bkin demo $(DEMO_ROOT) --force

bench: $(STAMP) mediapipe-model
	$(BIN)/python -m benchmarks.run --output benchmarks/RESULTS.md

clean:
	rm -rf $(VENV) $(DEMO_ROOT) site .pytest_cache .mypy_cache .ruff_cache
