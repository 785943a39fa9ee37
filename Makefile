# Each target creates .venv and installs the project on first use, so a fresh clone needs
# nothing but Python 3.11+ and make. The dependencies come from $(LOCK): exact versions with
# their hashes, installed by plain pip, so every install gets what the suite last passed on.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements-lock.txt
# The lock tool, only for `make lock`: uv's `pip compile` is one self-contained binary from PyPI
# (it does not break with each pip release as pip-tools can), resolves in about a second, writes
# the hashes, and resolves for every platform and Python >= 3.11 at once (--universal).
UV := uv==0.13.8
LATEST := .venv-latest
# Passed to pytest by `test` and `test-latest`, e.g. make test PYTEST_ARGS=tests/unit
PYTEST_ARGS ?=

.PHONY: demo test soak bench lint format install lock test-latest clean

$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check || { echo "$(LOCK) does not satisfy pyproject.toml: run make lock"; exit 1; }
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dunlin demo

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

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

# mypy: [tool.mypy] in pyproject.toml. It insists every `type: ignore` names its error code;
# the grep insists each also says why, after it (`# type: ignore[code]  # reason`).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	@! grep -rnE --include='*.py' 'type: ignore(\[[^]]*\])? *$$' \
		dunlin mappings connectors sync reminders usecases webhooks cli \
		|| { echo 'each type: ignore above needs a reason after it'; exit 1; }

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-resolve $(LOCK) to the newest versions pyproject.toml allows (then `make test`).
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet '$(UV)'
	$(BIN)/uv pip compile pyproject.toml --extra test --universal --python-version 3.11 \
		--generate-hashes --upgrade --custom-compile-command 'make lock' --output-file $(LOCK)

# The suite on the newest versions pyproject.toml allows (what `pip install dunlin` would get
# today), in its own venv so .venv keeps the locked ones.
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST)/bin/python -m pip install --quiet -e '.[test]'
	$(LATEST)/bin/python -m pip freeze --exclude-editable > $(LATEST)/versions.txt
	$(LATEST)/bin/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(LATEST) .dunlin .pytest_cache .ruff_cache .mypy_cache
