# Two entry points for a fresh machine (see README): `make demo` and `make test`.
# Everything goes into a local virtual environment, .venv, created on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Our machines carry a local CPU build of torch 2.13.0: pinning it keeps CI from pulling
# gigabytes of CUDA packages. On a GPU machine: make TORCH_SPEC=torch test
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= test

.PHONY: setup test lint demo clean

$(BIN)/avaffect: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	@touch $@

setup: $(BIN)/avaffect

lint: setup
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q

demo: setup
	$(BIN)/avaffect models

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
