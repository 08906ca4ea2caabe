# Two commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The browser the web-UI test drives: Debian's Chromium (Playwright downloads none here).
CHROMIUM := /usr/bin/chromium

# The Airflow minors the package declares (pyproject: apache-airflow>=X), each tested in a venv of its
# own: the newest 3.0, 3.1 and 3.2, and 3.3.0 (.venv has the newest 3.3). Each venv is installed with
# its release's version set (tests/versions/constraints-<release>.txt), so it cannot drift.
AIRFLOW_FLOOR := $(shell sed -n 's/^ *"apache-airflow>=\([0-9.]*\)".*/\1/p' pyproject.toml)
VERSIONS      := 3.0.6 3.1.8 3.2.2 3.3.0
VERSION_VENVS := $(foreach v,$(VERSIONS),.venv-airflow-$(v)/.installed)
# What can differ by version: the compat layer and the fallback records (retries that reattach,
# every kind), waits in every mode, object storage, the history watcher, starting and ending in the
# triggerer, the outage rule, the connection forms and the providers page, the Broker's submitting
# operators (their upload a guarded step, their wait in every mode, publishing only when confirmed) ...
VERSION_TESTS := tests/test_compat.py tests/test_waits.py tests/test_steps.py tests/test_files.py \
    tests/test_object_storage.py tests/test_history_trigger.py tests/test_triggerer_waits.py \
    tests/test_broker_submit_operators.py \
    tests/test_outage.py tests/test_provider.py::test_providers_manager_reads_forms \
    tests/test_provider.py::test_the_providers_page_links_to_real_documentation \
    tests/test_provider.py::test_airflow_cli_lists_provider_and_connection_types
# ... and real Airflow with the real triggerer, its records in the fallback Variable before 3.3: a
# new SOV's task killed mid-wait and retried, a composite update whose start fails and is retried,
# and the three jobs whose creating answer is lost, found again by their client_ref on the retry.
VERSION_E2E := tests/reliability/test_restarts.py::test_task_killed_mid_wait_resumes_its_submission \
    tests/test_airflow_e2e.py::test_retry_resumes_without_a_second_update \
    tests/test_airflow_e2e.py::test_a_lost_creating_answer_ends_with_one_job_after_airflows_retry_under_dags_test
# 3.3.0 shares its minor with .venv's newest 3.3, on which the main groups run everything: it runs
# only what differs within 3.3 (the compat layer: before 3.3.2 Airflow's async connection lookup
# blocks the event loop, so the package looks connections up in a thread there).
SAME_MINOR       := 3.3.0
SAME_MINOR_TESTS := tests/test_compat.py
RUN_VERSIONS     ?= $(VERSIONS)

.PHONY: demo test check lint unit distributed load versions reliability bench emulator dist docs airflow clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test,bench,docs,dist,browser]'
	@touch $(STAMP)

## demo: start the local emulator and run a real SOV update against it
demo: $(STAMP)
	$(BIN)/python -m airflow_provider_sov.testing.demo --destination out

## test: lint, type-check and run the whole suite, as groups side by side on 2 cores (see
#   docs/guide/contributing.md for where the time goes):
#   - unit: every test but real Airflow and the benchmarks, with the loop-stall detectors: the one
#     group at normal priority, so a detector gets the CPU it measures with;
#   - stack: the tests on the one real Airflow stack they share;
#   - airflow: real Airflow started per test (`airflow dags test`, the browser, `make airflow`), the
#     benchmarks' smoke runs and the outage ridden out in every mode;
#   - distributed: Celery, Postgres, two triggerers and S3;
#   - versions-a (3.0.6 and 3.3.0, then release: the docs site and the wheel) and versions-b (3.1.8
#     and 3.2.2): the other Airflow releases declared.
#   Each group prints its 15 slowest tests and its wall and CPU seconds; every log is printed at the end.
GROUP := $(BIN)/python tests/group.py
# Each group has a temporary folder of its own: a pytest session starting beside another resets
# /tmp/pytest-of-<user> to 0700, which cuts off the Postgres (run as another user) of a running one.
PYTEST_GROUP := $(BIN)/pytest -p no:cacheprovider --durations=15 --ignore=tests/distributed
LANE_A := $(word 1,$(VERSIONS)) $(word 4,$(VERSIONS))
LANE_B := $(word 2,$(VERSIONS)) $(word 3,$(VERSIONS))
test: lint $(VERSION_VENVS) $(CHROMIUM)
	@rm -rf .test && mkdir -p .test
	@began=$$(date +%s); \
	( $(GROUP) unit $(PYTEST_GROUP) --basetemp=.test/tmp-unit -m "not slow" > .test/unit.log 2>&1; echo $$? > .test/unit.rc ) & \
	( nice -n 5 $(GROUP) stack $(PYTEST_GROUP) --basetemp=.test/tmp-stack -m "slow and airflow_stack" > .test/stack.log 2>&1; \
	    echo $$? > .test/stack.rc ) & \
	( SOV_BROWSER=$(CHROMIUM) nice -n 5 $(GROUP) airflow $(PYTEST_GROUP) --basetemp=.test/tmp-airflow \
	    -m "slow and not airflow_stack" \
	    > .test/airflow.log 2>&1; echo $$? > .test/airflow.rc ) & \
	( nice -n 10 $(GROUP) distributed $(MAKE) --no-print-directory distributed > .test/distributed.log 2>&1; \
	    echo $$? > .test/distributed.rc ) & \
	( nice -n 10 $(GROUP) versions-a $(MAKE) --no-print-directory versions RUN_VERSIONS="$(LANE_A)" \
	    > .test/versions-a.log 2>&1; echo $$? > .test/versions-a.rc; \
	  nice -n 10 $(GROUP) release sh -c '$(MAKE) --no-print-directory docs && $(MAKE) --no-print-directory dist' \
	    > .test/release.log 2>&1; echo $$? > .test/release.rc ) & \
	( nice -n 10 $(GROUP) versions-b $(MAKE) --no-print-directory versions RUN_VERSIONS="$(LANE_B)" \
	    > .test/versions-b.log 2>&1; echo $$? > .test/versions-b.rc ) & \
	wait; failed=""; for group in unit stack airflow distributed versions-a versions-b release; do \
	    echo "=== make test: group $$group (exit $$(cat .test/$$group.rc)) ==="; cat .test/$$group.log; \
	    test "$$(cat .test/$$group.rc)" -eq 0 || failed="$$failed $$group"; done; \
	grep -h "^=== group " .test/*.log; \
	$(BIN)/python tests/summary.py make-test $$began $$(test -z "$$failed"; echo $$?); \
	test -z "$$failed" || { echo "failed groups:$$failed"; exit 1; }

## distributed: the end-to-end tests on Celery, Postgres, Redis, two workers, two triggerers and S3
distributed: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider --durations=15 --basetemp=.test/tmp-distributed tests/distributed

## load: the distributed load at full size (200 mapped updates of 60 s, 20 D-file generations) and
#   its figures (wall time, worker-slot seconds per job, triggerer CPU and loop lag, polls per job);
#   make test runs it at 50 updates of 20 s and 4 generations
load: $(STAMP)
	SOV_LOAD_UPDATES=200 SOV_LOAD_D_FILE_RUNS=5 SOV_LOAD_JOB_SECONDS=60 \
	    $(BIN)/pytest -p no:cacheprovider --basetemp=.test/tmp-load tests/distributed/test_distributed.py -k test_load

## versions: on each Airflow release in VERSIONS (or RUN_VERSIONS), the tests whose behaviour can
#   differ by version and real Airflow runs through the real triggerer (the loop-stall detectors
#   measure this package's code, not Airflow's: the unit group runs them)
versions: $(VERSION_VENVS)
	@test "$$(echo $(word 1,$(VERSIONS)) | cut -d. -f1-2)" = "$(AIRFLOW_FLOOR)" || \
	    { echo "pyproject declares apache-airflow>=$(AIRFLOW_FLOOR); the oldest tested is $(word 1,$(VERSIONS))"; exit 1; }
	@failed=""; for v in $(RUN_VERSIONS); do echo "=== Airflow $$v ==="; \
	    if [ "$$v" = "$(SAME_MINOR)" ]; then tests="$(SAME_MINOR_TESTS)"; e2e=""; \
	    else tests="$(VERSION_TESTS)"; e2e="$(VERSION_E2E)"; fi; \
	    .venv-airflow-$$v/bin/python -c "import airflow; assert airflow.__version__ == '$$v', airflow.__version__" && \
	    .venv-airflow-$$v/bin/pytest -q -p no:cacheprovider --durations=15 --basetemp=.test/tmp-$$v \
	        -m "not slow and not loop_timing" $$tests && \
	    { test -z "$$e2e" || .venv-airflow-$$v/bin/pytest -q -p no:cacheprovider --durations=15 \
	        --basetemp=.test/tmp-$$v-e2e --timeout=600 $$e2e; } \
	    || failed="$$failed $$v"; \
	done; test -z "$$failed" || { echo "failed on Airflow$$failed"; exit 1; }

.venv-airflow-%/.installed: tests/versions/constraints-%.txt pyproject.toml $(STAMP)
	$(PYTHON) -m venv .venv-airflow-$*
	$(BIN)/uv pip install --quiet --python .venv-airflow-$*/bin/python -c tests/versions/constraints-$*.txt \
	    -e '.[test]' 'apache-airflow==$*'
	@touch $@

$(CHROMIUM):
	@command -v apt-get > /dev/null || { echo "install Chromium at $(CHROMIUM) (the browser test drives it)"; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium > /dev/null || \
	    { apt-get update -q > /dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium > /dev/null; }

## check: the inner loop: lint, types and every test but the real-Airflow and benchmark ones, in
#   two lanes side by side (2 cores; the tests mostly wait on the emulator's real-time jobs): the
#   reliability matrices (they print their report) then the loop-stall detectors, and the rest in
#   three pytest-xdist workers, a file to a worker
check: lint
	@mkdir -p .check
	@( { $(BIN)/pytest -q -m "not slow" -p no:cacheprovider --basetemp=.check/tmp tests/reliability && \
	     $(BIN)/pytest -q -m "loop_timing" -p no:cacheprovider --basetemp=.check/tmp-timing \
	         --ignore=tests/distributed; } > .check/reliability.log 2>&1; echo $$? > .check/reliability.rc ) & \
	$(BIN)/pytest -q -m "not slow and not loop_timing" -p no:cacheprovider -n 3 --dist loadfile \
	    --ignore=tests/reliability --ignore=tests/distributed; rest=$$?; wait; \
	echo "--- tests/reliability, then the loop-stall detectors ---"; cat .check/reliability.log; \
	test $$rest -eq 0 && test "$$(cat .check/reliability.rc)" -eq 0

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

## reliability: the fault, restart, bad-input, secrets, file-name and TLS suite, with the real-Airflow
#   runs its every-example secret scan reads (tests/test_airflow_e2e.py); writes its report for the docs
reliability: $(STAMP)
	SOV_REPORT_FILE=docs/_generated/reliability.md $(BIN)/pytest tests/reliability tests/test_airflow_e2e.py -q

## bench: the figures performance claims rest on, each beside a peer's (about 30 minutes)
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

## emulator: run the emulator in the foreground (PORT=8765)
emulator: $(STAMP)
	$(BIN)/python -m airflow_provider_sov.testing --port $${PORT:-8765}

## airflow: a local Airflow (API server, scheduler, DAG processor, triggerer) with the emulator, its
#   connections and the example DAGs; prints the URL and the login; Ctrl-C stops everything
airflow: $(STAMP)
	$(BIN)/python -m airflow_provider_sov.testing.local_airflow

## docs: every Markdown file checked to render as written (README, CHANGELOG, docs/), then the docs
#   site under docs/_build/html (warnings are errors; every link within it checked)
docs: $(STAMP)
	$(BIN)/python docs/check_markdown.py
	@rm -rf docs/_build
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	$(BIN)/python docs/check_site.py

## dist: build the sdist and wheel, check them (twine), install the wheel beside Airflow in a clean
#   venv, import every module and read the provider with `airflow providers list`
dist: $(STAMP)
	@rm -rf dist
	$(BIN)/uv build --quiet --out-dir dist
	$(BIN)/python tests/release/check_dist.py

clean:
	rm -rf $(VENV) .venv-airflow-* out dist .demo .check .test .pytest_cache .mypy_cache .ruff_cache
