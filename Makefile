# Two commands for a fresh machine (see README.md):
#   make demo   creates .venv if needed, then runs `lascoproc demo` on synthetic archives
#   make test   creates .venv if needed, then runs the default test suite
#
# torch is installed explicitly, pinned, BEFORE the project: the project's range admits it, so
# pip then installs nothing more for torch (a bare `torch` requirement would let pip resolve a
# multi-GB CUDA build). The pin alone takes torch 2.13.0 from pip's configured sources: a CPU
# wheel where one is provided (find-links, a local index), but from plain PyPI on Linux the
# CUDA build. On such a machine choose the CPU build with
#   make test TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
TORCH_PIP_ARGS ?=
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lascoproc-installed

.PHONY: env demo test test-all lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "lascoproc needs Python >= 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)" $(TORCH_PIP_ARGS)
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
	$(BIN)/ruff check lascoproc cli tests bench
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -m "slow or not slow"

lint: $(STAMP)
	$(BIN)/ruff check lascoproc cli tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) demo-output .pytest_cache
