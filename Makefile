# Reef's commands. `make setup` once, then `make demo` or `make test`; see README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ENV ?= local
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CHECKPOINT_DISABLE := 1

.PHONY: setup synth validate lint typecheck test test-fast checkov demo demo-down clean

setup: $(VENV)/.installed node_modules/.installed .venv-checkov/.installed
	@# Graphviz draws `python main.py graph`; installed only where it is missing (Debian)
	@command -v dot >/dev/null || (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# checkov pins an older boto3 than Reef's runtime, so it lives in a virtual env of its own.
.venv-checkov/.installed: requirements-checkov.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet --upgrade pip
	.venv-checkov/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

validate: setup
	$(PY) main.py validate

synth: setup
	$(PY) main.py synth --env $(ENV)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

checkov: setup
	$(PY) main.py synth --env $(ENV)
	.venv-checkov/bin/checkov --config-file .checkov.yaml --directory cdktf.out/stacks

# Every check in one command: lint, types, then the whole test suite on both cores.
test: lint typecheck
	$(VENV)/bin/pytest -n 2 --dist loadgroup

test-fast: setup
	$(VENV)/bin/pytest -n 2 -m "not slow"

# The embedded default, end to end on this machine: the emulator and PostgreSQL, the local
# stacks deployed into the emulator, sample data, every runnable flow fired and run to idle.
# Exits non-zero when a flow failed. `make demo-down` stops what it started.
demo: setup
	$(PY) main.py local up
	$(PY) main.py deploy --env local
	$(PY) -m generator.local.demo

demo-down:
	$(PY) main.py local down

clean:
	rm -rf cdktf.out build .pytest_cache .mypy_cache .ruff_cache
