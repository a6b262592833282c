# Concession Monitor: every target sets itself up on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help install browser demo notebooks test lint bench clean

help:  ## list targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with its test and dev tools

# The report test renders evidence reports in Debian's headless Chromium. As root, install
# it; otherwise say how (the test is skipped outside CI when Chromium is absent).
browser:  ## install Debian's chromium for the report test (needs root)
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the report test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: chromium is not installed (sudo apt-get install chromium); the browser test will be skipped"; fi

demo: $(STAMP)  ## generate the synthetic portfolio and run the demo (no network, no credentials)
	$(BIN)/monitor demo --out demo-output

# JupyterLab is only for reading and editing the notebooks; the test suite runs them without it.
notebooks: $(STAMP)  ## open the notebooks in JupyterLab (installs it; makes the demo output first if missing)
	$(BIN)/python -m pip install --quiet -e '.[dev,notebooks]'
	@test -f demo-output/run.yaml || $(BIN)/monitor demo --out demo-output
	$(BIN)/jupyter lab notebooks

test: $(STAMP) browser  ## run the test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff + mypy
	$(BIN)/ruff check monitor pipelines tests benchmarks notebooks
	$(BIN)/mypy

bench: $(STAMP)  ## performance benchmarks (ratios to limits measured in the same run)
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.run

clean:  ## remove the virtualenv and generated output
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
