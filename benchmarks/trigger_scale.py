"""
Triggerer scale: N concurrent waits on one event loop, as in ``airflow triggerer``, against the
emulator running in another process. Each wait's job lasts ``--job-seconds``; every trigger polls
every ``--poll`` seconds; their starts are spread over the first poll interval, as a triggerer
picks up deferred tasks over time.

For each N, up to three runs, each in a fresh process (by default DFileGenerationTrigger runs at
the largest N only, the goal's size, to keep ``make bench`` near 25 minutes; ``--broker-counts``
runs it at any N):

- ``SovUpdateTrigger`` (ours) polling N SOV updates,
- ``DFileGenerationTrigger`` (ours) polling N detached D-file generations,
- the HTTP provider's ``HttpSensorTrigger`` (peer) polling the same emulator at the same N and
  interval: it waits for each update's output file to stop answering 404 (its only signal),
- the floor: a bare aiohttp GET of the same update status per poll, on one shared session, with
  no trigger around it (what one poll cannot cost less than in asyncio and aiohttp).

Reported per run: event-loop lag p50/p99 (a 50 ms timer's lateness), polls achieved vs intended
(counted by the emulator), CPU seconds per poll (the trigger process's user+system time; it logs
as the triggerer's runner process does, JSON lines to its supervisor's channel), RSS per trigger,
how late the waits saw their jobs finish (p99), the collector's full passes (count and seconds in
all: with thousands of waits alive each stalls the loop longest, so their count sets lag p99) and
errors (waits that did not end with success).
Goals: 5,000 waits at 5 s and 10,000 at 15 s with lag p99 < 100 ms, CPU per poll <= 1.5x the
floor's (and below the peer's), and at most one request per distinct job per interval
(``--waits-per-job`` shares jobs).
``--budget-series`` runs the request-budget series instead (see ``budget_series``).

    python benchmarks/trigger_scale.py                    # N = 1000, 2000, 5000 (about 10 minutes)
    python benchmarks/trigger_scale.py --counts 20 --job-seconds 3 --poll 1   # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import percentile, rss_kib, table

KINDS = ("sov", "broker", "peer", "floor")
LABELS = {
    "sov": "SovUpdateTrigger (ours)",
    "broker": "DFileGenerationTrigger (ours)",
    "peer": "HttpSensorTrigger (peer)",
    "floor": "bare aiohttp GET (floor)",
}
#: The emulator route each kind polls (the emulator counts requests per route).
ROUTES = {
    "sov": "update_status",
    "broker": "check_detached_generation_status",
    "peer": "download",
    "floor": "update_status",
}
LAG_TICK = 0.05


# --- The emulator, in its own process -----------------------------------------------------------


def serve_emulator(pipe: Any, rate_limit: float | None = None) -> None:
    """Run the emulator and answer the benchmark's requests: seed jobs, read request counts."""
    from airflow_provider_sov.testing.server import EmulatorServer

    with EmulatorServer(realtime=True, rate_limit=rate_limit) as server:
        pipe.send({"url": server.url, "token": server.token})
        while True:
            command, *args = pipe.recv()
            if command == "stop":
                return
            if command == "counts":
                with server.lock:
                    pipe.send({**server.counts, "429": server.throttled})
            elif command == "seed":
                kind, n, seconds = args
                if kind == "broker":
                    ids: list[Any] = [server.broker.add_running_generation(seconds) for _ in range(n)]
                else:
                    ids = [server.sov.add_running_update(seconds) for _ in range(n)]
                pipe.send({"ids": ids, "ends": server.clock.wall() + seconds})


# --- One run: N triggers on one loop, in a fresh process ------------------------------------------


class FloorEvent:
    def __init__(self, payload: Any) -> None:
        self.payload = payload


class FloorWait:
    """
    The floor a wait cannot go below: per poll, one bare GET of the update's status on one shared
    aiohttp session (the connection pool ours uses: 100 connections), its JSON read, then a sleep.
    No retries, no deadline, no error handling, no logging: what one HTTP poll costs asyncio and
    aiohttp on this machine.
    """

    session: Any = None

    def __init__(self, job_id: Any, poll: float) -> None:
        self.job_id, self.poll = job_id, poll

    @classmethod
    def shared(cls) -> Any:
        import aiohttp

        if cls.session is None:
            conn = json.loads(os.environ["AIRFLOW_CONN_SOVFIXER_DEFAULT"])
            cls.session = aiohttp.ClientSession(
                base_url=conn["host"],
                headers={"Authorization": f"Token {conn['password']}"},
                connector=aiohttp.TCPConnector(limit=100),
            )
        return cls.session

    async def run(self) -> Any:
        session = self.shared()
        while True:
            async with session.get(f"/api/v1/sov/update/{self.job_id}") as answer:
                body = await answer.json()
            status = body["request"]["status"]
            if status in ("COMPLETE", "FAILED"):
                yield FloorEvent(status == "COMPLETE")
                return
            await asyncio.sleep(self.poll)


def make_trigger(kind: str, job_id: Any, poll: float, deadline: float) -> Any:
    if kind == "floor":
        return FloorWait(job_id, poll)
    if kind == "sov":
        from airflow_provider_sov.triggers.sov import SovUpdateTrigger

        return SovUpdateTrigger(job_id, deadline=deadline, poll_interval=poll)
    if kind == "broker":
        from airflow_provider_sov.triggers.broker import DFileGenerationTrigger

        return DFileGenerationTrigger(job_id=job_id, deadline=deadline, poll_interval=poll)
    from airflow.providers.http.triggers.http import HttpSensorTrigger

    return HttpSensorTrigger(
        endpoint=f"api/v1/sov/{job_id}/output/{job_id}.json", http_conn_id="bench_http", poke_interval=poll
    )


def cpu_per_poll(result: dict[str, Any]) -> float:
    """CPU seconds one run spent per poll the emulator counted (the unit every ratio compares)."""
    return float(result["cpu"]) / max(1, result["polls"])


def succeeded(kind: str, payload: Any) -> bool:
    if kind in ("peer", "floor"):
        return payload is True
    return (
        isinstance(payload, dict)
        and payload.get("status") == "terminal"
        and bool(payload["reading"]["succeeded"])
    )


def record_reads() -> dict[str, list[float]]:
    """Record when each job's status is read (the budget series): job key -> times."""
    from airflow_provider_sov._shared.jobs import JobKind

    reads: dict[str, list[float]] = {}
    real = JobKind.aread

    async def recording(self: Any, hook: Any, ref: Any) -> Any:
        reads.setdefault(ref.key, []).append(time.time())
        return await real(self, hook, ref)

    JobKind.aread = recording  # type: ignore[method-assign]
    return reads


def longest_unpolled(reads: dict[str, list[float]], starts: dict[str, float], ends: float) -> float:
    """The longest any job went without a read while it ran (from its first wait's start)."""
    worst = 0.0
    for key, started in starts.items():
        times = [started, *sorted(t for t in reads.get(key, []) if t <= ends)]
        worst = max(worst, *(b - a for a, b in itertools.pairwise(times)), 0.0)
    return worst


async def run_triggers(
    kind: str, ids: list[Any], ends: float, poll: float, cap: float, record: bool = False
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    reads = record_reads() if record else {}
    done = asyncio.Event()
    lags: list[float] = []
    peak = [rss_kib()]

    async def sample() -> None:
        last_rss = time.monotonic()
        while not done.is_set():
            t0 = loop.time()
            await asyncio.sleep(LAG_TICK)
            lags.append(loop.time() - t0 - LAG_TICK)
            if time.monotonic() - last_rss >= 0.5:
                peak[0], last_rss = max(peak[0], rss_kib()), time.monotonic()

    n = len(ids)
    starts = [0.0] * n
    seen = [math.inf] * n
    outcomes: list[bool] = [False] * n

    async def one(i: int, job_id: Any) -> None:
        await asyncio.sleep(poll * i / n)  # spread over one interval, as deferrals arrive
        starts[i] = time.time()
        trigger = make_trigger(kind, job_id, poll, ends + cap)
        try:
            async for event in trigger.run():
                outcomes[i] = succeeded(kind, event.payload)
                seen[i] = time.time()
                break
        except Exception:
            outcomes[i] = False

    # The collector's full passes (its oldest generation): each stalls the loop for all the objects
    # alive, so with thousands of waits they are the longest lags, and their count sets lag p99.
    full: list[float] = []
    began = [0.0]

    def collected(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                began[0] = time.perf_counter()
            else:
                full.append(time.perf_counter() - began[0])

    before = rss_kib()
    gc.callbacks.append(collected)
    cpu0, wall0 = time.process_time(), time.monotonic()
    sampler = asyncio.create_task(sample())
    tasks = [asyncio.create_task(one(i, job_id)) for i, job_id in enumerate(ids)]
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, ends - time.time()) + cap)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    cpu1, wall1 = time.process_time(), time.monotonic()
    gc.callbacks.remove(collected)
    done.set()
    await sampler
    if FloorWait.session is not None:
        await FloorWait.session.close()
    first: dict[str, float] = {}
    for job_id, started in zip(ids, starts, strict=True):
        first[str(job_id)] = min(first.get(str(job_id), math.inf), started)
    intended = sum(math.ceil(max(0.0, ends - s) / poll) + 1 for s in starts)
    per_job = sum(math.ceil(max(0.0, ends - s) / poll) + 1 for s in first.values())
    late = [t - ends for t in seen if t < math.inf]
    return {
        "intended_per_job": per_job,
        "jobs": len(first),
        "unpolled": longest_unpolled(reads, first, ends) if record else math.nan,
        "cpu": cpu1 - cpu0,
        "wall": wall1 - wall0,
        "lag_p50": percentile(lags, 50),
        "lag_p99": percentile(lags, 99),
        "intended": intended,
        "errors": n - sum(outcomes),
        "late_p99": percentile(late, 99) if late else math.nan,
        "rss_per_trigger_kib": (peak[0] - before) / n,
        "full_gcs": len(full),
        "full_gc_seconds": sum(full),
    }


def child(kind: str, poll: float, cap: float) -> None:
    """Import everything first (as the triggerer has by then), say so, then run the waits sent."""
    from airflow.sdk.log import configure_logging, reset_logging

    # Log as the triggerer's runner process does: JSON lines, unbuffered, to its supervisor's channel
    # (a file here), the supervisor masking and writing them to each trigger's log in its own process.
    with tempfile.TemporaryFile("wb", buffering=0) as channel:
        reset_logging()
        configure_logging(json_output=True, output=channel, sending_to_supervisor=True)
        make_trigger(kind, "warm-up" if kind != "broker" else 1, poll, time.time())
        if kind == "floor":
            import aiohttp  # noqa: F401  # the floor's one import, as the others' are made above
        print("ready", flush=True)
        job = json.loads(sys.stdin.readline())
        waits = run_triggers(kind, job["ids"], job["ends"], poll, cap, job.get("record", False))
        if profile := job.get("profile"):  # --profile: where the time went, for pstats
            import cProfile

            with cProfile.Profile() as profiler:
                result = asyncio.run(waits)
            Path(profile).mkdir(parents=True, exist_ok=True)
            profiler.dump_stats(Path(profile) / f"{kind}-{len(job['ids'])}.prof")
        else:
            result = asyncio.run(waits)
    print(json.dumps(result), flush=True)


# --- The orchestration ----------------------------------------------------------------------------


def connections(url: str, token: str, budget: float | None = None) -> dict[str, str]:
    from airflow_provider_sov.testing import broker_app

    host, port = url.removeprefix("http://").split(":")
    extra = {} if budget is None else {"max_requests_per_second": budget}
    return {
        "AIRFLOW_CONN_SOVFIXER_DEFAULT": json.dumps(
            {"conn_type": "sovfixer", "host": url, "password": token, "extra": extra}
        ),
        "AIRFLOW_CONN_DATA_ACT_BROKER_DEFAULT": json.dumps(
            {
                "conn_type": "data_act_broker",
                "host": url,
                "login": broker_app.USER,
                "password": broker_app.PASSWORD,
            }
        ),
        "AIRFLOW_CONN_BENCH_HTTP": json.dumps(
            {
                "conn_type": "http",
                "host": host,
                "port": int(port),
                "schema": "http",
                "extra": {"Authorization": f"Token {token}"},
            }
        ),
    }


def one_run(pipe: Any, env: dict[str, str], kind: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    seed_kind = "broker" if kind == "broker" else "sov"  # the floor polls SOV updates, as ours does
    command = [sys.executable, __file__, "--child", kind, str(args.poll), str(args.cap)]
    with (
        tempfile.TemporaryFile("w+") as errors,
        subprocess.Popen(
            command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True
        ) as proc,
    ):
        assert proc.stdin is not None and proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            errors.seek(0)
            raise RuntimeError(f"{kind} run failed to start: {errors.read()[-3000:]}")
        # The jobs start now, once the trigger process is up: they last job_seconds from here.
        per_job = max(1, args.waits_per_job)
        pipe.send(("seed", seed_kind, math.ceil(n / per_job), args.job_seconds))
        seeded = pipe.recv()
        seeded["ids"] = [job for job in seeded["ids"] for _ in range(per_job)][:n]  # neighbours share a job
        seeded["record"] = args.budget_series
        seeded["profile"] = args.profile
        pipe.send(("counts",))
        counted = pipe.recv()
        before, refused = counted.get(ROUTES[kind], 0), counted.get("429", 0)
        proc.stdin.write(json.dumps(seeded) + "\n")
        proc.stdin.flush()
        out = proc.stdout.read()
        if proc.wait() != 0:
            errors.seek(0)
            raise RuntimeError(f"{kind} run failed: {errors.read()[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    pipe.send(("counts",))
    counted = pipe.recv()
    result["polls"] = counted.get(ROUTES[kind], 0) - before
    result["429s"] = counted.get("429", 0) - refused
    return result


def row(kind: str, n: int, r: dict[str, Any]) -> list[object]:
    return [
        LABELS[kind],
        n,
        f"{r['lag_p50'] * 1000:.1f}",
        f"{r['lag_p99'] * 1000:.1f}",
        f"{r['polls']}/{r['intended']}",
        f"{r['polls'] / max(1, r['intended_per_job']):.2f}",
        f"{r['cpu'] / max(1, r['polls']) * 1000:.3f}",
        f"{r['rss_per_trigger_kib']:.1f}",
        f"{r['late_p99']:.1f}",
        r["full_gcs"],
        f"{r['full_gc_seconds']:.2f}",
        r["errors"],
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 2000, 5000])
    parser.add_argument("--poll", type=float, default=5.0, help="poll interval, seconds")
    parser.add_argument("--job-seconds", type=float, default=60.0, help="how long each job runs")
    parser.add_argument(
        "--cap", type=float, default=30.0, help="seconds after the jobs end before a wait counts as failed"
    )
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument(
        "--broker-counts",
        type=int,
        nargs="+",
        help="N for DFileGenerationTrigger (default: the largest of --counts, the goal's size, to keep "
        "make bench short; pass the --counts values for the whole series)",
    )
    parser.add_argument(
        "--waits-per-job", type=int, default=1, help="waits sharing each job ID (coalescing series)"
    )
    parser.add_argument(
        "--budget-series",
        action="store_true",
        help="the request-budget series instead: --budget-waits SovUpdateTriggers, with and without "
        "the connection's budget, against an emulator answering 429 above --api-limit requests/s",
    )
    parser.add_argument("--budget-waits", type=int, default=200)
    parser.add_argument("--budget", type=float, default=20.0, help="max_requests_per_second")
    parser.add_argument("--api-limit", type=float, default=25.0, help="the emulator's 429 threshold")
    parser.add_argument(
        "--profile", metavar="DIR", help="write each run's cProfile statistics to DIR (slows the run)"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, poll, cap = args.child
        child(kind, float(poll), float(cap))
        return 0

    if args.budget_series:
        return budget_series(args)
    context = multiprocessing.get_context("spawn")
    pipe, theirs = context.Pipe()
    emulator = context.Process(target=serve_emulator, args=(theirs,), daemon=True)
    emulator.start()
    where = pipe.recv()
    env = {**os.environ, **connections(where["url"], where["token"])}
    env.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-airflow-"))
    broker_counts = args.broker_counts or [max(args.counts)]
    plan = [
        (kind, n)
        for n in sorted(set(args.counts) | set(broker_counts))
        for kind in args.kinds
        if n in (broker_counts if kind == "broker" else args.counts)
    ]
    results: dict[tuple[str, int], dict[str, Any]] = {}
    try:
        for kind, n in plan:
            results[kind, n] = one_run(pipe, env, kind, n, args)
            print(f"  ran {LABELS[kind]} x {n}", file=sys.stderr, flush=True)
    finally:
        pipe.send(("stop",))
        emulator.join(30)

    header = [
        "trigger",
        "N",
        "lag p50 ms",
        "lag p99 ms",
        "polls/intended",
        "req/job/interval",
        "CPU ms/poll",
        "RSS KiB/trigger",
        "late p99 s",
        "full GCs",
        "full GC s",
        "errors",
    ]
    title = f"Triggerer scale: poll every {args.poll:g} s, jobs of {args.job_seconds:g} s, one event loop"
    if args.waits_per_job > 1:
        title += f", {args.waits_per_job} waits per job ID"
    print(table(title, header, [row(kind, n, results[kind, n]) for kind, n in plan]))
    for other in ("peer", "floor"):
        for ours in ("sov", "broker"):
            if other not in args.kinds or ours not in args.kinds:
                continue
            for n in sorted(
                {n for kind, n in plan if kind == ours} & {n for kind, n in plan if kind == other}
            ):
                ratio = cpu_per_poll(results[ours, n]) / cpu_per_poll(results[other, n])
                print(f"ratio, CPU per poll {LABELS[ours]} / {other} at N={n}: {ratio:.2f}")
    print()
    for ours in ("sov", "broker"):
        if ours in args.kinds:
            top = max(n for kind, n in plan if kind == ours)
            r = results[ours, top]
            ok = r["lag_p99"] < 0.1 and r["errors"] == 0
            verdict = "met" if ok else "MISSED"
            print(
                f"goal lag p99 < 100 ms with {top} waits, no errors, {LABELS[ours]}: {verdict} "
                f"({r['lag_p99'] * 1000:.1f} ms, {r['errors']} errors)"
            )
            if ("peer", top) in results:
                peer = results["peer", top]
                ratio = cpu_per_poll(r) / cpu_per_poll(peer)
                verdict = "met" if ratio <= 0.25 else "MISSED"
                print(f"goal CPU per poll <= 0.25x peer, {LABELS[ours]}: {verdict} ({ratio:.2f}x)")
            if ("floor", top) in results:
                ratio = cpu_per_poll(r) / cpu_per_poll(results["floor", top])
                verdict = "met" if ratio <= 1.5 else "MISSED"
                print(f"goal CPU per poll <= 1.5x the floor, {LABELS[ours]}: {verdict} ({ratio:.2f}x)")
            per_job = r["polls"] / max(1, r["intended_per_job"])
            verdict = "met" if per_job <= 1.0 else "MISSED"
            print(f"goal <= 1 request per job per interval, {LABELS[ours]}: {verdict} ({per_job:.2f})")
    return 0


def budget_series(args: argparse.Namespace) -> int:
    """The request budget: the same waits with and without it, against an API that throttles."""
    args.budget_series, args.waits_per_job = True, 1
    rows, results = [], {}
    for budget in (args.budget, None):
        context = multiprocessing.get_context("spawn")
        pipe, theirs = context.Pipe()
        emulator = context.Process(target=serve_emulator, args=(theirs, args.api_limit), daemon=True)
        emulator.start()
        where = pipe.recv()
        env = {**os.environ, **connections(where["url"], where["token"], budget)}
        env.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-airflow-"))
        try:
            r = results[budget] = one_run(pipe, env, "sov", args.budget_waits, args)
        finally:
            pipe.send(("stop",))
            emulator.join(30)
        print(f"  ran the budget series, budget {budget}", file=sys.stderr, flush=True)
        rows.append(
            [
                "none" if budget is None else f"{budget:g}/s",
                args.budget_waits,
                f"{args.budget_waits / args.poll:g}/s",
                f"{args.api_limit:g}/s",
                r["429s"],
                r["polls"],
                f"{r['unpolled']:.2f}",
                f"{r['unpolled'] / args.poll:.2f}",
                r["errors"],
            ]
        )
    header = [
        "budget",
        "waits",
        "wanted",
        "API limit",
        "429s seen",
        "requests sent",
        "longest unpolled s",
        "in intervals",
        "errors",
    ]
    title = f"Request budget: SovUpdateTrigger polling every {args.poll:g} s, jobs of {args.job_seconds:g} s"
    print(table(title, header, rows))
    r = results[args.budget]
    ok = r["429s"] == 0 and r["unpolled"] <= 2 * args.poll and r["errors"] == 0
    print()
    print(
        f"goal 0 429s and every wait polled at least every 2 intervals under a {args.budget:g}/s budget: "
        f"{'met' if ok else 'MISSED'} ({r['429s']} 429s, longest unpolled {r['unpolled']:.2f} s; "
        f"{args.budget_waits / args.budget:.2f} s is the least a round of every wait can take)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
