# Every target creates or reuses .venv and installs what it needs: on a fresh machine
# `make demo` and `make test` are the only two commands to run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
PYTEST_ARGS ?=

.PHONY: help venv install demo test lint format bench bench-quick bench-peers clean

help:
	@echo "make demo         install core + plugins into $(VENV), show the registry, stream a routed chat"
	@echo "make test         install (non-editable) and run the test suite"
	@echo "make lint         ruff check + ruff format --check"
	@echo "make bench        full benchmarks -> bench/RESULTS.md (make bench-quick: under a minute)"
	@echo "make bench-peers  install llm + litellm into $(PEERS_VENV) for the peer rows of make bench"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

venv: $(BIN)/python

# Non-editable on purpose: it catches packaging and entry-point mistakes. The in-tree build
# directories go first: setuptools never empties them, so a module deleted from the source
# would otherwise still be installed.
install: venv
	rm -rf build $(PLUGINS:%=%/build)
	$(BIN)/python -m pip install --quiet --no-build-isolation ".[test,server,redis,metrics,tracing]" $(PLUGINS:%=./%)

demo: install
	$(BIN)/python scripts/demo.py

# The pytest console script (not `python -m pytest`) keeps the source tree off sys.path,
# so the tests import the installed packages. Exit code 5 ("no tests ran") fails.
test: install
	@PROVIDER_CORE_EXPECT_INSTALLED=1 $(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest ran no tests" >&2; exit 1; fi; exit $$rc

lint: venv
	$(BIN)/python -m pip install --quiet "ruff==0.17.6"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench

bench-quick: install
	$(BIN)/python -m bench --quick

# Peers (llm, LiteLLM) go into their own venv so they never touch ours; `make bench` then
# compares against them (it looks for $(PEERS_VENV), or BENCH_PEERS_VENV).
PEERS_VENV ?= .bench-peers-venv
bench-peers:
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet llm 'litellm[proxy]'
	@echo "peers installed in $(PEERS_VENV); now run: make bench"

clean:
	rm -rf $(VENV) $(PEERS_VENV) build *.egg-info plugins/*/build plugins/*/*.egg-info .pytest_cache
