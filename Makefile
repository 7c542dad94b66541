# Xinyong — the two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test install system-deps postgres lint clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# System packages later features need (browser tests, CJK fonts for PDFs) go here.
system-deps:
	@bash scripts/system-deps.sh

postgres:
	@bash scripts/ensure-postgres.sh

demo: install
	$(BIN)/xinyong demo

# The whole suite on SQLite and PostgreSQL; fails if the PostgreSQL half did not run.
test: install system-deps postgres
	XINYONG_REQUIRE_PG=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/generate.py --json

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis build src/*.egg-info
