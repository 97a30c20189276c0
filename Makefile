# make run   - virtualenv + install, then `saliency serve`: the API on 127.0.0.1:8000 with one worker
#              (and a private Redis unless REDIS_URL is set); Ctrl-C stops everything.
# make test  - virtualenv + install (and Debian's chromium for the browser test, when root and
#              online: .ci/ensure-chromium), then the whole test suite.
# make lock  - regenerate the lock files in requirements/ from pyproject.toml (needs a network).
# Installs take exact versions with hashes from requirements/dev.txt; they are skipped while
# .venv/.installed is newer than the lock file and pyproject.toml.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
LOCK_FLAGS := --generate-hashes --no-emit-index-url --no-emit-find-links --allow-unsafe --strip-extras -q

.PHONY: install run test browser lock

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements/dev.txt pyproject.toml client/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e . -e ./client
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/saliency serve

browser:
	@sh .ci/ensure-chromium

test: $(STAMP) browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile $(LOCK_FLAGS) -o requirements/api.txt pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra torch -o requirements/worker.txt pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra torch --extra dev --extra test --extra bench \
		-o requirements/dev.txt pyproject.toml
