"""
End to end on the distributed stack (Celery executor, Postgres, two workers sharing no disk, two
triggerers, files on a real S3 API): what a team running Airflow that way would check.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import time

import pytest

from airflow_provider_sov.testing.distributed import TRIGGERERS, WAREHOUSE_CONN_ID, WORKERS
from tests.distributed.findings import DISTRIBUTED, history_watchers, stored, triggerer_name, updates_of

pytestmark = [pytest.mark.airflow_cli, pytest.mark.timeout(900)]

#: The updates the event-driven case makes (each must trigger exactly one run of the example).
EVENT_UPDATES = 20


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: The load: mapped updates, Broker D-file runs (four generations each) and each update's length.
#: ``make test`` runs this size; ``make load`` the full one (200 updates, 5 runs: 20 generations).
LOAD_UPDATES = int(os.environ.get("SOV_LOAD_UPDATES", "50"))
LOAD_D_FILE_RUNS = int(os.environ.get("SOV_LOAD_D_FILE_RUNS", "1"))
LOAD_JOB_SECONDS = float(os.environ.get("SOV_LOAD_JOB_SECONDS", "20"))
#: sov_update_mapped's poll interval (seconds), for the requests per job per interval.
MAPPED_POLL_SECONDS = 2
#: The first of the validated submissions the load's D-file runs generate for (one each).
LOAD_SUBMISSION = 5001
WORKLOAD = re.compile(r"Workload finished .*?final_state=(\w+) .*?workload_id=([0-9a-f-]+)")
WORKLOAD_SECONDS = re.compile(r"Workload finished .*?duration=([0-9.]+) .*?workload_id=([0-9a-f-]+)")


def triggerer_cpu(stack) -> dict[str, float]:
    """CPU seconds (user + system) each triggerer's processes have used so far."""
    import psutil

    used: dict[str, float] = {}
    for name in TRIGGERERS:
        root = psutil.Process(stack.procs[name].pid)
        times = [p.cpu_times() for p in [root, *root.children(recursive=True)]]
        used[name] = sum(t.user + t.system for t in times)
    return used


def workload_seconds(stack, ti_ids: set[str]) -> dict[str, float]:
    """
    Seconds each task instance's workloads held a worker slot, as each Celery worker's supervisor
    logs them ("Workload finished ... duration=... workload_id=<TI ID>"); waits until every task
    instance's last workload (the one that ended it) is logged.
    """

    def logs() -> str:
        return "".join((stack.root / f"{w}.log").read_text(errors="replace") for w in WORKERS)

    stack.wait_for(
        lambda: (
            ti_ids
            <= {
                ti for state, ti in WORKLOAD.findall(logs()) if state in ("success", "failed", "up_for_retry")
            }
        ),
        300,
        "every task's last workload to be logged by its worker",
    )
    seconds: dict[str, float] = dict.fromkeys(ti_ids, 0.0)
    for duration, ti in WORKLOAD_SECONDS.findall(logs()):
        if ti in seconds:
            seconds[ti] += float(duration)
    return seconds


def lag_probes(stack, stop_file) -> dict[str, str]:
    """
    Loop-lag probes (``dist_lag_probe``) in the triggerers: triggerer -> the probe's run. Airflow
    places a trigger on whichever triggerer asks first, with no way to choose, so up to four are
    started one at a time until both triggerers hold one; often one triggerer takes them all, and
    the other's loop goes unprobed (its row says so). Every extra probe ends with the others.
    """
    probes: dict[str, str] = {}
    for _ in range(4):
        run = stack.trigger("dist_lag_probe", {"stop_file": str(stop_file)})

        def holder(run: str = run) -> int | None:
            rows = stack.query(
                "select t.triggerer_id from trigger t join task_instance ti on ti.trigger_id = t.id "
                "where ti.dag_id='dist_lag_probe' and ti.run_id=?",
                run,
            )
            return rows[0][0] if rows and rows[0][0] else None

        stack.wait_for(holder, 300, f"the loop-lag probe {run} to run in a triggerer")
        probes.setdefault(triggerer_name(stack, holder()), run)
        if set(probes) == set(TRIGGERERS):
            break
    return probes


def test_load_mapped_updates_and_d_files_land_whole_in_s3(dist, tmp_path):
    """
    The load: LOAD_UPDATES mapped updates and LOAD_D_FILE_RUNS D-file runs at once, on two workers
    and two triggerers: one job per task, every file whole and byte-identical in the bucket, and
    what the load cost (wall time, worker-slot seconds per job, triggerer CPU and loop lag, polls).
    """

    emulator, s3 = dist.emulator, dist.s3
    bucket = s3.make_bucket("mapped-and-d-files")
    sov_ids = [emulator.sov.add_sov(f"s-no-ping-m{i:03d}") for i in range(LOAD_UPDATES)]
    for sov_id in sov_ids:
        emulator.sov.set_job_seconds(sov_id, LOAD_JOB_SECONDS)
    stop_probes = tmp_path / "stop-probes"
    probes = lag_probes(dist, stop_probes)
    cpu_before, reads_before = triggerer_cpu(dist), emulator.count("update_status")
    began = time.monotonic()
    mapped = dist.trigger(
        "sov_update_mapped", {"sov_ids": sov_ids, "destination": f"s3://aws_default@{bucket}/mapped"}
    )
    submissions = [emulator.broker.add_submission(LOAD_SUBMISSION + i) for i in range(LOAD_D_FILE_RUNS)]
    d_runs = [
        dist.trigger(
            "broker_d_files",
            {
                "submission_id": submission,
                "start": "01/01/2026",
                "end": "03/31/2026",
                "destination": f"s3://aws_default@{bucket}/broker",  # then submission-<ID>/
            },
        )
        for submission in submissions
    ]
    mapped_state = dist.wait_run("sov_update_mapped", mapped, 900)
    d_states = [dist.wait_run("broker_d_files", run, 900) for run in d_runs]
    wall = time.monotonic() - began
    cpu_after, reads = triggerer_cpu(dist), emulator.count("update_status") - reads_before
    stop_probes.touch()
    lags = {}
    for run in probes.values():
        dist.wait_run("dist_lag_probe", run, 300)
        lag = dist.xcom("dist_lag_probe", "probe", run)
        # A probe reports the loop it ran in last: a triggerer whose heartbeat came late under the
        # load hands its triggers to the other, and the probe goes with them.
        lags.setdefault(lag["host"], lag)

    expected: dict[str, bytes] = {}
    jobs_per_task = []
    workers = set()
    for index, sov_id in enumerate(sov_ids):
        result = dist.xcom("sov_update_mapped", "refresh", mapped, map_index=index)
        jobs_per_task.append(len(updates_of(emulator, sov_id=sov_id)))
        workers.add(dist.worker_of("sov_update_mapped", mapped, "refresh", index))
        for f in result["files"]:
            expected[f["uri"]] = emulator.sov.file_bytes(result["job_id"], f["filename"])
    generations: list[int] = []
    for run in d_runs:
        for task_id in ("generate_d1", "generate_d2", "generate_e", "generate_f"):
            result = dist.xcom("broker_d_files", task_id, run)
            generations.append(int(result["job_id"]))
            (saved,) = result["files"]
            expected[saved["uri"]] = emulator.broker.file_bytes(int(result["job_id"]))
    with emulator.lock:
        requested = [
            (g.submission_id, g.file_type)
            for g in emulator.broker.jobs.values()
            if g.submission_id in submissions
        ]
    identical = [stored(dist, uri) == data for uri, data in expected.items()]
    keys = s3.keys(bucket)
    stray = sorted(set(keys) - {uri.split("@", 1)[1].partition("/")[2] for uri in expected})
    unfinished = s3.unfinished_uploads(bucket)
    dag_of = {
        str(ti): run_dag
        for run_dag, run in [("sov_update_mapped", mapped), *(("broker_d_files", r) for r in d_runs)]
        for (ti,) in dist.query("select id from task_instance where dag_id=? and run_id=?", run_dag, run)
    }
    slots = workload_seconds(dist, set(dag_of))
    slot_seconds = {d: sum(v for ti, v in slots.items() if dag_of[ti] == d) for d in set(dag_of.values())}
    cpu = sum(cpu_after.values()) - sum(cpu_before.values())
    DISTRIBUTED.row(
        "Load",
        load=f"{LOAD_UPDATES} mapped updates ({LOAD_JOB_SECONDS:.0f} s each) and {len(generations)} D-file generations",
        run=f"{mapped_state}, {', '.join(sorted(set(d_states)))}",
        **{"jobs per task (must be 1)": ", ".join(map(str, sorted(set(jobs_per_task))))},
        files=f"{sum(identical)} of {len(identical)} byte-identical",
        **{"stray or unfinished (must be 0)": len(stray) + len(unfinished)},
        wall=f"{wall:.0f} s",
        **{
            "worker-slot s per update / per generation": f"{slot_seconds['sov_update_mapped'] / LOAD_UPDATES:.1f}"
            f" / {slot_seconds['broker_d_files'] / len(generations):.1f}"
        },
        **{"triggerer CPU s": " + ".join(f"{cpu_after[t] - cpu_before[t]:.1f}" for t in TRIGGERERS)},
        **{
            "loop lag p99": " / ".join(
                f"{lags[t]['p99'] * 1000:.0f} ms" if t in lags else "not probed" for t in TRIGGERERS
            )
        },
        **{
            "status reads per update per interval": f"{reads / (LOAD_UPDATES * LOAD_JOB_SECONDS / MAPPED_POLL_SECONDS):.2f}"
        },
        note=f"tasks ran on {', '.join(sorted(w or '?' for w in workers))}; {cpu / max(1, reads) * 1000:.1f} ms triggerer CPU per status read",
    )
    assert mapped_state == "success" and set(d_states) == {"success"}
    assert jobs_per_task == [1] * LOAD_UPDATES
    assert len(generations) == len(set(generations)) == 4 * LOAD_D_FILE_RUNS
    assert len(requested) == len(set(requested)) == 4 * LOAD_D_FILE_RUNS  # none generated twice
    assert len(expected) == LOAD_UPDATES + 4 * LOAD_D_FILE_RUNS and all(identical)
    assert stray == [] and unfinished == []
    assert workers == {"worker-1", "worker-2"}  # the load was shared
    assert lags and set(lags) <= set(TRIGGERERS) and all(lag["samples"] > 0 for lag in lags.values()), lags


def test_a_task_on_the_other_worker_reads_the_files_through_xcom_and_asset_events(dist):
    emulator, s3 = dist.emulator, dist.s3
    bucket = s3.make_bucket("read-back")
    sov_id = emulator.sov.add_sov("s-no-ping-readback")
    run = dist.trigger("dist_read_back", {"sov_id": sov_id, "destination": f"s3://aws_default@{bucket}/out"})
    state = dist.wait_run("dist_read_back", run, 300)
    result = dist.xcom("dist_read_back", "update", run)
    truth = {
        f["uri"]: sha256(emulator.sov.file_bytes(result["job_id"], f["filename"])) for f in result["files"]
    }
    via_xcom = dist.xcom("dist_read_back", "read_back", run)

    def event_run() -> str | None:
        rows = dist.query("select run_id from dag_run where dag_id='dist_read_events' and state='success'")
        return rows[0][0] if rows else None

    dist.wait_for(event_run, 180, "the run on the asset event")
    via_events = dist.xcom("dist_read_events", "read_events", event_run())
    where = (
        dist.worker_of("dist_read_back", run, "update"),
        dist.worker_of("dist_read_back", run, "read_back"),
    )
    DISTRIBUTED.row(
        "Distributed run",
        case="a task on the other worker reads the files (XCom URIs, asset events)",
        run=state,
        jobs=f"{len(updates_of(emulator, client_ref=run))} update",
        files=f"{len(truth)} files; read back identical: XCom {via_xcom == truth}, asset events {via_events == truth}",
        **{"stray objects": len(s3.unfinished_uploads(bucket))},
        note=f"written on {where[0]}, read on {where[1]}",
    )
    assert state == "success" and len(truth) == 2
    assert where == ("worker-1", "worker-2")
    assert via_xcom == truth and via_events == truth


def test_kill_9_of_the_triggerer_holding_the_waits(dist):
    """The other triggerer takes the waits over; each completes once, with its deadline unchanged."""
    emulator, s3 = dist.emulator, dist.s3
    bucket = s3.make_bucket("triggerer-kill")
    sov_ids = [emulator.sov.add_sov(f"s-no-ping-tk{i:02d}") for i in range(8)]
    for sov_id in sov_ids:
        emulator.sov.set_job_seconds(sov_id, 3600)  # until the test lets them finish, after the kill
    run = dist.trigger(
        "sov_update_mapped", {"sov_ids": sov_ids, "destination": f"s3://aws_default@{bucket}/w"}
    )

    def waits() -> dict[int, tuple[int | None, str]]:
        """trigger ID -> (triggerer job ID, trigger kwargs) of this run's deferred tasks."""
        rows = dist.query(
            "select t.id, t.triggerer_id, t.kwargs from task_instance ti join trigger t on t.id = ti.trigger_id "
            "where ti.dag_id='sov_update_mapped' and ti.run_id=? and ti.state='deferred'",
            run,
        )
        return {trigger_id: (triggerer, str(kwargs)) for trigger_id, triggerer, kwargs in rows}

    dist.wait_for(
        lambda: len(waits()) == 8 and all(t for t, _ in waits().values()), 300, "8 waits in triggerers"
    )
    before = waits()
    holders = [t for t, _ in before.values()]
    victim_job = max(set(holders), key=holders.count)
    victim = triggerer_name(dist, victim_job)
    taken_over = holders.count(victim_job)
    os.killpg(dist.procs.pop(victim).pid, signal.SIGKILL)
    dist.wait_for(
        lambda: all(t not in (None, victim_job) for t, _ in waits().values()),
        180,
        "the other triggerer to take over",
    )
    after = waits()
    for sov_id in sov_ids:
        for job in updates_of(emulator, sov_id=sov_id):
            emulator.sov.finish_now(job.job_id)
    state = dist.wait_run("sov_update_mapped", run, 300)
    tries = [
        t
        for (t,) in dist.query(
            "select try_number from task_instance where dag_id='sov_update_mapped' and run_id=? and task_id='refresh' order by map_index",
            run,
        )
    ]
    jobs = [len(updates_of(emulator, sov_id=s)) for s in sov_ids]
    dist.start_triggerer(victim)  # back to two for the tests that follow
    DISTRIBUTED.row(
        "Distributed run",
        case="kill -9 of the triggerer holding the waits",
        run=f"{state}; tries {sorted(set(tries))}",
        jobs=f"{sum(jobs)} updates for 8 tasks",
        files=f"{len(s3.keys(bucket))} objects",
        **{"stray objects": len(s3.unfinished_uploads(bucket))},
        note=f"{taken_over} of 8 waits taken over by the other triggerer; trigger rows and deadlines "
        + (
            "unchanged"
            if set(after) == set(before) and all(after[t][1] == before[t][1] for t in before)
            else "CHANGED"
        ),
    )
    assert set(after) == set(before) and all(
        after[t][1] == before[t][1] for t in before
    )  # deadlines in kwargs
    assert state == "success" and tries == [1] * 8 and jobs == [1] * 8
    assert len(s3.keys(bucket)) == 8 and s3.unfinished_uploads(bucket) == []


def test_kill_9_of_a_celery_worker_mid_download(dist):
    """Airflow's retry reattaches to the same update; the object is whole and nothing partial is left."""
    emulator, s3 = dist.emulator, dist.s3
    bucket = s3.make_bucket("worker-kill")
    sov_id = emulator.sov.add_sov("s-no-ping-workerkill", buildings=48_000)  # a JSON output of about 26 MB
    # Outlast Airflow's window in which the executor's late "success" for the deferring workload
    # fails a task already resumed (apache/airflow#67287, #72716), which would spend the retry.
    emulator.sov.set_job_seconds(sov_id, 15)
    # The first download stalls half way (13 MB: past the first 8 MiB part), long enough to be killed there.
    stall = emulator.inject("download", "truncate", delay=150, times=1, path_contains=f"/output/{sov_id}-r")
    run = dist.trigger(
        "dist_download_kill", {"sov_id": sov_id, "destination": f"s3://aws_default@{bucket}/out"}
    )
    dist.wait_for(lambda: stall.hits == 1 and s3.unfinished_uploads(bucket), 300, "the upload to be part way")
    worker = dist.worker_of("dist_download_kill", run, "update")
    assert worker is not None
    os.killpg(dist.procs.pop(worker).pid, signal.SIGKILL)  # the worker, its task supervisor and the task
    state = dist.wait_run("dist_download_kill", run, 600)
    dist.start_worker(worker)  # back to two for the tests that follow
    ((tries, retried_on),) = dist.query(
        "select try_number, hostname from task_instance where dag_id='dist_download_kill' and run_id=?", run
    )
    jobs = updates_of(emulator, client_ref=run)
    result = dist.xcom("dist_download_kill", "update", run)
    (saved,) = result["files"]
    identical = stored(dist, saved["uri"]) == emulator.sov.file_bytes(result["job_id"], saved["filename"])
    keys, unfinished = s3.keys(bucket), s3.unfinished_uploads(bucket)
    DISTRIBUTED.row(
        "Distributed run",
        case="kill -9 of the Celery worker mid-download (multipart upload begun)",
        run=f"{state} on try {tries}",
        jobs=f"{len(jobs)} update",
        files=f"{saved['size']:,} bytes, byte-identical: {identical}",
        **{"stray objects": len(keys) - 1 + len(unfinished)},
        note=f"killed {worker}; retried on {retried_on}; the killed try's upload aborted",
    )
    assert state == "success" and tries == 2 and len(jobs) == 1
    assert identical and saved["size"] > 20_000_000
    assert keys == [f"out/{saved['filename']}"] and unfinished == []


def test_warehouse_refresh_and_d1_load_into_postgres_once_per_logical_date(dist):
    import csv
    import io
    from urllib.parse import quote

    emulator, s3 = dist.emulator, dist.s3
    bucket = s3.make_bucket("warehouse")
    day, month = "2026-03-04T00:00:00+00:00", "2026-02-01T00:00:00+00:00"
    # Both examples run one at a time (max_active_runs=1) and are scheduled: the run Airflow made
    # for them when the stack started would queue this case's runs behind it, and behind its
    # retries (ten minutes apart for the D1 load) if a try of it failed. It is set aside first.
    for dag_id in ("sov_warehouse_refresh", "broker_d1_warehouse"):
        for (run,) in dist.query(
            "select run_id from dag_run where dag_id=? and state in ('queued', 'running')", dag_id
        ):
            dist.rest("PATCH", f"/dags/{dag_id}/dagRuns/{quote(run, safe='')}", {"state": "failed"})
    sov_run = dist.trigger(
        "sov_warehouse_refresh",
        {
            "sov_id": "s-no-ping-hggcsk",
            "destination": f"s3://aws_default@{bucket}/sov",
            "conn_id": WAREHOUSE_CONN_ID,
        },
        logical_date=day,
    )
    d1_run = dist.trigger(
        "broker_d1_warehouse",
        {
            "submission_id": 1001,
            "destination": f"s3://aws_default@{bucket}/broker",
            "conn_id": WAREHOUSE_CONN_ID,
        },
        logical_date=month,
    )
    states = [
        dist.wait_run("sov_warehouse_refresh", sov_run, 300),
        dist.wait_run("broker_d1_warehouse", d1_run, 300),
    ]

    def table(name: str, **key: str) -> list[tuple]:
        where = " and ".join(f"{k} = ?" for k in key)
        return dist.sql("warehouse", f"select * from {name} where {where} order by 3", *key.values())

    def csv_rows(uri: str) -> list[tuple]:
        rows = list(csv.reader(io.StringIO(stored(dist, uri).decode("utf-8-sig"))))[1:]
        return sorted(tuple(r) for r in rows)

    sov_loaded = dist.xcom("sov_warehouse_refresh", "load", sov_run)
    d1_loaded = dist.xcom("broker_d1_warehouse", "load", d1_run)
    sov_rows = table("sov_buildings", logical_date="2026-03-04", sov_id="s-no-ping-hggcsk")
    d1_rows = table("d1_awards", logical_date="2026-02-01", submission_id="1001")
    same = [
        sorted(r[2:] for r in sov_rows) == csv_rows(sov_loaded["file"]),
        sorted(r[2:] for r in d1_rows) == csv_rows(d1_loaded["file"]),
    ]

    # A rerun of the same day (its load task cleared) replaces that day's rows: none doubled.
    for dag_id, run in (("sov_warehouse_refresh", sov_run), ("broker_d1_warehouse", d1_run)):
        dist.python(
            "from airflow.models.taskinstance import TaskInstance, clear_task_instances\n"
            "from airflow.utils.session import create_session\n"
            "with create_session() as s:\n"
            f"    tis = s.query(TaskInstance).filter_by(dag_id={dag_id!r}, run_id={run!r}, task_id='load').all()\n"
            "    clear_task_instances(tis, s)\n"
            "print(len(tis))\n"
        )
    for dag_id, run in (("sov_warehouse_refresh", sov_run), ("broker_d1_warehouse", d1_run)):
        dist.wait_for(
            lambda dag_id=dag_id, run=run: (
                dist.query(
                    "select try_number from task_instance where dag_id=? and run_id=? and task_id='load' and state='success'",
                    dag_id,
                    run,
                )
                == [(2,)]
            ),
            300,
            f"the rerun of {dag_id}.load",
        )
    again = [
        table("sov_buildings", logical_date="2026-03-04", sov_id="s-no-ping-hggcsk"),
        table("d1_awards", logical_date="2026-02-01", submission_id="1001"),
    ]
    DISTRIBUTED.row(
        "Distributed run",
        case="warehouse refresh (SOV CSV) and D1 load into Postgres with COPY",
        run=", ".join(states),
        jobs=f"{len(updates_of(emulator, client_ref=f'sov_warehouse_refresh/{sov_run}'))} update, 1 D1 generation",
        files=f"{len(sov_rows)} + {len(d1_rows)} rows = the files' rows: {all(same)}",
        **{"stray objects": len(s3.unfinished_uploads(bucket))},
        note=f"rerun of the day: {len(again[0])} + {len(again[1])} rows (none doubled)",
    )
    assert states == ["success", "success"]
    assert len(sov_rows) == sov_loaded["rows"] > 0 and len(d1_rows) == d1_loaded["rows"] > 0
    assert all(same)
    assert again == [sov_rows, d1_rows]


def test_the_event_driven_example_runs_once_per_completed_update_with_two_triggerers(dist):
    """
    Each update that completes reaches the event-driven example in exactly one run.

    On Airflow 3.3 an asset event committed while the scheduler is turning the queue into a run
    joins no run until the next event arrives (fixed upstream by apache/airflow#62501 and #70972):
    so, once the burst's runs have settled, one more update completes, and every update of the
    burst must then have been seen, each once.
    """
    assert len(history_watchers(dist)) == 1  # one watcher, in one of the two triggerers

    def made_by(ids: list[str]) -> set[tuple[str, int]]:
        for sud_id in ids:
            dist.wait_for(
                lambda s=sud_id: dist.emulator.sov.finished_at(s), 300, f"update {sud_id} to complete"
            )
        # A history record names the SOV and the revision an update made (no SUD ID): so does the
        # example. The emulator gives a finished job its revision on its next request: now.
        with dist.emulator.lock:
            dist.emulator.sov.tick()
            return {(dist.emulator.sov.jobs[s].sov_id, dist.emulator.sov.jobs[s].revision) for s in ids}

    def seen() -> list[tuple[str, int]]:
        ids = []
        for (run,) in dist.query(
            "select run_id from dag_run where dag_id='sov_event_driven' and state='success'"
        ):
            ids += [(u["id"], u["revision"]) for u in dist.xcom("sov_event_driven", "completed_updates", run)]
        return ids

    def emitted() -> set[tuple[str, int]]:
        rows = dist.query("select extra from asset_event")
        extras = [e if isinstance(e, dict) else json.loads(e) for (e,) in rows]
        payloads = [e.get("payload") or {} for e in extras]
        return {(p.get("sovid"), p.get("revision")) for p in payloads}

    def settled() -> bool:
        queued = dist.query("select 1 from asset_dag_run_queue where target_dag_id='sov_event_driven'")
        active = dist.query(
            "select 1 from dag_run where dag_id='sov_event_driven' and state in ('queued', 'running')"
        )
        return not queued and not active

    def watcher_in_place() -> set[tuple[str, int]]:
        """
        One update the watcher reported: from then on it is in place. It reads the feed from the
        moment it starts (and may move between triggerers while they start), so an update that
        ended before then is never reported: another is made, up to ten.
        """
        for _ in range(10):
            first = made_by([dist.emulator.sov.add_running_update(1)])
            try:
                dist.wait_for(lambda f=first: emitted() >= f, 90, "the watcher to report an update")
                return first
            except TimeoutError:
                continue
        raise AssertionError("the history watcher reported none of ten updates")

    first = watcher_in_place()
    # The burst: updates ending 3 s apart over two of the watcher's polls (30 s), so some records
    # come one to a poll, some several.
    sud_ids = [dist.emulator.sov.add_running_update(5 + 3 * i) for i in range(EVENT_UPDATES)]
    made = made_by(sud_ids)
    assert len(made) == len(sud_ids)
    dist.wait_for(lambda: emitted() >= made, 300, "the watcher to emit an asset event per update")
    dist.wait_for(settled, 600, "the burst's runs to end")
    waiting = made - set(seen())  # events Airflow left for the next one
    closing = made_by([dist.emulator.sov.add_running_update(1)])
    everyone = first | made | closing
    dist.wait_for(lambda: set(seen()) >= everyone, 600, "every completed update to trigger the example")
    time.sleep(35)  # one more poll of the watcher (30 s): nothing may come back
    dist.wait_for(settled, 600, "every run of the example to end")  # a retry included
    ids = seen()
    runs = dist.query("select state, count(*) from dag_run where dag_id='sov_event_driven' group by state")
    duplicates = len(ids) - len(set(ids))  # of every update seen, this case's and any other's
    DISTRIBUTED.row(
        "Distributed run",
        case="the event-driven example, with two triggerers",
        run=", ".join(f"{n} {s}" for s, n in runs),
        jobs=f"1 update, then {len(made)} completed 3 s apart, then 1 more",
        files=(
            f"{len(set(ids) & made)} of them seen ({len(waiting)} with the next update); "
            f"of {len(set(ids))} updates seen in all, {duplicates} twice"
        ),
        **{"stray objects": 0},
        note="every update triggers exactly one run" if duplicates == 0 else "DUPLICATES",
    )
    assert duplicates == 0
    assert set(ids) >= everyone
    assert [s for s, _ in runs] == ["success"]
