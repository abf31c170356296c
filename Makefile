# Keydrop: `make run` starts the portal with its scheduler; `make test` lints and runs the suite (`make test-all` with
# the tests that start real servers and processes: Chromium, qcluster, commands, as CI does).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP_INSTALL := $(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock

.PHONY: run lint test test-all test-production bench clean vendor-axe

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.lock
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP_INSTALL) -e ".[test]"
	touch $@

# `make run PORT=8001` when 8000 is taken; links in emails follow the port unless PORTAL_BASE_URL is set.
PORT ?= 8000
run: $(VENV)/.installed
	PORTAL_BASE_URL="$${PORTAL_BASE_URL:-http://127.0.0.1:$(PORT)}" $(BIN)/python manage.py run --addr 127.0.0.1:$(PORT)

# The lint gate: formatted, lint-clean Python and templates, or the tests do not run.
lint: $(VENV)/.installed-test
	$(BIN)/ruff format --check --quiet .
	$(BIN)/ruff check --quiet .
	$(BIN)/djlint templates --lint --quiet

# Locally the suite runs on two processes (pytest-xdist) to stay near a minute; CI (CI=true), which also
# runs the tests that start real servers, keeps one process.
test: lint
	$(BIN)/python -m pytest $(if $(filter true,$(CI)),,-n 2)

# Also the tests that start real servers or processes, which `make test` leaves to CI (CI=true runs them there).
test-all: $(VENV)/.installed-test
	$(BIN)/python -m pytest --cluster

# The production smoke test (nginx, gunicorn, PostgreSQL, Redis, two qclusters from deploy/); needs nginx,
# redis-server and DATABASE_URL naming a PostgreSQL role that may create databases. CI runs it last.
test-production: $(VENV)/.installed-test
	$(BIN)/python -m pytest --production

bench: $(VENV)/.installed-test
	for bench in bench/bench_*.py; do $(BIN)/python $$bench || exit 1; done

# axe-core (MPL-2.0) runs in the browser tests; the version is pinned in tests/e2e/vendor/package.json.
vendor-axe:
	cd tests/e2e/vendor && version=$$(node -p "require('./package.json').devDependencies['axe-core']") && \
	  npm pack --silent axe-core@$$version && tar -xzf axe-core-$$version.tgz package/axe.min.js package/LICENSE && \
	  mv package/axe.min.js axe.min.js && mv package/LICENSE axe-core-LICENSE.txt && rm -rf package axe-core-$$version.tgz

clean:
	rm -rf $(VENV) var
