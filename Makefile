# make run   - virtualenv + install, then `saliency serve`: the API on 127.0.0.1:8000 with one worker
#              (and a private Redis unless REDIS_URL is set); a worker or the API that dies is
#              restarted; Ctrl-C stops everything.
# make test  - virtualenv + install (and Debian's chromium and prometheus for the browser and
#              dashboard tests, when root and online: .ci/ensure-*), then the whole test suite.
# make kserve-venv - the KServe ModelServer's own virtualenv (.venv-kserve, from requirements/kserve.txt)
#              for the remote-model tests; `make test` builds it, and when it cannot, those tests skip.
# make lock  - regenerate the lock files in requirements/ from pyproject.toml (needs a network).
# Installs take exact versions with hashes from requirements/dev.txt; they are skipped while
# .venv/.installed is newer than the lock file and pyproject.toml.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# kserve.txt keeps its extras (uvicorn[standard]): without them, pip 23's hash-checking resolver
# takes kserve's `uvicorn[standard]` from the newest release on PyPI instead of the pinned one.
LOCK_FLAGS := --generate-hashes --no-emit-index-url --no-emit-find-links --allow-unsafe --strip-extras -q

KSERVE_VENV := .venv-kserve
KSERVE_STAMP := $(KSERVE_VENV)/.installed

.PHONY: install run test browser prometheus lock kserve-venv

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

prometheus:
	@sh .ci/ensure-prometheus

# kserve pins packages (protobuf<7, pandas, kubernetes...) the project's venv must not get, so its
# server runs in a venv of its own. Quiet and idempotent; a failure (no network, say) is reported
# in one line and in $(KSERVE_VENV).log, and the tests that need it skip with that reason.
kserve-venv:
	@$(MAKE) --no-print-directory -s $(KSERVE_STAMP) > $(KSERVE_VENV).log 2>&1 || \
		echo "make: the KServe test venv could not be built (see $(KSERVE_VENV).log); the remote-model tests will skip"

$(KSERVE_STAMP): requirements/kserve.txt
	rm -rf $(KSERVE_VENV)
	$(PYTHON) -m venv $(KSERVE_VENV)
	$(KSERVE_VENV)/bin/python -m pip install --quiet --require-hashes -r requirements/kserve.txt
	touch $(KSERVE_STAMP)

test: $(STAMP) browser prometheus kserve-venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile $(LOCK_FLAGS) -o requirements/api.txt pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra torch -o requirements/worker.txt pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra torch --extra dev --extra test --extra bench --extra openvino \
		-o requirements/dev.txt pyproject.toml
	$(BIN)/pip-compile $(filter-out --strip-extras,$(LOCK_FLAGS)) -o requirements/kserve.txt requirements/kserve.in
