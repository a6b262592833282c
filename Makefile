# Concession Monitor: every target sets itself up on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help install demo test lint bench clean

help:  ## list targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with its test and dev tools

demo: $(STAMP)  ## generate the synthetic portfolio and run the demo (no network, no credentials)
	$(BIN)/monitor demo --out demo-output

test: $(STAMP)  ## run the test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff + mypy
	$(BIN)/ruff check monitor pipelines tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)  ## performance benchmarks (ratios to limits measured in the same run)
	$(BIN)/python -m benchmarks

clean:  ## remove the virtualenv and generated output
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
