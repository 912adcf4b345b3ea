# Guangming e-ID. Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install bytecode run test lint typecheck check migrate keys model seed-demo bench bench-contention drill clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Our modules' bytecode, written ahead (unchanged files are skipped): where PYTHONDONTWRITEBYTECODE is set,
# Python reads bytecode but never writes it, and every gmid command and test worker compiled the whole
# package again on start (about 0.2 s of CPU each; the suite starts hundreds).
bytecode: install
	$(BIN)/python -m compileall -q -j0 server miniapp_api identity qr notify migrations tests bench

migrate: install
	$(BIN)/gmid migrate

keys: install
	$(BIN)/gmid keys init

# Remakes the classifier shipped in the package (miniapp_api/clinic/data/model) from the bundled messages;
# `make run` does not train: a fresh install uses the shipped model until `gmid reports train` makes one here.
model: install
	$(BIN)/gmid reports train --ship

run: install bytecode keys migrate
	$(BIN)/gmid serve

# Tests run in parallel: TEST_WORKERS processes (default: cores + 1, tests/conftest.py), each with its own
# database and Redis. One test alone: .venv/bin/python -m pytest tests/path/test_x.py::test_name
TEST_WORKERS ?= auto
test: install bytecode
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --durations=20

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy
	# The bench scripts import each other as top-level modules of bench/ (and our packages from the root).
	cd bench && MYPYPATH=.. ../$(BIN)/mypy --no-namespace-packages --config-file ../pyproject.toml *.py

check: lint typecheck test

seed-demo: install keys migrate
	$(BIN)/gmid seed-demo

bench: install
	$(BIN)/python bench/http_bench.py

# The rates of what several instances serialise on (the audit chain, the QR feed counter, the outbox claim),
# on a throw-away PostgreSQL and Redis, then SQLite: about 2 minutes. CONTENTION_ARGS=--seconds 10
bench-contention: install
	$(BIN)/python bench/contention.py $(CONTENTION_ARGS)

# The operations drill (deploy/README.md): PostgreSQL, a Redis server, nginx, two instances and the worker
# on loopback, killed one by one under load; exit 0 only when every check passes. DRILL_ARGS=--quick: 30 s.
drill: install
	$(BIN)/python bench/drill.py $(DRILL_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
