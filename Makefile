PYTHON ?= python3
PYTEST_ARGS ?=
# Scripts and test subprocesses use the same interpreter.
export PYTHON

.PHONY: install test test-all demo readme

# Idempotent: with everything present it finishes in seconds.
install:
	bash scripts/install.sh

test: install
	$(PYTHON) -m pytest -q $(PYTEST_ARGS) tests

# Includes the cases marked slow (large variants, long trainings).
test-all: install
	$(PYTHON) -m pytest -q -m "slow or not slow" $(PYTEST_ARGS) tests

demo: install
	bash scripts/demo.sh

# Regenerate the README's generated tables and docs/model_zoo.md from the zoo.
readme:
	$(PYTHON) tools/gen_readme.py
