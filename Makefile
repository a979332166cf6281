# The two set-up commands of the README: `make demo` and `make test`.
# Each creates the virtual environment and installs the project into it when needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench lint schema clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## install, load the demo election into ./pilkada.db and serve it on :8000
	$(BIN)/pilkada-graph demo

test: $(STAMP)  ## install and run the whole test suite
	$(BIN)/python -m pytest -q

bench: $(STAMP)  ## the benchmarks (slow; not part of the test suite)
	$(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/ruff check src plugins tests bench examples

schema: $(STAMP)  ## write schema.graphql from the code
	$(BIN)/python -m pilkada_graph.schema > schema.graphql

clean:
	rm -rf $(VENV) pilkada.db pilkada.db-wal pilkada.db-shm
