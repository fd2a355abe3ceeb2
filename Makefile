# Two commands for a newcomer: `make demo` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
AXE    := node_modules/axe-core/axe.min.js

.PHONY: demo test lint bench install clean debian-tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# axe-core (accessibility engine the browser tests inject into every page), from the npm registry, pinned by
# package-lock.json.
$(AXE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(AXE)

# Outside tools the tests drive for real: Debian's chromium (browser tests; never a downloaded browser),
# pdfsig/pdftotext/pdffonts (poppler-utils) and openssl. Installed with apt-get when missing (as root).
debian-tools:
	bash scripts/system-deps.sh

demo: $(STAMP)
	$(BIN)/gongyu demo

# pytest runs on two workers (pytest-xdist; one test file per worker at a time, so a module's fixtures and
# servers stay in one process): most of the suite waits on PostgreSQL, Chromium and server processes.
# lint-imports checks the layer contracts of DESIGN section 2 ([tool.importlinter] in pyproject.toml);
# --no-cache keeps its cache directory out of the working tree (the check takes well under a second).
test: $(STAMP) $(AXE) debian-tools
	$(BIN)/ruff check hub adapters consent audit document_specs loadtests tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check hub adapters consent audit document_specs loadtests tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The audited lookup against its floor app on PostgreSQL, with wrk (Debian package), statutory and consent
# paths (issue 17; docs/performance.md). `python -m loadtests.bench` is the older locust run.
bench: $(STAMP)
	$(BIN)/python -m loadtests.bench_wrk

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
