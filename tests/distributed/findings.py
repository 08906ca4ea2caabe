"""What the distributed run measured (printed at the end; ``docs/reliability.md`` shows it), and helpers."""

from __future__ import annotations

from airflow_provider_sov.testing.distributed import TRIGGERERS
from tests.reliability.report import Report

#: Rows of the "Distributed run" table, recorded by each test before it asserts.
DISTRIBUTED = Report()


def history_watchers(stack) -> list[tuple[int, int | None]]:
    """(trigger ID, triggerer job ID) of each running SOV history watcher."""
    return [
        (trigger_id, triggerer)
        for trigger_id, classpath, triggerer in stack.query("select id, classpath, triggerer_id from trigger")
        if classpath.endswith("SovHistoryTrigger") and triggerer is not None
    ]


def updates_of(emulator, *, sov_id: str | None = None, client_ref: str | None = None) -> list:
    with emulator.lock:
        return [
            j
            for j in emulator.sov.jobs.values()
            if j.kind == "update"
            and (sov_id is None or j.sov_id == sov_id)
            and (client_ref is None or j.client_ref == client_ref)
        ]


def stored(stack, uri: str) -> bytes:
    """The bytes of an object the tasks reported, read with the test's own S3 client."""
    bucket, _, key = uri.split("@", 1)[1].partition("/")
    return stack.s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def triggerer_name(stack, job_id: int) -> str:
    """Which of the stack's triggerers runs as job ``job_id`` (each reports its own name as hostname)."""
    ((name,),) = stack.query("select hostname from job where id=?", job_id)
    assert name in TRIGGERERS, name
    return str(name)
