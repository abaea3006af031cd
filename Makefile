# hscanom: the two commands a newcomer needs.
#   make demo   set up everything, then run the main job on the embedded database
#   make test   set up everything, check the import layers (lint-imports), run the test suite
# Both install what is missing (Debian packages, .venv, the package) and skip what exists.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hscanom-installed

.PHONY: demo test setup system venv bench clean-db

demo: setup
	$(BIN)/hscanom demo

test: setup
	$(BIN)/python scripts/lint_imports.py
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: system venv

system:
	@scripts/setup-system.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

bench: setup
	@failed=""; for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || failed="$$failed $$script"; done; \
	if [ -n "$$failed" ]; then echo "failed or missed a target:$$failed"; exit 1; fi

clean-db:
	-$(BIN)/hscanom db stop
	rm -rf .hscanom
