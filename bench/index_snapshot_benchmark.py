#!/usr/bin/env python3
"""A one-input `ledger run` on a store of N margin accounts, with and without the snapshot
of the driver's indexes (`ledger.processes.snapshots`).

    python bench/index_snapshot_benchmark.py --accounts 20000 [--store URL] [--repeat 3]

Builds the store (mark_storm's accounts: each opened, funded, most borrowing; the run that
builds it ends with a snapshot when over `SNAPSHOT_EVERY` events, else one is taken), then times, on a
ledger opened afresh each time (no aggregate cached), the driver's start
(`ProcessManager`) and a one-input run after it, loading every account
(`use_snapshot=False`) and from the snapshot, alternately. Figures on a shared machine
are indicative.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from typing import Any

from bench_common import ROOT, ensure_project_interpreter, progress, project_commit

ensure_project_interpreter()
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from mark_storm import storm_inputs  # noqa: E402

from ledger.bootstrap import open_ledger  # noqa: E402
from ledger.processes.indexes import Driver  # noqa: E402
from ledger.processes.inline import ProcessManager, run_inputs  # noqa: E402
from ledger.processes.snapshots import SnapshotTable  # noqa: E402
from ledger.runs import validate  # noqa: E402


def build(url: str, accounts: int) -> dict[str, Any]:
    app = open_ledger(url)
    started = time.perf_counter()
    run_inputs(app, validate(app, "\n".join(json.dumps(line) for line in storm_inputs(accounts, 7)), "setup"))
    seconds = time.perf_counter() - started
    table = SnapshotTable.of(app)
    newest = table.newest(Driver.INLINE, limit=1) if table else []
    taking = time.perf_counter()
    if not newest:  # a store under `SNAPSHOT_EVERY` events: taken here
        ProcessManager(app).snapshot()
        newest = table.newest(Driver.INLINE, limit=1) if table else []
    taken = time.perf_counter() - taking
    size = len(table.state(newest[0].id)) if table and newest else 0
    events = app.recorder.max_notification_id() or 0
    app.close()
    return {
        "build_seconds": round(seconds, 1),
        "events": events,
        "snapshot_bytes": size,
        "explicit_snapshot_seconds": round(taken, 2),
    }


def one_input_run(url: str, use_snapshot: bool, number: int) -> dict[str, Any]:
    app = open_ledger(url)
    try:
        started = time.perf_counter()
        processes = ProcessManager(app, use_snapshot=use_snapshot)
        ready = time.perf_counter()
        deposit = {"op": "deposit", "account": "M0000001", "asset": "USDC", "amount": "1"}
        run_inputs(app, validate(app, json.dumps(deposit), f"one-{number}"), processes)
        done = time.perf_counter()
    finally:
        app.close()
    return {
        "start_seconds": ready - started,
        "run_seconds": done - started,
        "source": processes.start.source,
        "aggregates_read": processes.start.aggregates_read,
        "events_caught_up": processes.start.events_caught_up,
    }


def record_without_snapshot(url: str, inputs: int, accounts: int) -> int:
    """`inputs` deposits, run with no snapshot taken after them: what the next start catches up."""
    lines = [
        {"op": "deposit", "account": f"M{number * 7919 % accounts:07d}", "asset": "USDC", "amount": "1"}
        for number in range(inputs)
    ]
    app = open_ledger(url)
    try:
        before = app.recorder.max_notification_id() or 0
        processes = ProcessManager(app, snapshot_every=10**12)
        run_inputs(app, validate(app, "\n".join(json.dumps(line) for line in lines), "catch-up"), processes)
        return (app.recorder.max_notification_id() or 0) - before
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--store", help="a store URL (default: a SQLite file in a temporary folder)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--catch-up-inputs", type=int, default=4000, help="deposits recorded after the snapshot, then timed again"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_index_snapshot_") as folder:
        url = args.store or f"sqlite:///{folder}/ledger.db"
        progress(f"building a store of {args.accounts} accounts at {url.split('?')[0]}")
        built = build(url, args.accounts)
        progress(f"built: {built}")
        timings: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
        for number in range(args.repeat):
            for use_snapshot in (False, True):
                timing = one_input_run(url, use_snapshot, 2 * number + use_snapshot)
                timings[use_snapshot].append(timing)
                progress(f"{'snapshot' if use_snapshot else 'loading'}: {timing}")
        if args.catch_up_inputs:
            recorded = record_without_snapshot(url, args.catch_up_inputs, args.accounts)
            progress(f"{recorded} events recorded after the snapshot")
            caught_up = [one_input_run(url, True, 1000 + number) for number in range(args.repeat)]
            progress(f"catching up: {caught_up}")
    figures = {"commit": project_commit(), "accounts": args.accounts, **built}
    for use_snapshot, runs in timings.items():
        label = "with_snapshot" if use_snapshot else "loading_every_account"
        figures[label] = {
            "start_seconds_median": round(statistics.median(run["start_seconds"] for run in runs), 3),
            "run_seconds_median": round(statistics.median(run["run_seconds"] for run in runs), 3),
            "aggregates_read": runs[-1]["aggregates_read"],
            "source": runs[-1]["source"],
        }
    if args.catch_up_inputs:
        figures["with_snapshot_and_catch_up"] = {
            "events_caught_up": caught_up[-1]["events_caught_up"],
            "aggregates_read": caught_up[-1]["aggregates_read"],
            "start_seconds_median": round(statistics.median(run["start_seconds"] for run in caught_up), 3),
            "run_seconds_median": round(statistics.median(run["run_seconds"] for run in caught_up), 3),
        }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
