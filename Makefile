# engagement-impact: the two commands a user needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PANEL  := data/generated/panel.parquet
PORT   ?= 3000
# One-off breaks of the demo panel that `make run` tells the model of (app:quantity:first:last, comma
# separated; empty for none): WhatsApp's Updates-tab ads ramping its revenue in 2025.
KNOWN_BREAKS ?= whatsapp:ad_revenue_usd:2025-06-16:2025-12-08

.PHONY: help install dev services run data test test-slow bench bench-tools clean lock

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' Makefile | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "engagement-impact needs Python 3.11+, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: re-install only when the dependency files change.
$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install --quiet -c requirements.lock -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $@

install: $(VENV)/.installed  ## create .venv and install the project (pinned by requirements.lock)

dev: $(VENV)/.installed-dev  ## install with the test extras

$(PANEL): | $(VENV)/.installed
	$(BIN)/impact simulate --out data/generated

data: $(PANEL)  ## write the default simulated panel if it is missing

run: install data  ## install, make the default data, train a champion if there is none, serve on PORT (3000)
	$(BIN)/impact train --data $(PANEL) --if-no-champion --set known_breaks=$(KNOWN_BREAKS)
	$(BIN)/impact serve --port $(PORT)

# What the tests start themselves: PostgreSQL's server binaries (Debian's postgresql; the tests run initdb
# and pg_ctl on a loopback port in a temporary folder, and never use the package's own cluster), and
# Debian's chromium (the planner page's browser tests drive it headless through playwright).
services:  ## install what the tests start: Debian's postgresql server and chromium (apt-get; needs root)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v chromium >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql chromium >/dev/null)

# The fast tier runs on TEST_WORKERS processes (pytest-xdist), one test file per worker at a time, so a
# file's module fixtures are built once; most tests keep one core busy, so 2 workers halve the wall time.
TEST_WORKERS ?= 2

test: dev services  ## run the test suite (fast tier; what CI runs); TEST_WORKERS=1 for one process
	$(BIN)/python -m pytest -m "not slow" -q -n $(TEST_WORKERS) --dist loadfile

test-slow: dev services  ## run the slow statistical sweeps too
	$(BIN)/python -m pytest -q

bench-tools:  ## install wrk, the HTTP load generator of bench/load.py (apt-get; needs root)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/pip install --quiet -c requirements.lock -e '.[bench]'
	@touch $@

bench: $(VENV)/.installed-bench $(VENV)/.installed-dev bench-tools services  ## install the peers and wrk; run every bench script (about 75 min)
	$(BIN)/python bench/model_speed.py
	$(BIN)/python bench/band_coverage.py
	$(BIN)/python bench/band_seasons.py
	$(BIN)/python bench/trend_break_oracle.py
	$(BIN)/python bench/optimiser.py
	$(BIN)/python bench/optimiser_coverage.py
	$(BIN)/python bench/warehouse.py
	$(BIN)/python bench/page.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/long_questions.py
	$(BIN)/python bench/soak.py
	$(BIN)/python bench/fuzz.py
	$(BIN)/python bench/peers.py

clean:  ## remove the venv, generated data and local state
	rm -rf $(VENV) data/generated .impact .pytest_cache

lock:  ## re-resolve the dependencies from pyproject.toml and rewrite requirements.lock
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip && .lock-venv/bin/pip install --quiet -e '.[dev,bench]'
	(head -n 2 requirements.lock; .lock-venv/bin/pip freeze --exclude-editable | sort -f) > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lock-venv
