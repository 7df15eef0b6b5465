# The kit's two commands on a fresh machine with Python 3.11, 3.12 or 3.13:
#   make demo   build the environment, check the machine, check the shipped data, release the
#               assignment and autograde the demo class
#   make test   build the environment and run the test suite
# Both create the virtual environment in .venv when it is missing, with the first of
# python3.13, python3.12, python3.11, python3 that runs, is a supported version and can make
# virtual environments; `make ... PYTHON=/path/to/python` picks one (`make which-python` tells
# which one make would use). CI checks other interpreters, each in a venv of its own:
#   make check-pythons                          Debian's /usr/bin/python3.11 and a 3.13
#   make check-python PYTHON=/usr/bin/python3.11

# Supported CPython minor versions: keep in step with requires-python in pyproject.toml and
# with environment.yml (tests/test_environment.py checks all three).
PY_MIN := 3.11
PY_MAX := 3.13
PY_SEARCH := python3.13 python3.12 python3.11 python3
VENV := .venv
BIN := $(VENV)/bin
# Rebuilt when the dependency list changes.
INSTALLED := $(VENV)/.installed
# PYTHON given on the command line or in the environment: that one, or a clear error.
PY_ASKED := $(if $(filter command line environment environment override override,$(origin PYTHON)),$(PYTHON))

.PHONY: demo test test-fast venv clean which-python venv-python check-python check-python-here check-pythons

# find-python, run as `sh -c "$$find_python" find-python MODE [DIR]`:
#   which      print "VERSION PATH" of the interpreter make uses (PYTHON, else the search)
#   venv DIR   make the venv DIR with it when DIR is missing; refuse a DIR made by another
#              Python than PYTHON (note it, and keep DIR, when the search found another one)
define find_python
set -u
asked='$(PY_ASKED)'
min='$(PY_MIN)'; max='$(PY_MAX)'
mode=$$1; dir=$${2:-}
fail() { echo "make: $$*" >&2; exit 1; }
ident() {  # "X.Y.Z BASE_PREFIX" of interpreter $$1 (nothing when it does not run)
  "$$1" -c 'import os, sys; v = sys.version_info; print("%d.%d.%d %s" % (v[0], v[1], v[2], os.path.realpath(getattr(sys, "base_prefix", sys.prefix))))' 2>/dev/null | tail -n 1
}
supported() {  # is version X.Y.Z within min..max?
  maj=$${1%%.*}; rest=$${1#*.}; minor=$${rest%%.*}
  case "$$maj.$$minor" in *[!0-9.]*|.*|*.) return 1;; esac
  [ "$$maj" = "$${min%%.*}" ] && [ "$$minor" -ge "$${min#*.}" ] && [ "$$minor" -le "$${max#*.}" ]
}
venv_ok() { "$$1" -c 'import ensurepip, venv' >/dev/null 2>&1; }
no_venv() {  # why interpreter $$1, version $$2, cannot make a venv
  mm=$${2%.*}
  echo "$$1 (Python $$2) cannot make virtual environments (no ensurepip): on Debian/Ubuntu install python$$mm-venv (apt install python$$mm-venv), or pass another interpreter"
}
py=''; id=''; tried=''
if [ -n "$$asked" ]; then
  command -v "$$asked" >/dev/null 2>&1 || fail "PYTHON=$$asked not found: pass the path of a Python $$min-$$max interpreter"
  id=$$(ident "$$asked")
  [ -n "$$id" ] || fail "PYTHON=$$asked does not run as Python (try: $$asked --version)"
  ver=$${id%% *}
  supported "$$ver" || fail "PYTHON=$$asked is Python $$ver; the kit supports Python $$min to $$max (requires-python in pyproject.toml): pass one of those, e.g. make PYTHON=/usr/bin/python3.11"
  venv_ok "$$asked" || fail "$$(no_venv "PYTHON=$$asked" "$$ver")"
  py=$$asked
else
  for cand in $(PY_SEARCH); do
    if ! command -v "$$cand" >/dev/null 2>&1; then tried="$$tried; $$cand: not found"; continue; fi
    id=$$(ident "$$cand")
    if [ -z "$$id" ]; then tried="$$tried; $$cand: does not run"; continue; fi
    ver=$${id%% *}
    if ! supported "$$ver"; then tried="$$tried; $$cand: Python $$ver"; continue; fi
    if ! venv_ok "$$cand"; then tried="$$tried; $$(no_venv "$$cand" "$$ver")"; continue; fi
    py=$$cand; break
  done
fi
nothing="no Python $$min-$$max that can make a virtual environment found (tried$${tried#;}). Install one (Debian 12: apt install python3.11-venv) or pass it: make PYTHON=/path/to/python3.X"
case "$$mode" in
which)
  [ -n "$$py" ] || fail "$$nothing"
  echo "$$ver $$py" ;;
venv)
  if [ -e "$$dir/bin/python" ] || [ -L "$$dir/bin/python" ]; then
    have=$$(ident "$$dir/bin/python")
    [ -n "$$have" ] || fail "$$dir is there but its Python does not run (was the interpreter that made it removed?): run make clean, then make again"
    hv=$${have%% *}
    if [ -n "$$asked" ]; then
      [ "$$have" = "$$id" ] || fail "$$dir was made by Python $$hv ($${have#* }), not by PYTHON=$$asked (Python $$ver, $${id#* }): run make clean to rebuild it with $$asked, or leave PYTHON out to keep using $$dir"
    else
      supported "$$hv" || fail "$$dir is Python $$hv, which the kit does not support (Python $$min to $$max): run make clean, then make again"
      [ -z "$$py" ] || [ "$$have" = "$$id" ] || echo "make: note: keeping $$dir (Python $$hv, $${have#* }) although the search found $$py (Python $$ver); make clean rebuilds it with that one" >&2
    fi
  else
    [ -n "$$py" ] || fail "$$nothing"
    [ ! -e "$$dir" ] || fail "$$dir is there but is no virtual environment (no bin/python): remove it (make clean), then make again"
    echo "Making $$dir with $$py (Python $$ver)"
    "$$py" -m venv "$$dir" || { rm -rf "$$dir"; fail "$$py -m venv $$dir failed: $$(no_venv "$$py" "$$ver")"; }
  fi ;;
*) fail "find-python: unknown mode $$mode" ;;
esac
endef
export find_python

venv: $(INSTALLED)

# Every run: the interpreter is checked and .venv made with it when missing (see find_python).
venv-python:
	@sh -c "$$find_python" find-python venv $(VENV)

$(INSTALLED): pyproject.toml | venv-python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

# The interpreter make would build .venv with ("VERSION PATH"), or why there is none.
which-python:
	@sh -c "$$find_python" find-python which

demo: $(INSTALLED)
	$(BIN)/python -m autograder doctor
	$(BIN)/python -m resnet_kit.handsigns verify --sample 20
	$(BIN)/python -m resnet_kit.handsigns preview --out reports/preview.png
	$(BIN)/python -m autograder demo

test: $(INSTALLED)
	$(BIN)/python -m pytest

# Everything but the tests that train networks or execute whole notebooks.
test-fast: $(INSTALLED)
	$(BIN)/python -m pytest -m "not slow"

# CI's other interpreters: Debian 12's own Python (3.11.2: tarfile has no data filter) and a
# 3.13 (pyenv's here), each checked by check-python; CHECK_PYTHONS="..." names others.
CHECK_PYTHONS ?= /usr/bin/python3.11 $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) python3.13)

check-pythons:
	@for py in $(CHECK_PYTHONS); do $(MAKE) --no-print-directory check-python PYTHON="$$py" || exit 1; done

# Another interpreter, in a venv of its own (.venv-check-X.Y.Z): its version-dependent tests and
# two demo students graded end to end. CI: make check-python PYTHON=/usr/bin/python3.11
check-python:
	@found=$$(sh -c "$$find_python" find-python which) || exit 1; \
	$(MAKE) --no-print-directory VENV=.venv-check-$${found%% *} PYTHON="$${found#* }" check-python-here

check-python-here: $(INSTALLED)
	$(BIN)/python -m pytest -q -m "not slow" tests/test_python_support.py tests/test_environment.py
	$(BIN)/python -m autograder demo --only solution,raises

clean:
	rm -rf $(VENV) .venv-check-* reports build
