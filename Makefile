# imgsvc: `make run` starts everything locally; `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test test-fast lint format bench clean system

$(STAMP): pyproject.toml
	@scripts/bootstrap.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

system:
	@scripts/bootstrap.sh

run: $(STAMP) system  ## web + worker + embedded Redis on http://127.0.0.1:$${PORT:-5000}/
	$(BIN)/imgsvc dev

test: $(STAMP) system lint  ## the whole suite, as CI runs it
	$(BIN)/pytest

test-fast: $(STAMP) system  ## everything but the slow end-to-end tests
	$(BIN)/pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache test-output
