# Keydrop: `make run` starts the portal with its scheduler; `make test` runs the suite (`make test-all` with
# the real-cluster smoke tests, as CI does).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP_INSTALL := $(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock

.PHONY: run test test-all bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.lock
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP_INSTALL) -e ".[test]"
	touch $@

run: $(VENV)/.installed
	$(BIN)/python manage.py run

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

# Also the real-cluster smoke tests, which `make test` leaves to CI (CI=true runs them there).
test-all: $(VENV)/.installed-test
	$(BIN)/python -m pytest --cluster

bench: $(VENV)/.installed-test
	for bench in bench/bench_*.py; do $(BIN)/python $$bench || exit 1; done

clean:
	rm -rf $(VENV) var
