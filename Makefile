# make install | demo | test — each sets up .venv (Python 3.12, pinned deps) first if needed.
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
# The first Python 3.12 found: python3.12 on PATH, then pyenv's versions, then the usual prefixes.
PYTHON312 ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
                 $$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null && { echo $$p; break; }; done)
DEMO_HOME ?= $(CURDIR)/.demo
DEMO_ENV  := HBOPT_HOME=$(DEMO_HOME) HBOPT_MIRROR_DIR=/tmp/hbot_data_demo

.PHONY: install demo test clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@if [ -z "$(PYTHON312)" ]; then \
	  echo "error: Python 3.12 not found. Install it (e.g. 'pyenv install 3.12' or your OS package python3.12)," \
	       "or point to it: make PYTHON312=/path/to/python3.12" >&2; exit 1; fi
	@if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then rm -rf $(VENV); fi
	$(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@echo "installing pinned dependencies (hummingbot compiles on first install: ~5 minutes)"
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

demo: install
	$(DEMO_ENV) ./scripts/demo.sh $(VENV)/bin/hbopt

test: install
	$(PY) -m pytest -n 2 -q

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache
