#!/usr/bin/env python3
"""Throughput of `ledger run` on SQLite and PostgreSQL, against a raw psycopg baseline.

    .venv/bin/python bench/run_benchmark.py --quick            # 1,000 accounts, 50,000 inputs (< 1 min)
    .venv/bin/python bench/run_benchmark.py                    # 10,000 accounts, 1,000,000 inputs
    .venv/bin/python bench/run_benchmark.py --quick --json     # one JSON document on stdout
    .venv/bin/python bench/run_benchmark.py --quick --profile  # + a cProfile'd PostgreSQL apply
    .venv/bin/python bench/run_benchmark.py --quick --no-phases  # without the run split by phase

One run:
1. generates a scenario (bench/generate_scenario.py: deterministic for a seed);
2. applies it as `ledger run` does (open_ledger, validate, run_inputs, build_report), with the
   apply phase and the report timed apart, (a) to a fresh SQLite file and (b) to a fresh
   PostgreSQL database that this script creates and drops. Each store is measured in a child
   process of its own (a fresh interpreter, nothing shared);
3. (c) inserts as many rows as there are inputs into a fresh table of that PostgreSQL
   database with raw psycopg 3, 100 rows a transaction, rows shaped like eventsourcing's
   stored events (uuid, int version, text topic, ~300 bytes of bytea state); three times
   (--baseline-runs), each into a fresh table, and takes the median;
4. (d) applies it once more to a fresh PostgreSQL database with timing wrappers around the apply
   phase's parts (bench_common.PhaseClock), for the CPU microseconds per input by phase:
   rules, processes, reads, encoding, insert, snapshots, the rest (skip with --no-phases);
5. prints inputs/s for both stores, the baseline's rows/s and PostgreSQL / baseline (goal >= 0.5),
   CPU microseconds per input (apply, validate, and the apply by phase), the liquidations by
   kind, the rejections, the events stored and the wall times.

Each measured run holds the store's writer lease, as `ledger run` does.

Progress goes to standard error; scenario, results and profiles to bench/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench_common import (
    T0,
    PhaseClock,
    ProgressList,
    ensure_project_interpreter,
    progress,
    project_commit,
    scenario_parser,
)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
QUICK = {"accounts": 1000, "inputs": 50000}
FULL = {"accounts": 10000, "inputs": 1000000}
BASELINE_BATCH = 100
BASELINE_STATE_BYTES = 300
BASELINE_TOPIC = "ledger.domain.margin.account:Account.Deposited"


# --- (a), (b): one store, measured in a child process ---------------------------------------


def _count_rows(url: str, app: Any) -> dict[str, int]:
    tables = {"events": app.recorder.events_table_name}
    if app.snapshots is not None:
        tables["snapshots"] = app.snapshots.recorder.events_table_name
    counts = {}
    if url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(url[len("sqlite:///") :]) as connection:
            for key, table in tables.items():
                counts[key] = connection.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
    else:
        import psycopg
        from psycopg import sql

        schema = app.recorder.datastore.schema
        with psycopg.connect(url.split("?")[0]) as connection:
            for key, table in tables.items():
                query = sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(schema, table))
                counts[key] = connection.execute(query).fetchone()[0]
    return counts


def measure(url: str, scenario: Path, label: str, profile: Path | None, phases: bool = False) -> dict[str, Any]:
    """As `ledger run`: under the store's writer lease, so the ledger knows in memory which
    aggregates exist."""
    from ledger.store import writer_lease

    with writer_lease(url):
        return _measure_leased(url, scenario, label, profile, phases)


def _measure_leased(url: str, scenario: Path, label: str, profile: Path | None, phases: bool) -> dict[str, Any]:
    import resource

    from ledger.bootstrap import open_ledger
    from ledger.inputs import InputErrors
    from ledger.processes.inline import run_inputs
    from ledger.runs import validate
    from projections.report import build_report

    result: dict[str, Any] = {"store": label}
    started = time.perf_counter()
    app = open_ledger(url)
    opened = time.perf_counter()
    text = scenario.read_text()
    validate_cpu = time.process_time()
    try:
        inputs = ProgressList(validate(app, text, scenario.name))
    except InputErrors as errors:
        for error in errors.errors[:20]:
            print(f"  {error}", file=sys.stderr)
        return {**result, "error": f"{len(errors.errors)} input errors in {scenario.name}"}
    validate_cpu = time.process_time() - validate_cpu
    app.remember_existence()
    validated = time.perf_counter()
    clock = _phase_clock(app) if phases else None
    progress(
        f"[{label}] opened in {opened - started:.2f}s, validated {len(inputs):,} inputs in "
        f"{validated - opened:.2f}s; applying"
    )

    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(10):
            elapsed = time.perf_counter() - validated
            progress(f"[{label}] applied {inputs.done:,}/{len(inputs):,} inputs ({inputs.done / elapsed:,.0f}/s)")

    threading.Thread(target=heartbeat, daemon=True).start()
    cpu = time.process_time()
    apply_started = time.perf_counter()
    try:
        if profile is not None:
            import cProfile

            profiler = cProfile.Profile()
            profiler.runcall(run_inputs, app, inputs, on_progress=inputs.note)
            profiler.dump_stats(str(profile))
        else:
            run_inputs(app, inputs, on_progress=inputs.note)
    except Exception as exc:  # the figures so far, and what broke
        stop.set()
        import traceback

        traceback.print_exc()
        return {**result, "error": f"run_inputs failed after {inputs.done:,} inputs: {type(exc).__name__}: {exc}"}
    applied = time.perf_counter()
    apply_cpu = time.process_time() - cpu
    if clock is not None:
        result["cpu_us_per_input_by_phase"] = {
            phase: seconds / len(inputs) * 1e6 for phase, seconds in clock.stop().items()
        }
    stop.set()
    progress(f"[{label}] applied in {applied - apply_started:.2f}s; building the report")
    report = build_report(app)
    reported = time.perf_counter()

    liquidations = report["liquidations"]
    rows = _count_rows(url, app)
    result.update(
        {
            "inputs": len(inputs),
            "open_s": opened - started,
            "validate_s": validated - opened,
            "apply_s": applied - apply_started,
            "apply_cpu_s": apply_cpu,
            "apply_cpu_us_per_input": apply_cpu / len(inputs) * 1e6,
            "validate_cpu_us_per_input": validate_cpu / len(inputs) * 1e6,
            "report_s": reported - applied,
            "wall_s": reported - started,
            "inputs_per_s": len(inputs) / (applied - apply_started),
            "events_stored": rows["events"],
            "snapshots_stored": rows.get("snapshots", 0),
            "events_per_s": rows["events"] / (applied - apply_started),
            "liquidations": len(liquidations),
            "liquidations_by_kind": dict(sorted(Counter(item["kind"] for item in liquidations).items())),
            "liquidations_by_status": dict(sorted(Counter(item["status"] for item in liquidations).items())),
            "rejections": len(report["rejections"]),
            "accounts": len(report["accounts"]),
            "conservation_faults": len(report["conservation"]),
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "profiled": profile is not None,
            "phases_timed": phases,
        }
    )
    return result


OTHER_PHASE = "other: unit of work, batching, events made outside the rules"


def _phase_clock(app: Any) -> PhaseClock:
    """Wrappers around the apply phase's parts (see PhaseClock): the time not in one of them
    is the unit of work's own, the batching's and the driver's."""
    import ledger.unit_of_work
    import ledger.write_path
    from ledger.processes.inline import ProcessManager

    clock = PhaseClock(OTHER_PHASE)
    clock.wrap(ledger.write_path, "run_command", "rules: commands on the aggregates (events made)")
    clock.wrap(ProcessManager, "would_react", "processes: indexes and routing")
    clock.wrap(ProcessManager, "react", "processes: reactions")
    clock.wrap(ledger.unit_of_work, "assert_balanced", "checks: entries balanced")
    clock.wrap(app.repository, "get", "reads: aggregates (decoding, folding)")
    clock.wrap(app.recorder, "select_events", "reads: SQL (events)")
    clock.wrap(app.recorder, "select_notifications", "reads: SQL (notifications)")
    clock.wrap(app.mapper, "to_stored_event", "save: encoding (transcoder)")
    clock.wrap(app.recorder, "insert_events", "save: insert (recorder)")
    clock.wrap(app, "_take_snapshots", "save: snapshots")
    return clock


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def run_child(url: str, scenario: Path, label: str, profile: Path | None, phases: bool = False) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_measure",
        "--store",
        url,
        "--scenario",
        str(scenario),
        "--label",
        label,
    ]
    if profile is not None:
        command += ["--profile-to", str(profile)]
    if phases:
        command += ["--phases"]
    load = load_average()
    started = time.perf_counter()
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    try:
        result = json.loads(completed.stdout)
    except json.JSONDecodeError:
        result = {"store": label, "error": f"the measuring process exited {completed.returncode} without a result"}
    result["process_wall_s"] = wall
    result["load_average_before"] = load
    return result


# --- PostgreSQL databases, and (c) the raw psycopg baseline ---------------------------------


def create_database(server: str, name: str) -> str:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{server}/{name}"


def drop_database(server: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def baseline(url: str, rows: int, aggregates: int, seed: int, runs: int) -> dict[str, Any]:
    """`runs` times, each into a fresh table: the median, and every run's rows/s."""
    results = []
    for number in range(1, runs + 1):
        results.append(baseline_once(url, rows, aggregates, seed))
        progress(f"baseline run {number}/{runs}: {results[-1]['rows_per_s']:,.0f} rows/s")
    ordered = sorted(results, key=lambda r: r["rows_per_s"])
    median = (
        ordered[len(ordered) // 2]
        if len(ordered) % 2
        else {
            **ordered[len(ordered) // 2],
            "rows_per_s": (ordered[len(ordered) // 2 - 1]["rows_per_s"] + ordered[len(ordered) // 2]["rows_per_s"]) / 2,
        }
    )
    return {**median, "runs": [r["rows_per_s"] for r in results]}


def baseline_once(url: str, rows: int, aggregates: int, seed: int) -> dict[str, Any]:
    """Rows shaped like eventsourcing's stored events, into a table built like its events table
    (primary key on id and version, bigserial notification id with a unique index), executemany
    of 100 rows a transaction."""
    import psycopg

    rng = random.Random(seed)
    states = [rng.randbytes(BASELINE_STATE_BYTES) for _ in range(1024)]
    ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(max(1, aggregates))]
    versions = [0] * len(ids)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_baseline_events")
        connection.execute(
            "CREATE TABLE bench_baseline_events (originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
            "topic text, state bytea, notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
        )
        connection.execute(
            "CREATE UNIQUE INDEX bench_baseline_events_notification_id_idx "
            "ON bench_baseline_events (notification_id ASC)"
        )
        insert = (
            "INSERT INTO bench_baseline_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)"
        )
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for first in range(0, rows, BASELINE_BATCH):
                batch = []
                for number in range(first, min(first + BASELINE_BATCH, rows)):
                    aggregate = number % len(ids)
                    versions[aggregate] += 1
                    batch.append((ids[aggregate], versions[aggregate], BASELINE_TOPIC, states[number & 1023]))
                with connection.transaction():
                    cursor.executemany(insert, batch)
        elapsed = time.perf_counter() - started
        stored = connection.execute("SELECT COUNT(*) FROM bench_baseline_events").fetchone()[0]
    return {
        "rows": stored,
        "batch": BASELINE_BATCH,
        "state_bytes": BASELINE_STATE_BYTES,
        "seconds": elapsed,
        "rows_per_s": stored / elapsed,
    }


def print_profile(path: Path, top: int = 30) -> None:
    import pstats

    print(f"\ncProfile of the PostgreSQL apply phase ({path}), top {top} by cumulative time:", file=sys.stderr)
    stats = pstats.Stats(str(path), stream=sys.stderr)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)


# --- the figures -----------------------------------------------------------------------------


def _kinds(result: dict[str, Any]) -> str:
    kinds = result.get("liquidations_by_kind", {})
    text = ", ".join(f"{kind} {kinds.get(kind, 0)}" for kind in ("regular", "takeover", "mixed"))
    statuses = ", ".join(f"{status} {count}" for status, count in result.get("liquidations_by_status", {}).items())
    return f"{result.get('liquidations', 0)} ({text}; {statuses})"


def print_table(summary: dict[str, Any]) -> None:
    stores = [summary[key] for key in ("sqlite", "postgres") if key in summary]
    width = 16
    print(
        f"\nmargin-ledger benchmark: {summary['accounts']:,} accounts, {summary['inputs']:,} inputs, "
        f"seed {summary['seed']}{' (--quick)' if summary['quick'] else ''}, project {summary['project_commit']}"
    )
    print(
        f"scenario {summary['scenario']} generated in {summary['generate_s']:.1f}s: "
        + ", ".join(f"{op} {count:,}" for op, count in summary["ops"].items())
    )
    print()
    print(f"{'':34}" + "".join(f"{store['store']:>{width}}" for store in stores))

    def row(title: str, key: str, fmt: str) -> None:
        cells = []
        for store in stores:
            value = store.get(key)
            cells.append(f"{format(value, fmt) if value is not None else '-':>{width}}")
        print(f"{title:34}" + "".join(cells))

    row("apply: inputs/s", "inputs_per_s", ",.0f")
    row("apply: events stored/s", "events_per_s", ",.0f")
    row("apply wall s", "apply_s", ".2f")
    row("apply CPU s (this process)", "apply_cpu_s", ".2f")
    row("apply CPU us/input", "apply_cpu_us_per_input", ",.0f")
    row("validate CPU us/input", "validate_cpu_us_per_input", ",.0f")
    row("open s", "open_s", ".2f")
    row("validate s", "validate_s", ".2f")
    row("report (build_report) s", "report_s", ".2f")
    row("wall s (measuring process)", "process_wall_s", ".2f")
    row("events stored", "events_stored", ",")
    row("snapshots stored", "snapshots_stored", ",")
    row("rejections", "rejections", ",")
    row("max RSS MB", "max_rss_mb", ",.0f")
    for store in stores:
        if "error" in store:
            print(f"{store['store']}: FAILED: {store['error']}")
        else:
            print(f"liquidations ({store['store']}): {_kinds(store)}")
    if "baseline" in summary:
        base = summary["baseline"]
        spread = " / ".join(f"{value:,.0f}" for value in base["runs"])
        print(
            f"baseline (raw psycopg, {base['batch']} rows/transaction, {base['state_bytes']} B state): "
            f"{base['rows']:,} rows, median {base['rows_per_s']:,.0f} rows/s (runs: {spread})"
        )
    split = summary.get("phases", {}).get("cpu_us_per_input_by_phase")
    if split:
        print(
            f"PostgreSQL apply CPU us per input by phase (a run of its own, with timing wrappers: "
            f"{sum(split.values()):,.0f} us in all):"
        )
        for phase, micros in split.items():
            print(f"  {micros:8.1f}  {phase}")
    if summary.get("ratio") is not None:
        verdict = "met" if summary["ratio"] >= 0.5 else "NOT met"
        print(f"PostgreSQL inputs/s / baseline rows/s = {summary['ratio']:.3f}  (goal >= 0.5: {verdict})")
    print(
        f"expected (generator): rejections {summary['expected']['rejections']}, liquidations "
        + ", ".join(f"{k} {v}" for k, v in sorted(summary["expected"]["liquidations"].items()))
    )
    for note in summary["checks"]:
        print(f"check: {note}")
    print(
        f"load average (1 min) at start {summary['load_average_at_start']:.2f} on {summary['cpus']} CPUs"
        + "".join(f", before {s['store']} {s['load_average_before']:.2f}" for s in stores if "load_average_before" in s)
        + ": figures vary with other load on the machine"
    )
    print(f"total wall {summary['total_wall_s']:.1f}s; results in {summary['results_file']}")


def checks(summary: dict[str, Any]) -> list[str]:
    notes = []
    expected = summary["expected"]
    for key in ("sqlite", "postgres"):
        store = summary.get(key)
        if not store or "error" in store:
            continue
        kinds = store["liquidations_by_kind"]
        missing = [kind for kind in ("regular", "takeover", "mixed") if not kinds.get(kind)]
        notes.append(f"{key}: all three liquidation kinds: " + ("yes" if not missing else f"NO (missing {missing})"))
        if store["rejections"] != expected["rejections"]:
            notes.append(f"{key}: {store['rejections']} rejections, the generator expected {expected['rejections']}")
        if kinds != {k: v for k, v in expected["liquidations"].items() if v}:
            notes.append(
                f"{key}: liquidations {kinds} differ from the generator's prediction {expected['liquidations']}"
            )
        if store["conservation_faults"]:
            notes.append(f"{key}: conservation broken ({store['conservation_faults']} imbalances)")
    both = [summary.get(key) for key in ("sqlite", "postgres")]
    if all(b and "error" not in b for b in both):
        fields = ("liquidations_by_kind", "liquidations_by_status", "rejections", "events_stored")
        differing = [f for f in fields if both[0][f] != both[1][f]]
        notes.append("sqlite and postgres agree" if not differing else f"sqlite and postgres differ in {differing}")
    return notes


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_measure"]:
        return _measure_main(argv[1:])
    parser = scenario_parser(
        __doc__, "accounts", FULL, QUICK, "the quick preset: 1,000 accounts, 50,000 inputs (a check that all works)"
    )
    parser.add_argument(
        "--mark-share", type=float, default=0.01, help="share of random-walk marks among the inputs (default 0.01)"
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true", help="also skips the baseline")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="afterwards, one more PostgreSQL run under cProfile (apply phase), top entries to stderr",
    )
    parser.add_argument(
        "--baseline-runs",
        type=int,
        default=3,
        help="baseline repetitions, each into a fresh table; the median is reported (default 3)",
    )
    parser.add_argument(
        "--no-phases",
        action="store_true",
        help="skip the extra PostgreSQL run that splits the apply phase's CPU time by phase",
    )
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file and the PostgreSQL database")
    parser.add_argument("--json", action="store_true", help="print one JSON document of the figures on stdout")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    accounts = args.accounts or preset["accounts"]
    inputs = args.inputs or preset["inputs"]

    sys.path.insert(0, str(BENCH))
    from generate_scenario import write_scenario

    args.out.mkdir(parents=True, exist_ok=True)
    scenario = args.out / f"scenario-{accounts}a-{inputs}i-s{args.seed}.jsonl"
    progress(f"generating {scenario.name} ({accounts:,} accounts, {inputs:,} inputs, seed {args.seed})")
    started = time.perf_counter()
    try:
        meta = write_scenario(scenario, accounts, inputs, args.seed, mark_share=args.mark_share)
    except ValueError as exc:
        parser.error(str(exc))
    generated = time.perf_counter() - started
    progress(f"generated in {generated:.1f}s: {meta['ops']}")

    summary: dict[str, Any] = {
        "project_commit": project_commit(),
        "cpus": os.cpu_count(),
        "load_average_at_start": load_average(),
        "accounts": accounts,
        "inputs": inputs,
        "seed": args.seed,
        "quick": args.quick,
        "mark_share": args.mark_share,
        "scenario": str(scenario),
        "generate_s": generated,
        "ops": meta["ops"],
        "expected": {"rejections": meta["expected_rejections"], "liquidations": meta["predicted_liquidations"]},
        "drops": meta["drops"],
    }

    if not args.skip_sqlite:
        database = args.out / "bench-sqlite.db"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        progress(f"(a) SQLite: {database}")
        summary["sqlite"] = run_child(f"sqlite:///{database}", scenario, "sqlite", None)
        if not args.keep:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)

    if not args.skip_postgres:
        name = f"ledger_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        try:
            url = create_database(args.postgres, name)
        except Exception as exc:  # psycopg.OperationalError and the like: no server, no rights
            progress(f"(b) PostgreSQL: cannot create a database on {args.postgres}: {exc}")
            summary["postgres"] = {"store": "postgres", "error": f"cannot create a database: {exc}"}
            args.skip_postgres = True
    if not args.skip_postgres:
        progress(f"(b) PostgreSQL: created database {name}")
        try:
            summary["postgres"] = run_child(url, scenario, "postgres", None)
            progress(f"(c) baseline: {inputs:,} rows, {BASELINE_BATCH} a transaction, into {name}")
            summary["baseline"] = baseline(url, inputs, accounts, args.seed, max(1, args.baseline_runs))
        finally:
            if args.keep:
                progress(f"kept database {name}")
            else:
                drop_database(args.postgres, name)
                progress(f"dropped database {name}")
        postgres = summary["postgres"]
        if "inputs_per_s" in postgres:
            summary["ratio"] = postgres["inputs_per_s"] / summary["baseline"]["rows_per_s"]

    if not args.skip_postgres and not args.no_phases:
        name = f"ledger_bench_phases_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        url = create_database(args.postgres, name)
        progress(f"splitting the CPU time of a PostgreSQL run by phase in {name} (its throughput is not reported)")
        try:
            summary["phases"] = run_child(url, scenario, "postgres-phases", None, phases=True)
        finally:
            drop_database(args.postgres, name)

    if args.profile:
        name = f"ledger_bench_profile_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        url = create_database(args.postgres, name)
        profile = args.out / f"profile-postgres-{accounts}a-{inputs}i.prof"
        progress(f"profiling a PostgreSQL run in {name} (figures of this run are not reported)")
        try:
            summary["profile"] = {**run_child(url, scenario, "postgres-profiled", profile), "file": str(profile)}
        finally:
            drop_database(args.postgres, name)
        if profile.exists():
            print_profile(profile)

    summary["checks"] = checks(summary)
    summary["total_wall_s"] = time.time() - T0
    results = args.out / f"results-{accounts}a-{inputs}i-s{args.seed}.json"
    summary["results_file"] = str(results)
    results.write_text(json.dumps(summary, indent=2) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        print_table(summary)
    failed = any("error" in summary.get(key, {}) for key in ("sqlite", "postgres"))
    return 1 if failed else 0


def _measure_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="run_benchmark.py _measure")
    parser.add_argument("--store", required=True)
    parser.add_argument("--scenario", type=Path, required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--profile-to", type=Path)
    parser.add_argument("--phases", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.store, args.scenario, args.label, args.profile_to, args.phases)
    sys.stdout.write(json.dumps(result) + "\n")
    return 2 if "error" in result else 0


if __name__ == "__main__":
    ensure_project_interpreter()
    sys.exit(main())
