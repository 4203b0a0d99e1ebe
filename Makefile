# Gatehouse: `make run` serves a working provider, `make test` runs the suite. Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_ENV := DEBUG=1 GATEHOUSE_DEV_LOGIN=1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test install migrate bench clean messages examples compliance

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput

run: migrate
	$(DEV_ENV) $(BIN)/python manage.py demo
	$(DEV_ENV) $(BIN)/python manage.py runserver 127.0.0.1:8000

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The tests tagged @pytest.mark.spec(...) and the matrix they prove: docs/compliance.md (tests/compliance_plugin.py).
compliance: install
	$(BIN)/python -m pytest -p tests.compliance_plugin -m spec --compliance-report docs/compliance.md -n 2 -q $(PYTEST_ARGS)

# Gatehouse (:8000) and the two example apps of docs/integrate.md (:8001 web app, :8002 single-page app),
# their clients registered in Gatehouse's development database (examples/README.md).
EXAMPLES_STAMP := $(VENV)/.examples-installed
$(EXAMPLES_STAMP): $(STAMP) examples/webapp/requirements.txt examples/spa/requirements.txt
	$(BIN)/pip install --quiet -r examples/webapp/requirements.txt -r examples/spa/requirements.txt
	touch $(EXAMPLES_STAMP)

examples: $(EXAMPLES_STAMP)
	$(BIN)/python examples/run.py

clean:
	rm -rf $(VENV) var

# gunicorn + wrk on PostgreSQL (127.0.0.1:5432, user postgres; a throwaway database) and on SQLite, about
# eight minutes; writes bench/RESULTS.md. BENCH_ARGS="--seconds 5 --databases postgresql" for a quick run.
bench: install
	@command -v wrk >/dev/null || (apt-get install -y wrk || (apt-get update && apt-get install -y wrk))
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Korean and English: refresh the catalogue after changing user-visible strings, translate, recompile.
# The compiled .mo is committed, so a fresh machine needs no gettext tools.
messages: install
	DEBUG=1 $(BIN)/python manage.py makemessages -l ko --no-location --ignore=.venv --ignore=var --ignore=tests --ignore=bench
	DEBUG=1 $(BIN)/python manage.py compilemessages -l ko --ignore=.venv
