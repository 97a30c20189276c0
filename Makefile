# make run   - virtualenv + install, then the API on 127.0.0.1:8000 with one worker (and a
#              private Redis unless REDIS_URL is set); Ctrl-C stops everything.
# make test  - virtualenv + install (and Debian's chromium and prometheus for the browser and
#              dashboard tests, when root and online: .ci/ensure-*), then the whole test suite.
# Installing is skipped while .venv/.installed is newer than pyproject.toml.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install run test browser prometheus

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m app.devserver

browser:
	@sh .ci/ensure-chromium

prometheus:
	@sh .ci/ensure-prometheus

test: $(STAMP) browser prometheus
	$(BIN)/python -m pytest $(PYTEST_ARGS)
