# Every target installs what it needs into .venv first, so a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser messages demo test fuzz bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/hanoi demo

# The console's browser tests drive Debian's Chromium through Playwright (Playwright's own
# browser download does not work here); install it when it is missing (CI runs as root).
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The console's messages: extract them from templates and code, merge them into each language.
# The .po files are the source; the console compiles them in memory when it starts.
I18N := src/hanoi/console/translations
messages: $(STAMP)
	$(BIN)/pybabel extract -F src/hanoi/console/babel.cfg -k N_ -k ngettext:1,2 --no-location \
		--sort-output --omit-header -o $(I18N)/messages.pot .
	$(BIN)/pybabel update -i $(I18N)/messages.pot -d $(I18N) --width 100 --ignore-obsolete

test: $(STAMP) browser
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
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
