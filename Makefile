# KL.dialog: `make run` serves the demo, `make test` runs everything. See README.md.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 5000
# Parallel test processes (pytest-xdist). Browser tests run after the others, a whole file per
# process: each process has its own live server, and tests in a file may build on each other.
JOBS ?= 2
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app kldialog
CATALOGS := $(wildcard kldialog/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

.PHONY: run test lint audit translations messages screenshots bench prod-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# Compiled catalogs are build products, never committed.
kldialog/translations/%/LC_MESSAGES/messages.mo: kldialog/translations/%/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -i $< -o $@

translations: $(COMPILED)

# umask 077: the secret key (and the SQLite file `make run` creates next to it) are readable
# by their owner only.
instance/config.py:
	@umask 077 && mkdir -p instance && $(PYTHON) -c "import secrets; print('# Created by make run for local use. Never commit this file.'); print('SECRET_KEY = %r' % secrets.token_hex(32))" > $@
	@chmod 600 $@
	@echo "Created instance/config.py with a random SECRET_KEY."

run: $(VENV)/.installed translations instance/config.py
	$(FLASK) db upgrade
	KLDIALOG_DEMO=true $(FLASK) demo load
	@echo "KL.dialog demo: http://$(HOST):$(PORT)/  (stop with Ctrl+C)"
	KLDIALOG_DEMO=true $(FLASK) run --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check kldialog tests scripts migrations/env.py
	$(BIN)/ruff format --check kldialog tests scripts
	$(BIN)/mypy
	$(BIN)/bandit -q -r kldialog -c pyproject.toml

# Known vulnerabilities in the installed dependencies (asks the PyPI/OSV advisory database over
# the network, so it is not part of `make test`: CI must not depend on an outside service).
audit: $(VENV)/.installed-dev
	$(BIN)/pip-audit --skip-editable --progress-spinner off

test: $(VENV)/.installed-dev translations lint
	@if [ ! -x "$${KLDIALOG_CHROMIUM:-/usr/bin/chromium}" ]; then \
	  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	  echo "!!  No Chromium at $${KLDIALOG_CHROMIUM:-/usr/bin/chromium}: browser and axe tests are SKIPPED. !!"; \
	  echo "!!  Install it with: apt-get install -y chromium                               !!"; \
	  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	fi
	$(BIN)/pytest -n $(JOBS) --ignore=tests/e2e $(PYTEST_ARGS)
	$(if $(NO_BROWSER),@echo "Browser tests not run here (NO_BROWSER is set).",$(BIN)/pytest -n $(JOBS) --dist loadfile tests/e2e $(PYTEST_ARGS))

# Developers: after changing strings, refresh the catalogs and translate the new entries.
messages: $(VENV)/.installed-dev
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 -o kldialog/translations/messages.pot --no-location --sort-output --width 100 --project KL.dialog .
	$(BIN)/pybabel update -i kldialog/translations/messages.pot -d kldialog/translations --no-fuzzy-matching --ignore-obsolete --width 100

screenshots: $(VENV)/.installed-dev translations
	$(BIN)/python scripts/screenshots.py

bench: $(VENV)/.installed-dev translations
	$(BIN)/python scripts/bench.py
	$(BIN)/python scripts/bench_rounds.py

# The production setup of docs/deploy.md on this machine: nginx (Debian package), two gunicorn
# processes, PostgreSQL and Redis on 127.0.0.1. Not part of `make test` (it needs nginx).
prod-check: $(VENV)/.installed-dev translations
	$(BIN)/python scripts/prod_check.py $(PROD_CHECK_ARGS)

clean:
	rm -rf $(VENV) kldialog/translations/*/LC_MESSAGES/*.mo
