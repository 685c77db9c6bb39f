#!/usr/bin/env python3
"""Liquidations per second in service mode: one mark liquidates every account.

    .venv/bin/python bench/service_benchmark.py                 # 1,000 accounts; 1 and 2 worker processes
    .venv/bin/python bench/service_benchmark.py --accounts 200  # smaller
    .venv/bin/python bench/service_benchmark.py --json

One run, in a PostgreSQL database this script creates and drops:
1. for each measurement, a fresh schema gets the accounts (user A's shape from seed 004:
   2 BTC deposited, 390,000 USDC borrowed, 7.8 BTC bought) through `ledger run`'s inline
   path, processes included; the dispatcher's position is then set to the last event, as
   every event so far has been reacted to;
2. the baseline: the mark that liquidates them all, run inline by `ledger run`'s process
   manager in this process;
3. service mode with 1, then 2 worker processes (`ledger worker --concurrency N`) and
   `ledger dispatcher`: the same mark is stored, and the service left to liquidate.

For each: liquidations completed per second, from the mark being stored to the last
liquidation's last event, and per liquidation the time from the mark being stored to its
last event (`Account.LiquidationEnded`), p50 and p99. Times are the events' own
timestamps, taken as each is recorded (the same clock: one machine). In service mode also
the CPU time per liquidation of the worker processes, of the dispatcher and of the
PostgreSQL backends serving the database (from /proc, between the mark being submitted
and the service settling; the server's figure needs it on this machine), and the load
average before and after. Goal: 500/s and p99 under 2 s with 2 workers, and 2 workers
faster than 1.

The database's name comes from LEDGER_BENCH_DATABASE (default `ledger_service_bench`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench_common import ROOT, ensure_project_interpreter, progress, project_commit

ensure_project_interpreter()
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import redis  # noqa: E402
from eventsourcing.persistence import Tracking  # noqa: E402
from psycopg import sql  # noqa: E402

from ledger.bootstrap import open_ledger, open_service_ledger  # noqa: E402
from ledger.domain.margin.account import Account  # noqa: E402
from ledger.domain.market import AssetMarket  # noqa: E402
from ledger.processes.inline import run_inputs  # noqa: E402
from ledger.processes.service import DISPATCHER_TRACKING, Submission, wait_until_settled  # noqa: E402
from ledger.runs import validate  # noqa: E402
from tests.workers.mass_liquidation import mass_liquidation_lines  # noqa: E402
from workers.settings import ServiceSettings  # noqa: E402

ADMIN = os.environ.get("LEDGER_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("LEDGER_BENCH_DATABASE", "ledger_service_bench")
OUT = ROOT / "bench" / "out"


def scenario_texts(accounts: int) -> tuple[str, str]:
    """The accounts' inputs, and the mark that liquidates them all."""
    lines = [
        line
        for line in mass_liquidation_lines(regular=accounts, takeovers=0)
        if line["op"] == "params" or line.get("account") or line["op"] == "mark" and line["price"] == "50000"
    ]
    mark = {"op": "mark", "asset": "BTC", "price": "43000", "at": "2026-01-05T10:20:00Z"}
    return "\n".join(json.dumps(line) for line in lines), json.dumps(mark)


def prepared_store(base: str, name: str, setup_text: str) -> str:
    url = f"{base}?schema={name}"
    app = open_ledger(url)
    try:
        run_inputs(app, validate(app, setup_text, "accounts.jsonl"))
        # Every event so far has been reacted to inline: the service starts after them.
        app.recorder.insert_tracking(Tracking(DISPATCHER_TRACKING, app.recorder.max_notification_id() or 0))
    finally:
        app.close()
    return url


def timings(url: str) -> dict[str, Any]:
    """Per liquidation, seconds from the mark's event to the liquidation's last event."""
    app = open_service_ledger(url)
    try:
        mark_at, ended = None, []
        start = 1
        while notifications := app.recorder.select_notifications(start=start, limit=5000):
            for notification in notifications:
                if notification.topic.endswith("AssetMarket.MarkRecorded") or notification.topic.endswith(
                    "Account.LiquidationEnded"
                ):
                    event = app.mapper.to_domain_event(notification)
                    if isinstance(event, AssetMarket.MarkRecorded) and event.price == 43000:
                        mark_at = event.timestamp
                    elif isinstance(event, Account.LiquidationEnded):
                        ended.append(event.timestamp)
            start = notifications[-1].id + 1
    finally:
        app.close()
    assert mark_at is not None
    latencies = sorted((moment - mark_at).total_seconds() for moment in ended)
    return summary(latencies)


def summary(latencies: list[float]) -> dict[str, Any]:
    count = len(latencies)
    total = latencies[-1] if latencies else 0.0
    return {
        "liquidations": count,
        "seconds": round(total, 3),
        "liquidations_per_second": round(count / total, 1) if total else None,
        "p50_seconds": round(statistics.median(latencies), 3) if latencies else None,
        "p99_seconds": round(latencies[min(count - 1, int(0.99 * count))], 3) if latencies else None,
    }


def inline_run(url: str, mark_text: str) -> dict[str, Any]:
    app = open_ledger(url)
    try:
        run_inputs(app, validate(app, mark_text, "mark.jsonl"))
    finally:
        app.close()
    return timings(url)


def cpu_seconds_by_pid() -> dict[int, tuple[int, float]]:
    """Every live process's group and CPU seconds (user and system), from Linux /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        fields = text[text.rindex(")") + 2 :].split()  # from field 3 (state) on
        # Field 5: the process group; fields 14 and 15: utime, stime.
        found[int(stat.parent.name)] = (int(fields[2]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    return found


def group_cpu_seconds(group: int) -> float:
    return sum(cpu for pid_group, cpu in cpu_seconds_by_pid().values() if pid_group == group)


def server_cpu_seconds(database: str) -> dict[int, float]:
    """CPU seconds of the PostgreSQL backends serving `database` now (the server runs on this machine)."""
    with psycopg.connect(ADMIN, autocommit=True) as connection:
        pids = {
            row[0] for row in connection.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))
        }
    return {pid: cpu for pid, (_group, cpu) in cpu_seconds_by_pid().items() if pid in pids}


def service_run(url: str, mark_text: str, workers: int, logs: Path) -> dict[str, Any]:
    env = {**os.environ, "LEDGER_STORE": url, "LEDGER_QUEUE": f"bench-{uuid.uuid4().hex[:8]}"}
    processes = []
    try:
        for command in (["worker", "--concurrency", str(workers)], ["dispatcher"]):
            log = logs / f"{command[0]}-{workers}.log"
            processes.append(
                (
                    subprocess.Popen(
                        [sys.executable, "-m", "ledger", *command],
                        env=env,
                        stdout=log.open("wb"),
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    ),
                    log,
                    "ready." if command[0] == "worker" else '"started"',
                )
            )
        for process, log, ready in processes:
            deadline = time.monotonic() + 60
            while ready not in log.read_text(errors="replace"):
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.1)
        app = open_service_ledger(url)
        cpu_before = [group_cpu_seconds(process.pid) for process, _log, _ready in processes]
        server_before = server_cpu_seconds(DATABASE)
        try:
            list(Submission(app, lambda: None, settle_each=False).submit(validate(app, mark_text, "mark.jsonl")))
            wait_until_settled(app, timeout_seconds=1800, poll_seconds=0.2)
        finally:
            app.close()
        cpu = [
            group_cpu_seconds(process.pid) - before
            for (process, _, _), before in zip(processes, cpu_before, strict=True)
        ]
        # A backend that began meanwhile counts whole: it served the liquidations.
        server = sum(used - server_before.get(pid, 0.0) for pid, used in server_cpu_seconds(DATABASE).items())
    finally:
        for process, _log, _ready in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process, _log, _ready in processes:
            process.wait(timeout=60)
        queue = env["LEDGER_QUEUE"]
        redis.Redis.from_url(ServiceSettings().broker_url).delete(
            queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
        )
    result = timings(url)
    count = result["liquidations"] or 1
    result["worker_cpu_ms_per_liquidation"] = round(1000 * cpu[0] / count, 2)
    result["dispatcher_cpu_ms_per_liquidation"] = round(1000 * cpu[1] / count, 2)
    result["server_cpu_ms_per_liquidation"] = round(1000 * server / count, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    setup_text, mark_text = scenario_texts(args.accounts)
    with psycopg.connect(ADMIN, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    base = f"{ADMIN.rsplit('/', 1)[0]}/{DATABASE}"
    results: dict[str, Any] = {
        "commit": project_commit(),
        "accounts": args.accounts,
        "load_average_before": [round(value, 2) for value in os.getloadavg()],
    }
    try:
        progress(f"inline baseline: {args.accounts} accounts")
        url = prepared_store(base, "inline", setup_text)
        results["inline"] = inline_run(url, mark_text)
        for workers in (1, 2):
            progress(f"service with {workers} worker process(es)")
            url = prepared_store(base, f"service_{workers}", setup_text)
            results[f"service_{workers}_workers"] = service_run(url, mark_text, workers, OUT)
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
    results["load_average_after"] = [round(value, 2) for value in os.getloadavg()]
    results["goals"] = goals(results)
    baseline = results["inline"]["liquidations_per_second"]
    for key in ("service_1_workers", "service_2_workers"):
        rate = results[key]["liquidations_per_second"]
        results[key]["ratio_to_inline"] = round(rate / baseline, 3) if rate and baseline else None
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"commit {results['commit']}, {args.accounts} accounts liquidated by one mark")
    print(
        f"load average before {results['load_average_before']}, after {results['load_average_after']} "
        f"({os.cpu_count()} cores): figures measured on a busy machine are indicative"
    )
    print(
        f"{'run':<22}{'liquidations':>13}{'seconds':>9}{'per second':>12}{'p50 s':>8}{'p99 s':>8}{'vs inline':>11}"
        f"{'worker CPU ms':>15}{'dispatcher CPU ms':>19}{'server CPU ms':>15}"
    )
    for key in ("inline", "service_1_workers", "service_2_workers"):
        row = results[key]
        print(
            f"{key:<22}{row['liquidations']:>13}{row['seconds']:>9}{row['liquidations_per_second']!s:>12}"
            f"{row['p50_seconds']!s:>8}{row['p99_seconds']!s:>8}{row.get('ratio_to_inline', 1.0)!s:>11}"
            f"{row.get('worker_cpu_ms_per_liquidation', '-')!s:>15}"
            f"{row.get('dispatcher_cpu_ms_per_liquidation', '-')!s:>19}"
            f"{row.get('server_cpu_ms_per_liquidation', '-')!s:>15}"
        )
    for goal, met in results["goals"].items():
        print(f"goal {goal}: {'met' if met else 'NOT met'}")


def goals(results: dict[str, Any]) -> dict[str, bool]:
    one, two = results["service_1_workers"], results["service_2_workers"]
    return {
        f"{results['accounts']:,} liquidations at >= 500/s with 2 workers": (two["liquidations_per_second"] or 0)
        >= 500,
        "p99 < 2 s with 2 workers": two["p99_seconds"] is not None and two["p99_seconds"] < 2,
        "2 workers faster than 1": (two["liquidations_per_second"] or 0) > (one["liquidations_per_second"] or 0),
    }


if __name__ == "__main__":
    main()
