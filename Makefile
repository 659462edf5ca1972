# Every target installs what it needs into .venv first, so a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test fuzz bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/hanoi demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Schemathesis against a live node (`hanoi serve`): every phase and check, seed 1, 100 examples
# per operation, the API with an admin token and the federation endpoints with none; fails on
# any 5xx or schema violation. `make test` runs the same with 5 examples (tests/node/test_fuzz.py).
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz --examples 100 --seed 1

# The full set takes about 30 minutes on 2 cores; each script has --quick or size options.
bench: $(STAMP)
	$(BIN)/python bench/ledger.py
	$(BIN)/python bench/federation.py
	$(BIN)/python bench/signals.py
	$(BIN)/python bench/stix_ingest.py
	$(BIN)/python bench/media.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
