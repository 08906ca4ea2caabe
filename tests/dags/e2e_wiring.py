"""
Every ID argument given a task's result (its XComArg, ``task.output``), as DAG authors write it
first: no ``["job_id"]`` anywhere. Run under ``airflow dags test`` by the end-to-end tests.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG

from airflow_provider_sov.operators.broker import DFileDownloadOperator, DFileGenerateOperator
from airflow_provider_sov.operators.sov import (
    SovAddLocationsOperator,
    SovDownloadOutputsOperator,
    SovGetOrCreateOutputOperator,
    SovInitiateUpdateOperator,
    SovParseOperator,
    SovStartUpdateOperator,
)
from airflow_provider_sov.retries import retry_policy_args
from airflow_provider_sov.sensors.broker import DFileGenerationSensor, SubmissionValidationSensor
from airflow_provider_sov.sensors.sov import SovOutputSensor, SovParseSensor, SovUpdateSensor

DATA = Path(__file__).resolve().parents[1] / "data"
OUT = "{{ dag_run.conf['destination'] }}"
fast = {"deferrable": True, "poke_interval": 1}

with DAG(dag_id="e2e_result_wiring", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    # SOV Fixer: a parse, its SOV updated, the update's outputs, one more output of it.
    parse = SovParseOperator(
        task_id="parse", file=str(DATA / "harbor_storage_sov.xlsx"), wait_for_completion=False
    )
    parsed = SovParseSensor(task_id="parsed", sov_id=parse.output, **fast)
    initiate = SovInitiateUpdateOperator(task_id="initiate", sov_id=parsed.output, update_type="SCRUB")
    start = SovStartUpdateOperator(task_id="start", sud_id=initiate.output)
    updated = SovUpdateSensor(task_id="updated", sud_id=start.output, **fast)
    SovDownloadOutputsOperator(task_id="download", sud_id=updated.output, destination=f"{OUT}/update")
    output = SovGetOrCreateOutputOperator(
        task_id="output", id=updated.output, output_format="xlsx", wait_for_completion=False
    )
    SovOutputSensor(task_id="output_ready", request_id=output.output, **fast)
    # Corrections go to the SOV they were written for.
    fix = SovInitiateUpdateOperator(task_id="fix", sov_id="s-no-ping-hggcsk")
    SovAddLocationsOperator(task_id="add", sud_id=fix.output, locations=str(DATA / "corrections.csv"))

    # The Broker: a validated submission's D1, generated, waited on and downloaded by its result.
    validated = SubmissionValidationSensor(task_id="validated", submission_id=1001, **fast)
    generate = DFileGenerateOperator(
        task_id="generate", submission_id=validated.output, file_type="D1", wait_for_completion=False
    )
    generated = DFileGenerationSensor(
        task_id="generated", submission_id=generate.output, file_type="D1", **fast
    )
    DFileDownloadOperator(
        task_id="d1", submission_id=generated.output, file_type="D1", destination=f"{OUT}/broker"
    )
    # A detached file: its job ID flows the same way.
    detached = DFileGenerateOperator(
        task_id="detached",
        file_type="D2",
        cgac_code="097",
        start="10/01/2025",
        end="12/31/2025",
        wait_for_completion=False,
    )
    detached_done = DFileGenerationSensor(task_id="detached_done", job_id=detached.output, **fast)
    DFileDownloadOperator(task_id="d2", job_id=detached_done.output, destination=f"{OUT}/detached")


with DAG(dag_id="e2e_retry_policy", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    # The same unknown SUD twice, each with two retries a second apart: the policy fails the one
    # that has it at its first try (a 404 does not heal); the other spends its retries.
    retries = {"retries": 2, "retry_delay": pendulum.duration(seconds=1), "deferrable": False}
    SovUpdateSensor(task_id="with_policy", sud_id="s-no-ping-nosuch-r404", **retries, **retry_policy_args())
    SovUpdateSensor(task_id="without_policy", sud_id="s-no-ping-nosuch-r404", **retries)
