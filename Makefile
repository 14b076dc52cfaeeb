# Two commands do all set-up on a fresh machine (README):
#   make demo   -- install, start the embedded Postgres, generate data, ingest, build everything
#   make test   -- install, then run the whole test suite
# Everything is installed from the project's own files: the Debian packages Python's registry
# cannot provide (python3-venv, postgresql; chromium for the browser test), uv (pinned) into
# .tools, the locked Python dependencies (uv.lock) into .venv.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
SYNCED := $(VENV)/.synced

.PHONY: demo test test-fast bench install lint

install: $(SYNCED)

$(UV):
	PYTHON=$(PYTHON) scripts/ensure-system-packages base
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(SYNCED): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --compile-bytecode --python $(PYTHON)
	touch $@

demo: $(SYNCED)
	PYTHON=$(PYTHON) scripts/ensure-system-packages base
	$(VENV)/bin/subledger demo

test: $(SYNCED)
	PYTHON=$(PYTHON) scripts/ensure-system-packages base browser
	$(VENV)/bin/pytest

# The suite without the tests marked slow (crash/kill, browser, long model-based runs).
test-fast: $(SYNCED)
	$(VENV)/bin/pytest -m "not slow"

bench: $(SYNCED)
	$(VENV)/bin/python -m bench

lint: $(SYNCED)
	$(VENV)/bin/ruff check ledger_pipelines tests bench
