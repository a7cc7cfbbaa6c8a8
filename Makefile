# The two commands of the README.  Each creates .venv if missing and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pytest workers: four on this 2-core machine.  The heavy tests (end-to-end runs, servers, browser) run in
# two streams, one worker each (tests/conftest.py); the other two run the short tests, most of which wait
# (timers, subprocesses, servers) rather than compute, so both cores stay busy to the end.
TEST_WORKERS ?= 4

.PHONY: demo test lint bench clean-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

## make demo: the end-to-end demo on the embedded defaults (SQLite + local engine)
demo: $(STAMP)
	$(BIN)/python -m compileall -q src
	$(BIN)/wms2 demo --home $(or $(WMS2_HOME),.wms2-demo)

## make test: the whole test suite (SQLite and PostgreSQL), plus ruff.  Bytecode is cached even where the
## environment sets PYTHONDONTWRITEBYTECODE: the suite starts thousands of Python processes, and each
## would otherwise compile wms2 (and the tests) from source again.
test: $(STAMP)
	@echo "make test: started at $$(date -u +%H:%M:%S)"
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-chromium.sh
	bash scripts/ensure-rucio.sh
	bash scripts/ensure-reqmgr2.sh
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m compileall -q src
	WMS2_TEST_STARTED=$$(date +%s) env -u PYTHONDONTWRITEBYTECODE \
	  $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/engine_throughput.py --nodes 2000
	$(BIN)/python bench/plan_throughput.py --nodes 100000
	$(BIN)/python bench/lifecycle_cycle.py
	$(BIN)/python bench/api_latency.py

clean-venv:
	rm -rf $(VENV)
