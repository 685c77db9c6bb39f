"""A crash at exchange scale, recorded: the time from the -20 % BTC mark until every
liquidation it starts has ended, through `ledger run`'s own code on a PostgreSQL store of N
margin accounts (the accounts of `mark_storm.py`, as inputs).

The store is built once (`ledger run` of the accounts' inputs, in chunks sharing one driver)
into the database `--database` and kept, so that later runs reuse it; each measured run works
on a copy of it (`CREATE DATABASE ... TEMPLATE`), so that every run starts from the same book.
A run is what `ledger run crash.jsonl` does, timed by part: opening and validating, the
driver's start (its indexes loaded from the store, or restored from a snapshot where the
ledger keeps one), and the mark processed to completion (every liquidation started and
ended); then the liquidations are counted from the events recorded after the mark.

    .venv/bin/python bench/storm_liquidations.py --accounts 1000000 --runs 3 [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from collections.abc import Iterable
from typing import Any

from bench_common import DEFAULT_SERVER, ensure_project_interpreter, progress, project_commit

ensure_project_interpreter()

import psycopg  # noqa: E402
from mark_storm import OPENING, storm_inputs  # noqa: E402
from psycopg import sql  # noqa: E402

from ledger.application import Ledger  # noqa: E402
from ledger.bootstrap import open_ledger  # noqa: E402
from ledger.domain.margin.account import Account  # noqa: E402
from ledger.processes.inline import ProcessManager, run_inputs  # noqa: E402
from ledger.runs import validate  # noqa: E402
from ledger.store import writer_lease  # noqa: E402

CHUNK_ACCOUNTS = 50_000  # accounts validated and run at a time while building
CRASH = {"op": "mark", "asset": "BTC", "price": str(OPENING["BTC"] * 4 / 5), "at": "2026-01-05T10:05:00Z"}


def database_url(server: str, name: str) -> str:
    return f"{server}/{name}"


def admin(server: str) -> psycopg.Connection:
    return psycopg.connect(f"{server}/postgres", autocommit=True)


def database_exists(server: str, name: str) -> bool:
    with admin(server) as connection:
        return connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def opened(url: str) -> Ledger:
    """The store as `ledger run` opens it: under its writer lease (held by the caller), the
    ledger knowing in memory which aggregates exist."""
    app = open_ledger(url)
    app.remember_existence()
    return app


def build_store(server: str, name: str, accounts: int, seed: int) -> dict[str, Any]:
    """The accounts' inputs run into a new database, CHUNK_ACCOUNTS at a time by one driver."""
    with admin(server) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_url(server, name)
    lines = storm_inputs(accounts, seed)
    opening, per_account = lines[: len(OPENING)], lines[len(OPENING) :]
    started = time.perf_counter()
    applied = 0
    with writer_lease(url):
        app = opened(url)
        try:
            processes = ProcessManager(app)
            chunk: list[dict[str, Any]] = list(opening)
            opened_in_chunk = 0
            for line in per_account:
                if line["op"] == "open":
                    if opened_in_chunk == CHUNK_ACCOUNTS:
                        applied += _run_chunk(app, processes, chunk, applied)
                        chunk, opened_in_chunk = [], 0
                    opened_in_chunk += 1
                chunk.append(line)
            applied += _run_chunk(app, processes, chunk, applied)
        finally:
            app.close()
    seconds = time.perf_counter() - started
    return {"inputs": applied, "seconds": round(seconds, 1), "inputs_per_second": round(applied / seconds)}


def _run_chunk(app: Ledger, processes: ProcessManager, chunk: list[dict[str, Any]], applied_before: int) -> int:
    inputs = validate(app, "\n".join(json.dumps(line) for line in chunk), f"storm-setup-{applied_before}")
    run_inputs(app, inputs, processes=processes)
    progress(f"built: {applied_before + len(inputs):,} inputs")
    return len(inputs)


def account_count(url: str) -> int:
    with writer_lease(url):
        app = open_ledger(url)
        try:
            return len(app.account_names())
        finally:
            app.close()


def measured_run(server: str, base: str, run_number: int) -> dict[str, Any]:
    """The crash mark through `ledger run`'s code on a copy of the base store."""
    name = f"{base}_run{run_number}_{os.getpid()}"
    with admin(server) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(base)))
    url = database_url(server, name)
    try:
        with writer_lease(url):
            cpu_before = time.process_time()
            started = time.perf_counter()
            app = opened(url)
            inputs = validate(app, json.dumps(CRASH), "storm-mark")
            validated = time.perf_counter()
            processes = ProcessManager(app)
            driver_started = time.perf_counter()
            before = app.recorder.max_notification_id() or 0
            run_inputs(app, inputs, processes=processes)
            finished = time.perf_counter()
            cpu = time.process_time() - cpu_before
            counts = events_after(app, before)
            app.close()
    finally:
        with admin(server) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    ended = counts.get(Account.LiquidationEnded.__qualname__, 0)
    mark_seconds = finished - driver_started
    return {
        "open_and_validate_seconds": round(validated - started, 2),
        "driver_start_seconds": round(driver_started - validated, 2),
        "mark_to_last_liquidation_seconds": round(mark_seconds, 2),
        "total_seconds": round(finished - started, 2),
        "process_cpu_seconds": round(cpu, 1),
        "liquidations_started": counts.get(Account.LiquidationStarted.__qualname__, 0),
        "liquidations_ended": ended,
        "margin_calls": counts.get(Account.MarginCallIssued.__qualname__, 0),
        "events_after_the_mark": sum(counts.values()),
        "liquidations_per_second": round(ended / mark_seconds, 1) if mark_seconds else None,
    }


def events_after(app: Ledger, notification_id: int) -> dict[str, int]:
    """The events recorded after `notification_id`, counted by class (read in pages)."""
    counts: dict[str, int] = {}
    position = notification_id
    while True:
        page = app.recorder.select_notifications(start=position + 1, limit=10_000)
        if not page:
            return counts
        for notification in page:
            kind = notification.topic.rpartition(":")[2]
            counts[kind] = counts.get(kind, 0) + 1
        position = page[-1].id


def _median(values: Iterable[float]) -> float | None:
    found = list(values)
    return statistics.median(found) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1, help="measured runs, each on a copy of the built store")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--postgres", default=DEFAULT_SERVER, help=f"PostgreSQL server URL (default {DEFAULT_SERVER})")
    parser.add_argument("--database", help="the built store's database (default ledger_storm_<accounts>), reused")
    parser.add_argument("--drop", action="store_true", help="drop the built store afterwards")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    base = args.database or f"ledger_storm_{args.accounts}"
    build = None
    if database_exists(args.postgres, base):
        found = account_count(database_url(args.postgres, base))
        if found != args.accounts:
            parser.error(f"database {base} holds {found} accounts, not {args.accounts}: drop it or name another")
        progress(f"reusing {base} ({found:,} accounts)")
    else:
        progress(f"building {base}: {args.accounts:,} accounts through ledger run")
        build = build_store(args.postgres, base, args.accounts, args.seed)
    runs = []
    for number in range(args.runs):
        progress(f"run {number + 1} of {args.runs}: the -20 % mark on a copy of {base}")
        runs.append(measured_run(args.postgres, base, number))
        progress(f"  {runs[-1]}")
    if args.drop:
        with admin(args.postgres) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(base)))
    figures = {
        "commit": project_commit(),
        "accounts": args.accounts,
        "build": build,
        "runs": runs,
        "median_mark_to_last_liquidation_seconds": _median(run["mark_to_last_liquidation_seconds"] for run in runs),
        "median_total_seconds": _median(run["total_seconds"] for run in runs),
        "load_average": os.getloadavg()[0],
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"storm liquidations: {args.accounts:,} margin accounts on PostgreSQL, commit {figures['commit']}")
    if build:
        print(f"  built through ledger run: {build['inputs']:,} inputs in {build['seconds']} s")
    for number, run in enumerate(runs, 1):
        print(
            f"  run {number}: the -20 % mark started {run['liquidations_started']:,} liquidations, "
            f"{run['liquidations_ended']:,} ended, {run['margin_calls']:,} margin calls; "
            f"mark to last liquidation {run['mark_to_last_liquidation_seconds']} s "
            f"({run['liquidations_per_second']}/s); driver start {run['driver_start_seconds']} s; "
            f"open and validate {run['open_and_validate_seconds']} s; total {run['total_seconds']} s"
        )
    if runs:
        print(
            f"median: mark to last liquidation {figures['median_mark_to_last_liquidation_seconds']} s, "
            f"total {figures['median_total_seconds']} s; load average {figures['load_average']:.2f} (2 cores)"
        )


if __name__ == "__main__":
    main()
