# Guangming e-ID. Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck check migrate keys model seed-demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

migrate: install
	$(BIN)/gmid migrate

keys: install
	$(BIN)/gmid keys init

# Remakes the classifier shipped in the package (miniapp_api/clinic/data/model) from the bundled messages;
# `make run` does not train: a fresh install uses the shipped model until `gmid reports train` makes one here.
model: install
	$(BIN)/gmid reports train --ship

run: install keys migrate
	$(BIN)/gmid serve

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

seed-demo: install keys migrate
	$(BIN)/gmid seed-demo

bench: install
	$(BIN)/python bench/http_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
