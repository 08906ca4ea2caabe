# Two commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check lint unit reliability bench emulator clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test,bench]'
	@touch $(STAMP)

## demo: start the local emulator and run a real SOV update against it
demo: $(STAMP)
	$(BIN)/python -m airflow_provider_sov.testing.demo --destination out

## test: lint, type-check and run the whole suite
test: lint unit

## check: the inner loop: lint, types and every test but the real-Airflow and benchmark ones
#   Two independent halves run side by side (2 cores): the reliability matrices, and the rest.
check: lint
	@mkdir -p .check
	@( $(BIN)/pytest -q -m "not slow" -p no:cacheprovider --basetemp=.check/tmp tests/reliability \
	    > .check/reliability.log 2>&1; echo $$? > .check/reliability.rc ) & \
	$(BIN)/pytest -q -m "not slow" --ignore=tests/reliability; rest=$$?; wait; \
	echo "--- tests/reliability ---"; cat .check/reliability.log; \
	test $$rest -eq 0 && test "$$(cat .check/reliability.rc)" -eq 0

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

## reliability: the fault, restart, bad-input, secrets, file-name and TLS suite alone, with its report
reliability: $(STAMP)
	$(BIN)/pytest tests/reliability -q

## bench: the figures performance claims rest on, each beside a peer's (about 25 minutes)
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

## emulator: run the emulator in the foreground (PORT=8765)
emulator: $(STAMP)
	$(BIN)/python -m airflow_provider_sov.testing --port $${PORT:-8765}

clean:
	rm -rf $(VENV) out .demo .check .pytest_cache .mypy_cache .ruff_cache
