#!/usr/bin/env python3
"""Rebuild rate of the views (`ProjectionRunner.rebuild`) against a raw psycopg read of the same rows.

    .venv/bin/python bench/rebuild_benchmark.py                     # ~1,000,000 events (builds the store: minutes)
    .venv/bin/python bench/rebuild_benchmark.py --quick             # ~100,000 events
    .venv/bin/python bench/rebuild_benchmark.py --events 200000 --reuse --json
    .venv/bin/python bench/rebuild_benchmark.py --quick --reuse --profile

One run:
1. builds a PostgreSQL store of about --events events in its own schema of the database
   `ledger_rebuild_bench` (a scenario from bench/generate_scenario.py, applied as `ledger run`
   applies it: open_ledger, validate, run_inputs; no views). With --reuse, a store built
   before for the same size is used as it is;
2. (a) reads every row of the event store table in notification order with raw psycopg 3
   (a server-side cursor, fetchmany), --raw-runs times (default 3): rows/s, the median;
3. (b) runs `ProjectionRunner.rebuild` (every view emptied and projected from event 1, as
   `ledger project --rebuild` does) --rebuild-runs times (default 1): events/s, the median;
4. prints both, and rebuild / raw read (goal >= 0.4); beside them, the CPU each took per
   row, client and server (the PostgreSQL backends serving it, read from /proc when the
   server runs on this machine): on a loaded machine wall time says more about the other
   processes than about either.

Progress goes to standard error; profiles to bench/out/ (git-ignored).

Where the client's CPU goes (101,603 events, a loaded machine, so indicative; issue 13's
branch `rebuild`): about 32 us an event, down from 39-45. The main thread (`_changes`)
takes ~25: decoding ~4 (the InputsRecorded states, 40% of the store's bytes, are skipped
but for the overlay marks), the library's `mutate` ~7, the domain's `entries()` ~5 and
their balance check ~2, the views' own bookkeeping (index row, books, pending rows) ~6;
the reader thread ~3.7 (the library's `select_notifications`); the writer ~2.8 (binary
COPY of view_events ~1.6). The threads share the GIL, so the wall time is about the
sum: the 0.4 goal needs the work split across processes (aggregates partitioned, book
totals and counters summed after), not done.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench_common import DEFAULT_SERVER, ensure_project_interpreter, progress, project_commit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

DATABASE = "ledger_rebuild_bench"
FULL_EVENTS = 1_000_000
QUICK_EVENTS = 100_000
EVENTS_PER_INPUT = 1.14  # what a generated scenario stores per input (measured: 22,906 for 20,000)
INPUTS_PER_ACCOUNT = 100  # as bench/run_benchmark.py (10,000 accounts for 1,000,000 inputs)
FETCH = 10_000
GOAL = 0.4


# --- the store ------------------------------------------------------------------------------


def store_url(server: str, events: int) -> str:
    return f"{server}/{DATABASE}?schema=events_{events}"


def stored_events(url: str) -> int:
    """Events in the store's table (0 when there is no store)."""
    import psycopg
    from psycopg import sql

    from ledger.store import parse_postgres, store_exists

    if not store_exists(url):
        return 0
    target = parse_postgres(url)
    with psycopg.connect(target.conninfo(), autocommit=True) as connection:
        row = connection.execute(
            sql.SQL("SELECT count(*) FROM {}.ledger_events").format(sql.Identifier(target.schema))
        ).fetchone()
    return int(row[0]) if row else 0


def drop_store(url: str) -> None:
    import psycopg
    from psycopg import sql

    from ledger.store import parse_postgres

    target = parse_postgres(url)
    with psycopg.connect(target.conninfo("postgres"), autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.dbname,)).fetchone():
            return
    with psycopg.connect(target.conninfo(), autocommit=True) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(target.schema)))


def build_store(url: str, events: int, seed: int, out: Path) -> dict[str, Any]:
    """A generated scenario sized for about `events` events, applied as `ledger run` applies it."""
    from ledger.bootstrap import open_ledger
    from ledger.processes.inline import run_inputs
    from ledger.runs import validate

    inputs = max(1000, round(events / EVENTS_PER_INPUT))
    accounts = max(20, inputs // INPUTS_PER_ACCOUNT)
    out.mkdir(parents=True, exist_ok=True)
    scenario = out / f"rebuild_{accounts}_{inputs}_{seed}.jsonl"
    if not scenario.exists():
        progress(f"generating {inputs:,} inputs for {accounts:,} accounts")
        subprocess.run(
            [
                sys.executable,
                str(BENCH / "generate_scenario.py"),
                "--accounts",
                str(accounts),
                "--inputs",
                str(inputs),
                "--seed",
                str(seed),
                "--out",
                str(scenario),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    drop_store(url)
    app = open_ledger(url)
    items = validate(app, scenario.read_text(), scenario.name)
    applied = [0]  # as run_inputs tells it
    progress(f"applying {len(items):,} inputs to {url}")
    stop = threading.Event()
    started = time.perf_counter()

    def heartbeat() -> None:
        while not stop.wait(15):
            elapsed = time.perf_counter() - started
            progress(f"applied {applied[0]:,}/{len(items):,} inputs ({applied[0] / elapsed:,.0f}/s)")

    threading.Thread(target=heartbeat, daemon=True).start()
    try:
        run_inputs(app, items, on_progress=lambda count: applied.__setitem__(0, count))
    finally:
        stop.set()
        app.close()
    elapsed = time.perf_counter() - started
    stored = stored_events(url)
    progress(f"built: {stored:,} events in {elapsed:.1f}s")
    return {"inputs": inputs, "accounts": accounts, "build_s": elapsed}


# --- (a) the raw read, (b) the rebuild ------------------------------------------------------


def backend_cpu(conninfo: str, pids: list[int] | None = None) -> dict[int, float]:
    """CPU seconds so far of the server processes serving the benchmark's database (or of
    `pids`), by process id; empty when the server's processes cannot be read here."""
    import psycopg

    if pids is None:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            pids = [
                row[0]
                for row in connection.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (DATABASE,)
                )
            ]
    ticks = os.sysconf("SC_CLK_TCK")
    spent = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        spent[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return spent


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float | None:
    return sum(spent - before.get(pid, 0.0) for pid, spent in after.items()) if after else None


def raw_read(url: str) -> dict[str, Any]:
    """Every row of the event store table in notification order: a server-side cursor, fetchmany."""
    import psycopg
    from psycopg import sql

    from ledger.store import parse_postgres

    target = parse_postgres(url)
    query = sql.SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state "
        "FROM {}.ledger_events ORDER BY notification_id"
    ).format(sql.Identifier(target.schema))
    rows = 0
    size = 0
    with psycopg.connect(target.conninfo()) as connection:
        backend = [connection.info.backend_pid]
        server = backend_cpu("", backend)
        started = time.perf_counter()
        cpu = time.process_time()
        with connection.cursor(name="raw_read") as cursor:
            cursor.execute(query)
            while batch := cursor.fetchmany(FETCH):
                rows += len(batch)
                size += sum(len(row[4]) for row in batch)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        server_cpu = cpu_between(server, backend_cpu("", backend))
    return {
        "rows": rows,
        "state_bytes": size,
        "seconds": elapsed,
        "rows_per_s": rows / elapsed,
        "cpu_s": cpu,
        "server_cpu_s": server_cpu,
    }


def rebuild(url: str, profile: Path | None) -> dict[str, Any]:
    from ledger.store import parse_postgres
    from projections.report import StoreViews
    from projections.runner import REBUILD_BATCH_SIZE

    conninfo = parse_postgres(url).conninfo()
    with StoreViews(url) as views:
        server = backend_cpu(conninfo)
        runner = views.runner
        last = runner.last_notification_id()
        marks = iter(range(1, 11))
        next_mark = [next(marks) * last // 10]

        def on_batch(count: int, position: int) -> None:
            if position >= next_mark[0]:
                progress(
                    f"rebuilt through {position:,} of {last:,} ({count / (time.perf_counter() - started):,.0f} "
                    "events/s)"
                )
                next_mark[0] = next(marks, 11) * last // 10

        started = time.perf_counter()
        cpu = time.process_time()
        if profile is not None:
            import cProfile

            profiler = cProfile.Profile()
            projected = profiler.runcall(runner.rebuild, on_batch)
            profiler.dump_stats(str(profile))
        else:
            projected = runner.rebuild(on_batch)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        server_cpu = cpu_between(server, backend_cpu(conninfo))
        assert runner.position() == last, f"rebuilt to {runner.position()}, not {last}"
    return {
        "events": projected,
        "seconds": elapsed,
        "cpu_s": cpu,
        "server_cpu_s": server_cpu,
        "events_per_s": projected / elapsed,
        "batch_size": max(runner.batch_size, REBUILD_BATCH_SIZE),
        "profiled": profile is not None,
    }


def median_of(results: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return {
        **sorted(results, key=lambda r: r[key])[len(results) // 2],
        key: statistics.median(r[key] for r in results),
        "runs": [r[key] for r in results],
    }


def cpu_per_row(run: dict[str, Any], rows: int) -> str:
    client = f"{run['cpu_s'] / rows * 1e6:.1f} µs client"
    server = run.get("server_cpu_s")
    return client if server is None else f"{client} + {server / rows * 1e6:.1f} µs server"


def print_profile(path: Path, top: int = 25) -> None:
    import pstats

    for order in ("cumulative", "tottime"):
        print(f"\ncProfile of the rebuild ({path}), top {top} by {order}:", file=sys.stderr)
        pstats.Stats(str(path), stream=sys.stderr).sort_stats(order).print_stats(top)


# --- the figures ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ensure_project_interpreter()
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument(
        "--events", type=int, help=f"events in the store, about (default {FULL_EVENTS:,}; --quick {QUICK_EVENTS:,})"
    )
    parser.add_argument("--quick", action="store_true", help=f"about {QUICK_EVENTS:,} events")
    parser.add_argument("--reuse", action="store_true", help="use the store built before for this size, if any")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", default=DEFAULT_SERVER, help=f"PostgreSQL server URL (default {DEFAULT_SERVER})")
    parser.add_argument("--raw-runs", type=int, default=3)
    parser.add_argument("--rebuild-runs", type=int, default=1)
    parser.add_argument(
        "--batch", type=int, help="the runner's batch size (default: $LEDGER_PROJECTION_BATCH or the runner's own)"
    )
    parser.add_argument("--profile", action="store_true", help="also a cProfile'd rebuild (not timed with the others)")
    parser.add_argument("--out", type=Path, default=BENCH / "out")
    parser.add_argument("--json", action="store_true", help="print one JSON document of the figures on stdout")
    args = parser.parse_args(argv)
    if args.batch:
        os.environ["LEDGER_PROJECTION_BATCH"] = str(args.batch)
    events = args.events or (QUICK_EVENTS if args.quick else FULL_EVENTS)
    url = store_url(args.postgres, events)

    built: dict[str, Any] = {"reused": False}
    stored = stored_events(url) if args.reuse else 0
    if stored:
        progress(f"reusing {url}: {stored:,} events")
        built["reused"] = True
    else:
        built.update(build_store(url, events, args.seed, args.out))
        stored = stored_events(url)

    raw_runs = []
    for number in range(1, args.raw_runs + 1):
        raw_runs.append(raw_read(url))
        progress(
            f"raw read {number}/{args.raw_runs}: {raw_runs[-1]['rows']:,} rows, "
            f"{raw_runs[-1]['rows_per_s']:,.0f} rows/s"
        )
    rebuild_runs = []
    for number in range(1, args.rebuild_runs + 1):
        rebuild_runs.append(rebuild(url, None))
        progress(
            f"rebuild {number}/{args.rebuild_runs}: {rebuild_runs[-1]['events']:,} events, "
            f"{rebuild_runs[-1]['events_per_s']:,.0f} events/s"
        )
    raw = median_of(raw_runs, "rows_per_s")
    rebuilt = median_of(rebuild_runs, "events_per_s")
    result = {
        "store": url,
        "events": stored,
        "commit": project_commit(),
        "built": built,
        "raw_read": raw,
        "rebuild": rebuilt,
        "ratio": rebuilt["events_per_s"] / raw["rows_per_s"],
        "goal": GOAL,
        "load_average": " ".join(f"{load:.2f}" for load in os.getloadavg()),
    }
    if args.profile:
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"rebuild_{stored}.prof"
        profiled = rebuild(url, path)
        result["profiled_rebuild"] = profiled
        print_profile(path)
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print(f"events:           {stored:,}")
        print(
            f"raw psycopg read: {raw['rows_per_s']:,.0f} rows/s (median of {len(raw['runs'])}: "
            + ", ".join(f"{r:,.0f}" for r in raw["runs"])
            + ")"
        )
        print(
            f"rebuild:          {rebuilt['events_per_s']:,.0f} events/s ({rebuilt['seconds']:.1f}s, "
            f"batch {rebuilt['batch_size']:,})"
        )
        print(f"rebuild / raw:    {result['ratio']:.3f} (goal >= {GOAL})")
        print(f"CPU per row:      raw read {cpu_per_row(raw, raw['rows'])}; rebuild {cpu_per_row(rebuilt, stored)}")
        print(f"load average:     {result['load_average']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
