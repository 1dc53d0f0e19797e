# make run   — install what is missing, then start the web app and a worker (embedded defaults)
# make test  — install what is missing, then run the whole test suite
# make lint  — ruff
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# System packages (Debian names). Installed with apt-get when missing and running as root; otherwise
# the command that installs them is printed.
APT_RUN := libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1
APT_TEST := chromium docker-compose

# The annotator UI (TypeScript, Vite) is built into frontend/dist/ whenever its sources change.
FRONTEND_SRC := $(wildcard frontend/src/*) frontend/package-lock.json frontend/vite.config.ts frontend/tsconfig.json
FRONTEND_BUILT := frontend/dist/annotate/app.js
# the same app with the counters the browser tests read (window.__viewClicks, ...), into frontend/dist-test/
FRONTEND_TEST_BUILT := frontend/dist-test/annotate/app.js
NPM_STAMP := frontend/node_modules/.installed

.PHONY: run test lint format venv frontend system-run system-test api-types

run: venv system-run frontend
	$(PY) -m annotator_web.launcher

test: venv system-run system-test frontend $(FRONTEND_TEST_BUILT)
	cd frontend && npm test --silent
	$(PY) -m pytest $(PYTEST_ARGS)

frontend: $(FRONTEND_BUILT)

# The browser's API types, generated from the server's OpenAPI schema (tests/test_api_types.py checks them).
api-types: venv $(NPM_STAMP)
	APP_ENV=test DATA_DIR=test-artifacts/schema-data $(PY) manage.py spectacular --validate --file test-artifacts/schema.yaml
	cd frontend && npx openapi-typescript ../test-artifacts/schema.yaml --array-length -o src/api-schema.d.ts

$(NPM_STAMP): frontend/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20.19 or newer with npm is needed to build the annotator UI"; exit 1; }
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(FRONTEND_BUILT): $(NPM_STAMP) $(FRONTEND_SRC)
	cd frontend && npm run build --silent

$(FRONTEND_TEST_BUILT): $(NPM_STAMP) $(FRONTEND_SRC)
	cd frontend && npm run build-test --silent

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

venv: $(STAMP)

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "Python 3.11 is needed (found $$($(PYTHON) --version 2>&1)); set PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $@

define apt_ensure
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing"; echo "install them with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi
endef

system-run:
	$(call apt_ensure,$(APT_RUN))

system-test:
	$(call apt_ensure,$(APT_TEST))
