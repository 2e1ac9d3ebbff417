# The only two commands anyone needs: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 5000
export FLASK_APP := wsgi

.PHONY: run test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

inscriptions/translations/fr/LC_MESSAGES/messages.mo: inscriptions/translations/fr/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d inscriptions/translations -l fr

# Creates the SQLite database (migrations), records the services, loads demo data, serves.
run: $(STAMP) inscriptions/translations/fr/LC_MESSAGES/messages.mo
	$(BIN)/inscriptions db upgrade
	$(BIN)/inscriptions services sync
	$(BIN)/inscriptions demo load
	$(BIN)/inscriptions run --host 127.0.0.1 --port $(PORT)

test: $(STAMP) inscriptions/translations/fr/LC_MESSAGES/messages.mo
	$(BIN)/ruff check .
	$(BIN)/bandit --quiet --recursive inscriptions plugins --severity-level high
	BIN=$(BIN) .ci/pip-audit
	$(BIN)/pytest
