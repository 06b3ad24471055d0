# `make demo` and `make test` are the only commands a new machine needs:
# each creates .venv and installs the project with what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck pytest bench serve clean

$(STAMP): pyproject.toml setup.py $(wildcard protos/*.proto) src/traceway/receivers/_otlp_native.c \
		src/traceway/storage/duckdb/_entries_native.c src/traceway/storage/duckdb/_plan_native.c \
		src/traceway/storage/duckdb/_events_native.c \
		src/traceway/_native_buf.h src/traceway/_native_hash.h
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m traceway.demo.codegen
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/traceway demo

serve: $(STAMP)
	$(BIN)/traceway serve

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py --sizes 1000000

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache
