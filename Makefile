# One command to run the hub, one to test it.  Both create the virtualenv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench clean venv venv-dev

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed
venv-dev: $(VENV)/.installed-dev

## make run: set up, load the demo store, start the web server and a task cluster.
run: venv
	$(PY) manage.py migrate --no-input
	$(PY) manage.py setup_demo
	$(PY) manage.py run_local --host $(HOST) --port $(PORT)

## make test: the whole suite (DATABASE_URL picks PostgreSQL instead of SQLite).
test: venv-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv-dev
	$(VENV)/bin/ruff check .

bench: venv-dev
	$(PY) bench/import_bench.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
