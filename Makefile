# Roost: `make run` starts the server on the embedded default, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist processes for `make test`, one per core of the CI machine; each keeps a
# test file's tests together (--dist loadfile), so module fixtures start once.
TEST_WORKERS ?= 2

.PHONY: run test lint typecheck check install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The stamp files make reinstalling happen only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# masto.js for tests/clients/test_masto_js.py, reinstalled only when its lock file
# changes; without npm the step is skipped (the tests then skip, or fail under CI).
MASTO_JS := tests/clients/masto_js
$(MASTO_JS)/node_modules/.installed: $(MASTO_JS)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(MASTO_JS) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: skipping masto.js (tests/clients/test_masto_js.py)"; fi

# axe-core for tests/e2e/test_accessibility.py, the same way: reinstalled only when its lock
# file changes; without npm it is skipped (the accessibility tests then skip, or fail under CI).
AXE := tests/e2e/axe
$(AXE)/node_modules/.installed: $(AXE)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(AXE) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: skipping axe-core (tests/e2e/test_accessibility.py)"; fi

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev $(MASTO_JS)/node_modules/.installed \
	$(AXE)/node_modules/.installed

run: install
	$(BIN)/roost serve --host $(HOST) --port $(PORT)

test: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: install-dev
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(MASTO_JS)/node_modules \
	$(AXE)/node_modules
