#!/usr/bin/env python3
"""Two partitions of the store on this machine against one: the measured step of docs/scaling.md.

    .venv/bin/python bench/partition_benchmark.py --quick          # 1,000 accounts, 50,000 inputs
    .venv/bin/python bench/partition_benchmark.py                  # 10,000 accounts, 1,000,000 inputs
    .venv/bin/python bench/partition_benchmark.py --quick --json   # one JSON document on stdout
    .venv/bin/python bench/partition_benchmark.py --quick --runs 3 # the median of three, in alternating order
    .venv/bin/python bench/partition_benchmark.py --quick --own-sessions  # a CPU share per process (autogroup)

One run:
1. generates a scenario (bench/generate_scenario.py: deterministic for a seed) and splits it
   by account (`partition_of`, a hash of the account's name): a line that names an account
   goes to its account's partition, a market line (params, mark, clock, liquidity, funding)
   to every partition, and every line of a partition carries its `at`, so that each input
   keeps the time it has in the whole. The generated scenario has no transfer and no auto
   top-up: no line names accounts of two partitions (the split refuses one that would; such
   a line needs the two-step transfer of docs/scaling.md, which is not built);
2. creates a PostgreSQL database `bench_scaling_...` and, in it, one schema for the whole
   (`bench_scaling_whole`) and one per partition (`bench_scaling_p0`, `bench_scaling_p1`),
   each a store of its own (`?schema=`): its own events table, notification log and writer
   lease; the database is dropped at the end;
3. applies the whole in one process, then the partitions in one process each, all at once.
   Each process does what `ledger run` does (the writer lease, `ledger.runs.open_validated`,
   `ledger.processes.inline.run_inputs`, `projections.report.build_report`); the processes
   of a measurement validate first, start applying together when all are ready, and build
   their reports once all have applied, so that only the applies are timed and they overlap
   exactly;
4. prints inputs/s of the whole and of each partition, and the scenario's inputs/s when
   partitioned (the whole's inputs over the time from the common start to the last end;
   the market lines each partition applies again count once), their ratio, the client CPU
   and the PostgreSQL backends' CPU per scenario input (from /proc: the server runs on this
   machine), the cores the processes got (that CPU over the wall time: on a shared machine
   the share the scheduler gives them, which bounds the ratio), how busy the machine's
   cores were during each apply and the load average; then
   checks the partitions against the whole: rejections, liquidations by kind, conservation,
   and each account's report line. With `--runs N`, N measurements, every other one with the
   partitions first, and the median ratio.

A liquidity offer goes to every partition whole, so a partition's takeover desk may sell
more than the single desk did: the accounts it took over may end differently, and the check
says which (docs/scaling.md, "What does not partition").

Progress goes to standard error; scenario, halves and results to bench/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import IO, Any

from bench_common import ROOT, T0, ensure_project_interpreter, progress, project_commit, scenario_parser
from run_benchmark import FULL, QUICK, create_database, drop_database  # the same presets

BENCH = Path(__file__).resolve().parent
PREFIX = "bench_scaling"
# The fields of an input that name an account (`transfer` names two, `auto_topup` its source).
ACCOUNT_FIELDS = ("account", "from", "to", "source")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class CrossPartitionLine(ValueError):
    """A line naming accounts of two partitions: it needs the two-step transfer (not built)."""


# --- the split --------------------------------------------------------------------------------


def partition_of(account: str, partitions: int) -> int:
    """The partition an account lives in: stable across runs, machines and Python versions
    (not `hash()`, which is salted per process)."""
    digest = hashlib.sha256(account.encode()).digest()
    return int.from_bytes(digest[:8], "big") % partitions


def split_scenario(scenario: Path, partitions: int, out: Path) -> tuple[list[Path], list[int]]:
    """Writes one file per partition; returns the files and the lines each holds."""
    paths = [out / f"{scenario.name.removesuffix('.jsonl')}.p{index}.jsonl" for index in range(partitions)]
    counts = [0] * partitions
    files = [path.open("w", buffering=1 << 20) for path in paths]
    try:
        at = None
        for number, line in enumerate(scenario.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            item = json.loads(line)
            at = item.setdefault("at", at)  # the time it has in the whole, written out
            if at is None:
                item.pop("at")  # the whole's first lines have no time either: the same default
            targets = _targets(item, partitions, number)
            text = json.dumps(item, separators=(",", ":")) + "\n"
            for index in targets:
                files[index].write(text)
                counts[index] += 1
    finally:
        for file in files:
            file.close()
    return paths, counts


def _targets(item: dict[str, Any], partitions: int, number: int) -> list[int]:
    named = {item[field] for field in ACCOUNT_FIELDS if isinstance(item.get(field), str)}
    if not named:
        return list(range(partitions))  # a market input: every partition needs it
    homes = sorted({partition_of(account, partitions) for account in named})
    if len(homes) > 1:
        raise CrossPartitionLine(
            f"line {number} ({item.get('op')}) names accounts of partitions {homes}: "
            "it needs the two-step transfer of docs/scaling.md, which is not built"
        )
    return homes


# --- CPU figures --------------------------------------------------------------------------------


def machine_cpu() -> tuple[int, int]:
    """(busy, total) clock ticks of every core since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        # user, nice, system, idle, iowait, irq, softirq, steal (guest time is counted in user)
        fields = [int(value) for value in stat.readline().split()[1:9]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def backend_cpu(admin_url: str, database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to `database` (empty when
    the server's processes are not visible here)."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        pids = [
            row[0]
            for row in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,)
            )
        ]
    seconds = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile, or another machine's
        seconds[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return seconds


def autogroup_enabled() -> bool | None:
    """Whether Linux shares CPU between sessions rather than processes (None: unknown)."""
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return None


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


# --- one measurement: processes that apply at once --------------------------------------------


def apply_together(
    admin_url: str, database: str, stores: list[tuple[str, Path, str]], own_sessions: bool = False
) -> dict[str, Any]:
    """Starts one process per (store URL, scenario file, label); they validate, apply at the
    same moment, then build their reports. Returns their results and the shared figures.
    `own_sessions`: each process in a session of its own, which Linux's autogroup scheduling
    gives a CPU share of its own, as if each had a machine's share to itself."""
    children = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "_apply", "--store", url, "--scenario", str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            start_new_session=own_sessions,
        )
        for url, path, _label in stores
    ]
    try:
        ready = [_expect(child, "ready") for child in children]
        server_before = backend_cpu(admin_url, database)
        machine_before = machine_cpu()
        load_before = load_average()
        for child in children:
            _tell(child, "go")
        applied = [_expect(child, "applied") for child in children]
        machine_after = machine_cpu()
        server_after = backend_cpu(admin_url, database)
        load_after = load_average()
        for child in children:
            _tell(child, "report")
        reports = [_expect(child, "report") for child in children]
    finally:
        for child in children:
            if child.poll() is None and child.stdin is not None:
                child.stdin.close()  # a child waiting for its next word ends on EOF
            child.wait()
    start = min(result["start"] for result in applied)
    end = max(result["end"] for result in applied)
    busy = machine_after[0] - machine_before[0]
    total = machine_after[1] - machine_before[1]
    return {
        "processes": [
            {"label": label, **known, **result, **report}
            for (_url, _path, label), known, result, report in zip(stores, ready, applied, reports)
        ],
        "wall_s": end - start,
        "client_cpu_s": sum(result["cpu_s"] for result in applied),
        # A backend seen only at the end started during the apply: all of its time counts.
        "server_cpu_s": sum(seconds - server_before.get(pid, 0.0) for pid, seconds in server_after.items()),
        "server_visible": bool(server_after),
        "machine_busy": busy / total if total else float("nan"),
        "load_average_before": load_before,
        "load_average_after": load_after,
    }


def _tell(child: subprocess.Popen[str], word: str) -> None:
    assert child.stdin is not None
    child.stdin.write(word + "\n")
    child.stdin.flush()


def _expect(child: subprocess.Popen[str], key: str) -> dict[str, Any]:
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        raise RuntimeError(f"a measuring process exited ({child.wait()}) before saying {key!r}")
    message = json.loads(line)
    if "error" in message:
        raise RuntimeError(f"a measuring process failed: {message['error']}")
    if key not in message:
        raise RuntimeError(f"a measuring process said {sorted(message)}, not {key!r}")
    return dict(message[key])


def _apply_main(argv: list[str]) -> int:
    """A measuring process: `ledger run`'s steps, each begun when the parent says so."""
    parser = argparse.ArgumentParser(prog="partition_benchmark.py _apply")
    parser.add_argument("--store", required=True)
    parser.add_argument("--scenario", type=Path, required=True)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from ledger.processes.inline import run_inputs
    from ledger.runs import open_validated
    from ledger.store import writer_lease
    from projections.report import build_report

    def say(key: str, value: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps({key: value}) + "\n")
        sys.stdout.flush()

    def wait_for(word: str, stdin: IO[str] = sys.stdin) -> None:
        heard = stdin.readline().strip()
        if heard != word:
            raise SystemExit(f"expected {word!r} from the benchmark, got {heard!r}")

    try:
        with writer_lease(args.store):  # as `ledger run`: one lease per store, so the partitions' do not meet
            app, planned = open_validated(args.store, args.scenario.read_text(), args.scenario.name)
            try:
                say("ready", {"inputs": len(planned.inputs)})
                wait_for("go")
                started, cpu = time.time(), time.process_time()
                run_inputs(app, planned.inputs)
                say("applied", {"start": started, "end": time.time(), "cpu_s": time.process_time() - cpu})
                wait_for("report")
                say("report", _summary(build_report(app), app.recorder.max_notification_id() or 0))
            finally:
                app.close()
    except Exception as exc:  # the parent stops the measurement and names it
        import traceback

        traceback.print_exc()
        say("error", {"message": f"{type(exc).__name__}: {exc}"})
        return 2
    return 0


def _summary(report: dict[str, Any], notifications: int) -> dict[str, Any]:
    liquidations = report["liquidations"]
    return {
        "notifications": notifications,
        "rejections": len(report["rejections"]),
        "liquidations_by_kind": dict(Counter(item["kind"] for item in liquidations)),
        "taken_over": sorted({item["account"] for item in liquidations if item["kind"] != "regular"}),
        "conservation_faults": len(report["conservation"]),
        "accounts": report["accounts"],
    }


# --- the figures ---------------------------------------------------------------------------------


def figures(measurement: dict[str, Any], scenario_inputs: int) -> dict[str, Any]:
    """Per measurement: the scenario's inputs/s, CPU per scenario input, and each process's rate."""
    processes = measurement["processes"]
    return {
        "inputs_per_s": scenario_inputs / measurement["wall_s"],
        "inputs_applied": sum(process["inputs"] for process in processes),
        "wall_s": measurement["wall_s"],
        "client_cpu_us_per_input": 1e6 * measurement["client_cpu_s"] / scenario_inputs,
        "server_cpu_us_per_input": (
            1e6 * measurement["server_cpu_s"] / scenario_inputs if measurement["server_visible"] else None
        ),
        # What the processes got of the machine: client and backend CPU over the apply's wall time.
        "cores_used": (measurement["client_cpu_s"] + measurement["server_cpu_s"]) / measurement["wall_s"],
        "machine_busy": measurement["machine_busy"],
        "load_average_before": measurement["load_average_before"],
        "load_average_after": measurement["load_average_after"],
        "per_process": [
            {
                "label": process["label"],
                "inputs": process["inputs"],
                "apply_s": process["end"] - process["start"],
                "inputs_per_s": process["inputs"] / (process["end"] - process["start"]),
                "client_cpu_us_per_input": 1e6 * process["cpu_s"] / process["inputs"],
                "notifications": process["notifications"],
            }
            for process in processes
        ],
    }


def compare(whole: dict[str, Any], parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The partitions against the whole: what must be equal, and which accounts differ."""
    kinds: Counter[str] = Counter()
    for part in parts:
        kinds.update(part["liquidations_by_kind"])
    accounts: dict[str, Any] = {}
    for part in parts:
        accounts.update(part["accounts"])
    differing = sorted(name for name, line in whole["accounts"].items() if accounts.get(name) != line)
    taken_over = set(whole["taken_over"]).union(*(part["taken_over"] for part in parts))
    return {
        "rejections": {"whole": whole["rejections"], "partitions": sum(part["rejections"] for part in parts)},
        "liquidations_by_kind": {"whole": whole["liquidations_by_kind"], "partitions": dict(kinds)},
        "conservation_faults": whole["conservation_faults"] + sum(part["conservation_faults"] for part in parts),
        "accounts": len(whole["accounts"]),
        "accounts_in_partitions": len(accounts),
        "accounts_differing": len(differing),
        "differing_not_taken_over": [name for name in differing if name not in taken_over],
        "notifications": {"whole": whole["notifications"], "partitions": [part["notifications"] for part in parts]},
    }


def verdicts(comparison: dict[str, Any]) -> list[str]:
    notes = []
    for key in ("rejections", "liquidations_by_kind"):
        same = comparison[key]["whole"] == comparison[key]["partitions"]
        notes.append(f"{key.replace('_', ' ')}: " + ("equal" if same else f"DIFFER {comparison[key]}"))
    notes.append(
        "conservation: holds in every store"
        if not comparison["conservation_faults"]
        else f"conservation BROKEN ({comparison['conservation_faults']} imbalances)"
    )
    same = comparison["accounts"] - comparison["accounts_differing"]
    if not comparison["accounts_differing"]:
        detail = "none differ"
    elif not comparison["differing_not_taken_over"]:
        detail = f"{comparison['accounts_differing']} differ, all of them taken over (each partition's desk was "
        detail += "offered the whole liquidity)"
    else:
        detail = f"{comparison['accounts_differing']} differ, {len(comparison['differing_not_taken_over'])} NOT "
        detail += f"taken over: {comparison['differing_not_taken_over'][:10]}"
    notes.append(f"accounts: {same:,} of {comparison['accounts']:,} end as in the whole; {detail}")
    if comparison["accounts_in_partitions"] != comparison["accounts"]:
        notes.append(
            f"accounts: {comparison['accounts_in_partitions']:,} in the partitions, not {comparison['accounts']:,}"
        )
    return notes


def print_table(summary: dict[str, Any]) -> None:
    whole, parted = summary["whole"], summary["partitioned"]
    print(
        f"\npartition benchmark: {summary['accounts']:,} accounts, {summary['inputs']:,} inputs, seed {summary['seed']}"
        f"{' (--quick)' if summary['quick'] else ''}, {summary['partitions']} partitions, project "
        f"{summary['project_commit']}, {summary['cpus']} CPUs"
    )
    sessions = "a session each (--own-sessions)" if summary["own_sessions"] else "one session"
    autogroup = {True: "on", False: "off", None: "unknown"}[summary["autogroup"]]
    print(f"measuring processes: {sessions}; autogroup scheduling {autogroup}")
    print(
        f"split by account: {' + '.join(f'{count:,}' for count in summary['lines_per_partition'])} lines "
        f"({summary['market_lines']:,} market lines in every partition)\n"
    )
    width = 18
    print(f"{'':40}{'one store':>{width}}{'partitioned':>{width}}")

    def row(title: str, key: str, fmt: str) -> None:
        cells = [whole.get(key), parted.get(key)]
        print(f"{title:40}" + "".join(f"{format(c, fmt) if c is not None else '-':>{width}}" for c in cells))

    row("scenario inputs/s", "inputs_per_s", ",.0f")
    row("apply wall s", "wall_s", ".2f")
    row("inputs applied", "inputs_applied", ",")
    row("client CPU µs per scenario input", "client_cpu_us_per_input", ",.0f")
    row("PostgreSQL CPU µs per scenario input", "server_cpu_us_per_input", ",.0f")
    row("cores used (all CPU above / wall)", "cores_used", ".2f")
    row("machine CPU busy during the apply", "machine_busy", ".0%")
    row("load average (1 min) before", "load_average_before", ".2f")
    row("load average (1 min) after", "load_average_after", ".2f")
    for process in parted["per_process"]:
        print(
            f"  {process['label']}: {process['inputs']:,} inputs in {process['apply_s']:.2f}s, "
            f"{process['inputs_per_s']:,.0f}/s, {process['client_cpu_us_per_input']:,.0f} µs client CPU per input"
        )
    runs = summary["runs"]
    if len(runs) > 1:
        each = ", ".join(f"{run['ratio']:.2f} ({run['order'][0]} first)" for run in runs)
        print(f"\npartitioned / one store = {summary['ratio']:.2f}, the median of {len(runs)} runs: {each}")
        print("(the table shows the median run)")
    else:
        print(f"\npartitioned / one store = {summary['ratio']:.2f}")
    for note in summary["checks"]:
        print(f"check: {note}")
    print(
        "indicative: other processes share the machine's cores (see the load average); "
        f"total wall {summary['total_wall_s']:.1f}s; results in {summary['results_file']}"
    )


def measure_once(
    admin: str,
    database: str,
    url: str,
    scenario: Path,
    parts: list[Path],
    number: int,
    inputs: int,
    keep: bool,
    own_sessions: bool,
) -> dict[str, Any]:
    """One store, then the partitions (every other run the other way round, so that a trend
    in the machine's load favours neither), each into schemas of its own, dropped after."""
    suffix = f"_r{number}"
    stores = {
        "whole": [(f"{url}?schema={PREFIX}_whole{suffix}", scenario, "whole")],
        "partitioned": [
            (f"{url}?schema={PREFIX}_p{index}{suffix}", path, f"p{index}") for index, path in enumerate(parts)
        ],
    }
    order = ["whole", "partitioned"] if number % 2 == 0 else ["partitioned", "whole"]
    measured = {}
    for label in order:
        progress(f"run {number + 1}, {label}: {len(stores[label])} process(es), schema(s) ...{suffix}")
        measured[label] = apply_together(admin, database, stores[label], own_sessions)
    if not keep:
        drop_schemas(url, [store[0] for label in order for store in stores[label]])
    whole, partitioned = figures(measured["whole"], inputs), figures(measured["partitioned"], inputs)
    return {
        "order": order,
        "whole": whole,
        "partitioned": partitioned,
        "ratio": partitioned["inputs_per_s"] / whole["inputs_per_s"],
        "comparison": compare(measured["whole"]["processes"][0], measured["partitioned"]["processes"]),
    }


def drop_schemas(url: str, store_urls: list[str]) -> None:
    """The runs' stores, so that a long benchmark keeps one run's data at a time."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as connection:
        for store_url in store_urls:
            schema = store_url.rpartition("?schema=")[2]
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# --- the run -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_apply"]:
        return _apply_main(argv[1:])
    parser = scenario_parser(__doc__, "accounts", FULL, QUICK, "1,000 accounts, 50,000 inputs")
    parser.add_argument("--partitions", type=int, default=2, help="partitions, each applied by a process (default 2)")
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="measurements, in alternating order; the median ratio is shown (default 1)",
    )
    parser.add_argument(
        "--own-sessions",
        action="store_true",
        help="each measuring process in a session of its own: under Linux's autogroup scheduling, a CPU share each "
        "(the partitions as if on machines of their own; takes more of a shared machine)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database (bench_scaling_...)")
    parser.add_argument("--json", action="store_true", help="print one JSON document of the figures on stdout")
    args = parser.parse_args(argv)
    if args.partitions < 2:
        parser.error("--partitions must be at least 2")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    preset = QUICK if args.quick else FULL
    accounts, inputs = args.accounts or preset["accounts"], args.inputs or preset["inputs"]

    sys.path.insert(0, str(BENCH))
    from generate_scenario import write_scenario

    args.out.mkdir(parents=True, exist_ok=True)
    scenario = args.out / f"scaling-{accounts}a-{inputs}i-s{args.seed}.jsonl"
    progress(f"generating {scenario.name} ({accounts:,} accounts, {inputs:,} inputs, seed {args.seed})")
    try:
        meta = write_scenario(scenario, accounts, inputs, args.seed)
        parts, counts = split_scenario(scenario, args.partitions, args.out)
    except ValueError as exc:  # the generator's limits, or a CrossPartitionLine
        parser.error(str(exc))
    market_lines = sum(counts) - inputs  # the lines every partition has, counted once more each
    market_lines //= args.partitions - 1
    progress(f"split into {args.partitions}: {counts} lines, {market_lines:,} market lines in each")

    database = f"{PREFIX}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = create_database(args.postgres, database)
    admin = f"{args.postgres}/postgres"
    summary: dict[str, Any] = {
        "project_commit": project_commit(),
        "cpus": os.cpu_count(),
        "accounts": accounts,
        "inputs": inputs,
        "seed": args.seed,
        "quick": args.quick,
        "partitions": args.partitions,
        "own_sessions": args.own_sessions,
        "autogroup": autogroup_enabled(),
        "ops": meta["ops"],
        "lines_per_partition": counts,
        "market_lines": market_lines,
        "database": database,
    }
    runs = []
    try:
        for number in range(args.runs):
            runs.append(
                measure_once(admin, database, url, scenario, parts, number, inputs, args.keep, args.own_sessions)
            )
            progress(f"run {number + 1}/{args.runs}: partitioned / one store = {runs[-1]['ratio']:.2f}")
    finally:
        if args.keep:
            progress(f"kept database {database}")
        else:
            drop_database(args.postgres, database)
            progress(f"dropped database {database}")

    median = sorted(runs, key=lambda run: run["ratio"])[(len(runs) - 1) // 2]  # the lower median
    summary.update({key: median[key] for key in ("whole", "partitioned", "ratio", "comparison")})
    summary["ratios"] = [run["ratio"] for run in runs]
    summary["runs"] = [{key: run[key] for key in ("order", "whole", "partitioned", "ratio")} for run in runs]
    summary["checks"] = [
        (f"run {number}: " if len(runs) > 1 else "") + note
        for number, run in enumerate(runs, start=1)
        for note in verdicts(run["comparison"])
    ]
    summary["total_wall_s"] = time.time() - T0
    results = args.out / f"scaling-results-{accounts}a-{inputs}i-s{args.seed}.json"
    summary["results_file"] = str(results)
    results.write_text(json.dumps(summary, indent=2) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        print_table(summary)
    broken = any(
        run["comparison"]["conservation_faults"] or run["comparison"]["differing_not_taken_over"] for run in runs
    )
    return 1 if broken else 0


if __name__ == "__main__":
    ensure_project_interpreter()
    sys.exit(main())
