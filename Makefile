# Each target creates .venv and installs the project on first use, so a fresh clone needs
# nothing but Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test soak bench lint format install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dunlin demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Hundreds of seeded fault schedules (worker kill -9, Redis flush/restart, PostgreSQL
# restart, provider timeouts) through the dispatch path; `make test` runs three.
SOAK_SEEDS ?= 200
soak: $(STAMP)
	DUNLIN_FAULT_SEEDS=$$(seq -s, 1 $(SOAK_SEEDS)) $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/integration/reminders/test_fault_schedules.py

bench: $(STAMP)
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/plan_bench.py
	$(BIN)/python bench/sync_bench.py
	$(BIN)/python bench/sync_bench.py --latency-ms 300
	$(BIN)/python bench/dispatch_bench.py
	$(BIN)/python bench/webhooks_bench.py
	$(BIN)/python bench/webhooks_bench.py --postgres
	$(BIN)/python bench/writeback_bench.py
	$(BIN)/python bench/writeback_bench.py --latency-ms 300

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .dunlin .pytest_cache .ruff_cache
