# Two commands for a fresh machine (see README.md):
#   make demo   creates .venv if needed, then runs `lascoproc demo` on synthetic archives
#   make test   creates .venv if needed, then runs the default test suite
#
# torch is installed explicitly, pinned, BEFORE the project: the project's range admits it, so
# pip then installs nothing more for torch (a bare `torch` requirement would let pip resolve a
# multi-GB CUDA build).

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lascoproc-installed

.PHONY: env demo test test-all lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "lascoproc needs Python >= 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

env: $(STAMP)

demo: $(STAMP)
	$(BIN)/lascoproc demo --out demo-output

test: $(STAMP)
	$(BIN)/ruff check lascoproc cli tests bench
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow or not slow"

lint: $(STAMP)
	$(BIN)/ruff check lascoproc cli tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) demo-output .pytest_cache
