# The kit's two commands on a fresh machine with Python 3.11:
#   make demo   build the environment, check the shipped data, release the assignment and
#               autograde the demo class
#   make test   build the environment and run the test suite
# Both create the virtual environment in .venv when it is missing.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Rebuilt when the dependency list changes.
INSTALLED := $(VENV)/.installed

.PHONY: demo test test-fast venv clean

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/python -m resnet_kit.handsigns verify --sample 20
	$(BIN)/python -m resnet_kit.handsigns preview --out reports/preview.png
	$(BIN)/python -m autograder demo

test: $(INSTALLED)
	$(BIN)/python -m pytest

# Everything but the tests that train networks or execute whole notebooks.
test-fast: $(INSTALLED)
	$(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) reports build
