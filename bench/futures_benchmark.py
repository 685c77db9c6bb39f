#!/usr/bin/env python3
"""Throughput of `ledger run` on a futures mix, on SQLite and PostgreSQL, against the raw
psycopg baseline of run_benchmark.py.

    .venv/bin/python bench/futures_benchmark.py --quick          # 200 wallets, 6,000 inputs (about a minute)
    .venv/bin/python bench/futures_benchmark.py                  # 4,000 wallets, 200,000 inputs
    .venv/bin/python bench/futures_benchmark.py --quick --json   # one JSON document on stdout

One run:
1. generates a futures scenario, deterministic for a seed: USDⓈ-M wallets (USDT) and COIN-M
   wallets (BTC and ETH), each with a leverage per symbol (cross or isolated, some in hedge
   mode), then trades near the mark (commissions, some reduce_only), random-walk marks of
   the four default symbols with a few sharp moves (liquidations, some with a shortfall),
   fundings, deposits, withdrawals, isolated margin moves and leverage changes. It keeps
   no wallet state: what the rules refuse is a rejection, counted;
2. applies it as `ledger run` does (open_ledger, validate, run_inputs), timed, to a fresh
   SQLite file and to a fresh PostgreSQL database, each in a child process of its own; then
   counts the futures liquidations and fundings stored, and checks conservation over every
   stored event's entries (not timed);
3. inserts as many rows as there are inputs with raw psycopg into that PostgreSQL database,
   as run_benchmark.py does (its `baseline`: the median of --baseline-runs);
4. prints inputs/s for both stores as ratios to the baseline's rows/s, the CPU time per
   input of the measuring process, and the load average before each measure.

Progress goes to standard error; scenario and results to bench/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_common import T0, ProgressList, ensure_project_interpreter, progress, project_commit, scenario_parser

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
QUICK = {"wallets": 200, "inputs": 6000}
FULL = {"wallets": 4000, "inputs": 200000}
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
STEP = timedelta(seconds=1)  # between inputs: 6,000 inputs span an hour and forty minutes

# The default parameter set's symbols: (kind, coin, first mark, quantity step, contract size).
SYMBOLS = {
    "BTCUSDT": ("linear", "BTC", 30000.0, 3, 1),
    "ETHUSDT": ("linear", "ETH", 2000.0, 2, 1),
    "BTCUSD_PERP": ("inverse", "BTC", 30000.0, 0, 100),
    "ETHUSD_PERP": ("inverse", "ETH", 2000.0, 0, 10),
}
TRADED = {"USDT": ["BTCUSDT", "ETHUSDT"], "BTC": ["BTCUSD_PERP"], "ETH": ["ETHUSD_PERP"]}
# What a wallet deposits, in its asset: (low, high).
FUNDS = {"USDT": (2000.0, 50000.0), "BTC": (0.1, 2.0), "ETH": (2.0, 30.0)}
LEVERAGES = [2, 5, 10, 10, 20, 20, 20, 50, 75]  # within the first brackets' max of every symbol
# Share of the activity inputs per op; marks take --mark-share, fundings --funding-share.
ACTIVITY = {"trade": 0.80, "deposit": 0.07, "withdraw": 0.03, "isolated_margin": 0.04, "leverage": 0.03}
SHOCK_CHANCE = 0.04  # of a mark: a sharp move (4 to 12 %) rather than a step of the walk
# Sharp moves at fixed points of the run (fraction of the inputs, symbol, move): the high
# leverage positions on the wrong side are liquidated, some beyond their margin (shortfall).
SHOCKS = (
    (0.30, "BTCUSDT", -0.05),
    (0.40, "ETHUSD_PERP", 0.06),
    (0.50, "ETHUSDT", 0.05),
    (0.60, "BTCUSD_PERP", -0.07),
    (0.75, "BTCUSDT", 0.06),
    (0.90, "ETHUSDT", -0.10),
)


# --- the scenario ---------------------------------------------------------------------------


class Wallet:
    def __init__(self, name: str, asset: str, hedge: bool, settings: dict[str, tuple[int, str]], funds: float):
        self.name = name
        self.asset = asset
        self.hedge = hedge
        self.settings = settings  # symbol -> (leverage, margin type)
        self.funds = funds  # what it deposited first: sizes its trades


def _decimal(value: float, places: int) -> str:
    text = f"{value:.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def generate(path: Path, wallets: int, inputs: int, seed: int, mark_share: float, funding_share: float) -> Counter:
    """Writes the scenario; returns how many lines of each op it holds."""
    rng = random.Random(seed)
    marks = {symbol: spec[2] for symbol, spec in SYMBOLS.items()}
    lines: list[dict[str, Any]] = [
        {"op": "mark", "symbol": symbol, "price": _decimal(price, 2)} for symbol, price in marks.items()
    ]
    book: list[Wallet] = []
    for index in range(wallets):
        asset = rng.choices(["USDT", "BTC", "ETH"], weights=[2, 1, 1])[0]
        name = f"W{index:05d}"
        hedge = rng.random() < 0.1
        settings = {
            symbol: (rng.choice(LEVERAGES), "isolated" if rng.random() < 0.2 else "cross") for symbol in TRADED[asset]
        }
        funds = rng.uniform(*FUNDS[asset])
        wallet = Wallet(name, asset, hedge, settings, funds)
        book.append(wallet)
        lines.append({"op": "open", "account": name, "mode": "usdm" if asset == "USDT" else "coinm", "asset": asset})
        if hedge:
            lines.append({"op": "position_mode", "account": name, "mode": "hedge"})
        lines.append({"op": "deposit", "account": name, "asset": asset, "amount": _decimal(funds, 6)})
        for symbol, (leverage, margin_type) in settings.items():
            lines.append(
                {"op": "leverage", "account": name, "symbol": symbol, "leverage": leverage, "margin_type": margin_type}
            )
    if len(lines) >= inputs:
        raise ValueError(f"{wallets} wallets take {len(lines)} inputs to set up: ask for more than {inputs} inputs")
    ops, weights = zip(*ACTIVITY.items(), strict=True)
    activity_share = 1 - mark_share - funding_share
    shocks = sorted((int(inputs * at), symbol, move) for at, symbol, move in SHOCKS)
    while len(lines) < inputs:
        draw = rng.random()
        if shocks and len(lines) >= shocks[0][0]:
            _at, symbol, move = shocks.pop(0)
            lines.append(_mark(marks, symbol, math.log1p(move)))
        elif draw < mark_share:
            symbol = rng.choice(list(SYMBOLS))
            move = rng.uniform(0.04, 0.12) * rng.choice([-1, 1]) if rng.random() < SHOCK_CHANCE else rng.gauss(0, 0.004)
            lines.append(_mark(marks, symbol, move))
        elif draw < mark_share + funding_share:
            rate = rng.choice([1, 1, 1, -1]) * rng.choice([0.0001, 0.0001, 0.0002, 0.0005])
            lines.append({"op": "funding", "symbol": rng.choice(list(SYMBOLS)), "rate": _decimal(rate, 6)})
        else:
            assert activity_share > 0
            wallet = rng.choice(book)
            op = rng.choices(ops, weights=weights)[0]
            lines.append(_activity(rng, op, wallet, marks))
    with path.open("w") as out:
        for number, line in enumerate(lines):
            out.write(json.dumps({**line, "at": (START + number * STEP).isoformat().replace("+00:00", "Z")}) + "\n")
    return Counter(line["op"] for line in lines)


def _mark(marks: dict[str, float], symbol: str, log_move: float) -> dict[str, Any]:
    marks[symbol] = max(SYMBOLS[symbol][2] * 0.3, marks[symbol] * math.exp(log_move))
    return {"op": "mark", "symbol": symbol, "price": _decimal(marks[symbol], 2)}


def _activity(rng: random.Random, op: str, wallet: Wallet, marks: dict[str, float]) -> dict[str, Any]:
    symbol = rng.choice(TRADED[wallet.asset])
    kind, _coin, _first, places, contract_size = SYMBOLS[symbol]
    mark = marks[symbol]
    leverage, margin_type = wallet.settings[symbol]
    if op == "trade":
        # A notional of up to the wallet's funds x its leverage (a few beyond: rejections).
        funds_usd = wallet.funds if wallet.asset == "USDT" else wallet.funds * mark
        notional_usd = funds_usd * leverage * rng.uniform(0.02, 0.4)
        price = mark * (1 + rng.gauss(0, 0.0008))
        if kind == "linear":
            quantity = max(10**-places, round(notional_usd / price, places))
            fee = quantity * price * 0.0004
        else:
            quantity = max(1, round(notional_usd / contract_size))
            fee = quantity * contract_size / price * 0.0005
        line = {
            "op": "trade",
            "account": wallet.name,
            "symbol": symbol,
            "side": rng.choice(["buy", "sell"]),
            "quantity": _decimal(quantity, places),
            "price": _decimal(price, 2),
            "fee": _decimal(fee, 8),
        }
        if wallet.hedge:
            line["position_side"] = rng.choice(["long", "short"])
        if rng.random() < 0.05:
            line["reduce_only"] = True
        return line
    if op in ("deposit", "withdraw"):
        amount = wallet.funds * rng.uniform(0.01, 0.3 if op == "deposit" else 0.1)
        return {"op": op, "account": wallet.name, "asset": wallet.asset, "amount": _decimal(amount, 6)}
    if op == "isolated_margin":
        amount = wallet.funds * rng.uniform(0.005, 0.05) * rng.choice([1, 1, -1])
        line = {"op": "isolated_margin", "account": wallet.name, "symbol": symbol, "amount": _decimal(amount, 6)}
        if wallet.hedge:
            line["position_side"] = rng.choice(["long", "short"])
        return line
    leverage = rng.choice(LEVERAGES)
    wallet.settings[symbol] = (leverage, margin_type)
    return {
        "op": "leverage",
        "account": wallet.name,
        "symbol": symbol,
        "leverage": leverage,
        "margin_type": margin_type,
    }


# --- one store, measured in a child process ----------------------------------------------------


def measure(url: str, scenario: Path, label: str) -> dict[str, Any]:
    import resource

    from ledger.bootstrap import open_ledger
    from ledger.domain.futures.account import FuturesAccount
    from ledger.domain.futures.liquidation import FuturesLiquidation
    from ledger.domain.market import REJECTIONS_LOG_ID
    from ledger.inputs import InputErrors
    from ledger.log import stored_events
    from ledger.processes.inline import run_inputs
    from ledger.runs import validate
    from projections.balance_sheet import BalanceSheet

    result: dict[str, Any] = {"store": label}
    started = time.perf_counter()
    app = open_ledger(url)
    opened = time.perf_counter()
    try:
        inputs = ProgressList(validate(app, scenario.read_text(), scenario.name))
    except InputErrors as errors:
        for error in errors.errors[:20]:
            print(f"  {error}", file=sys.stderr)
        return {**result, "error": f"{len(errors.errors)} input errors in {scenario.name}"}
    validated = time.perf_counter()
    progress(f"[{label}] validated {len(inputs):,} inputs in {validated - opened:.2f}s; applying")
    cpu = time.process_time()
    apply_started = time.perf_counter()
    run_inputs(app, inputs)
    applied = time.perf_counter()
    apply_cpu = time.process_time() - cpu
    progress(f"[{label}] applied in {applied - apply_started:.2f}s; reading the events back (not timed)")

    sheet = BalanceSheet()
    kinds: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    events = 0
    for event in stored_events(app):
        events += 1
        sheet.apply(event)
        if isinstance(event, (FuturesAccount.Event, FuturesLiquidation.Event)):
            kinds[type(event).__qualname__] += 1
        elif event.originator_id == REJECTIONS_LOG_ID:
            reasons[_reason(event.error)] += 1
    app.close()
    seconds = applied - apply_started
    return {
        **result,
        "inputs": len(inputs),
        "open_s": opened - started,
        "validate_s": validated - opened,
        "apply_s": seconds,
        "apply_cpu_s": apply_cpu,
        "cpu_ms_per_input": 1000 * apply_cpu / len(inputs),
        "inputs_per_s": len(inputs) / seconds,
        "events_stored": events,
        "events_per_s": events / seconds,
        "trades": kinds["FuturesAccount.Traded"],
        "fundings_settled": kinds["FuturesAccount.FundingSettled"],
        "liquidations": kinds["FuturesLiquidation.Triggered"],
        "liquidations_completed": kinds["FuturesLiquidation.Completed"],
        "clearance_fees": kinds["FuturesAccount.ClearanceFeeCharged"],
        "shortfalls": kinds["FuturesAccount.ShortfallCovered"],
        "rejections": sum(reasons.values()),
        "rejection_reasons": dict(reasons.most_common(6)),
        "conservation_faults": len(sheet.imbalances()),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _reason(error: str) -> str:
    """A rejection's reason without its figures and names, to count reasons alike together."""
    return re.sub(r"\b(W\d+|[0-9][0-9.E+-]*)\b", "#", error)[:90]


def run_child(url: str, scenario: Path, label: str) -> dict[str, Any]:
    from run_benchmark import load_average

    command = [sys.executable, str(Path(__file__).resolve()), "_measure", "--store", url, "--scenario", str(scenario)]
    load = load_average()
    started = time.perf_counter()
    completed = subprocess.run([*command, "--label", label], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        result = json.loads(completed.stdout)
    except json.JSONDecodeError:
        result = {"store": label, "error": f"the measuring process exited {completed.returncode} without a result"}
    result["process_wall_s"] = time.perf_counter() - started
    result["load_average_before"] = load
    return result


# --- the figures -----------------------------------------------------------------------------


def print_table(summary: dict[str, Any]) -> None:
    stores = [summary[key] for key in ("sqlite", "postgres") if key in summary]
    width = 14
    print(
        f"\nfutures benchmark: {summary['wallets']:,} wallets, {summary['inputs']:,} inputs, seed {summary['seed']}"
        f"{' (--quick)' if summary['quick'] else ''}, project {summary['project_commit']}"
    )
    print(f"scenario {summary['scenario']}: " + ", ".join(f"{op} {count:,}" for op, count in summary["ops"].items()))
    print()
    print(f"{'':36}" + "".join(f"{store['store']:>{width}}" for store in stores))

    def row(title: str, key: str, fmt: str) -> None:
        cells = [f"{format(s[key], fmt) if s.get(key) is not None else '-':>{width}}" for s in stores]
        print(f"{title:36}" + "".join(cells))

    row("apply: inputs/s", "inputs_per_s", ",.0f")
    row("inputs/s / baseline rows/s", "ratio_to_baseline", ".3f")
    row("apply CPU ms per input (this proc)", "cpu_ms_per_input", ".3f")
    row("apply wall s", "apply_s", ".2f")
    row("apply CPU s (this process)", "apply_cpu_s", ".2f")
    row("validate s", "validate_s", ".2f")
    row("events stored", "events_stored", ",")
    row("events stored/s", "events_per_s", ",.0f")
    row("trades accepted", "trades", ",")
    row("fundings settled (positions)", "fundings_settled", ",")
    row("liquidations", "liquidations", ",")
    row("  with a clearance fee", "clearance_fees", ",")
    row("  with a shortfall covered", "shortfalls", ",")
    row("conservation faults", "conservation_faults", ",")
    row("max RSS MB", "max_rss_mb", ",.0f")
    row("rejections", "rejections", ",")
    row("load average before", "load_average_before", ".2f")
    for store in stores:
        if "error" in store:
            print(f"{store['store']}: FAILED: {store['error']}")
        else:
            print(f"rejections ({store['store']}), the most frequent reasons:")
            for reason, count in store["rejection_reasons"].items():
                print(f"  {count:>8,}  {reason}")
    if "baseline" in summary:
        base = summary["baseline"]
        spread = " / ".join(f"{value:,.0f}" for value in base["runs"])
        print(
            f"baseline (raw psycopg, as run_benchmark.py: {base['batch']} rows/transaction, {base['state_bytes']} B "
            f"state): {base['rows']:,} rows, median {base['rows_per_s']:,.0f} rows/s (runs: {spread})"
        )
    for note in summary["checks"]:
        print(f"check: {note}")
    print(
        f"load average (1 min) at start {summary['load_average_at_start']:.2f} on {summary['cpus']} CPUs: "
        "figures vary with other load on the machine"
    )
    print(f"total wall {summary['total_wall_s']:.1f}s; results in {summary['results_file']}")


def checks(summary: dict[str, Any]) -> list[str]:
    notes = []
    for key in ("sqlite", "postgres"):
        store = summary.get(key)
        if not store or "error" in store:
            continue
        notes.append(f"{key}: liquidations: " + ("yes" if store["liquidations"] else "NONE (the mix should have some)"))
        if store["liquidations"] != store["liquidations_completed"]:
            notes.append(f"{key}: {store['liquidations'] - store['liquidations_completed']} liquidations not completed")
        if store["conservation_faults"]:
            notes.append(f"{key}: conservation broken ({store['conservation_faults']} imbalances)")
    both = [summary.get(key) for key in ("sqlite", "postgres")]
    if all(b and "error" not in b for b in both):
        fields = ("events_stored", "trades", "fundings_settled", "liquidations", "clearance_fees", "shortfalls")
        differing = [f for f in fields if both[0][f] != both[1][f]]  # type: ignore[index]
        notes.append("sqlite and postgres agree" if not differing else f"sqlite and postgres differ in {differing}")
    return notes


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_measure"]:
        return _measure_main(argv[1:])
    parser = scenario_parser(__doc__, "wallets", FULL, QUICK, "the quick preset: a check that all works")
    parser.add_argument("--mark-share", type=float, default=0.01, help="share of marks among the inputs (0.01)")
    parser.add_argument("--funding-share", type=float, default=0.002, help="share of fundings (0.002)")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true", help="also skips the baseline")
    parser.add_argument("--baseline-runs", type=int, default=3, help="baseline repetitions; the median (3)")
    parser.add_argument("--json", action="store_true", help="print one JSON document of the figures on stdout")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    wallets = args.wallets or preset["wallets"]
    inputs = args.inputs or preset["inputs"]

    from run_benchmark import BASELINE_BATCH, baseline, create_database, drop_database, load_average

    args.out.mkdir(parents=True, exist_ok=True)
    scenario = args.out / f"futures-{wallets}w-{inputs}i-s{args.seed}.jsonl"
    progress(f"generating {scenario.name}")
    try:
        ops = generate(scenario, wallets, inputs, args.seed, args.mark_share, args.funding_share)
    except ValueError as exc:
        parser.error(str(exc))
    summary: dict[str, Any] = {
        "project_commit": project_commit(),
        "cpus": os.cpu_count(),
        "load_average_at_start": load_average(),
        "wallets": wallets,
        "inputs": inputs,
        "seed": args.seed,
        "quick": args.quick,
        "scenario": str(scenario),
        "ops": dict(ops.most_common()),
    }
    if not args.skip_sqlite:
        database = args.out / "futures-bench-sqlite.db"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        progress("SQLite")
        summary["sqlite"] = run_child(f"sqlite:///{database}", scenario, "sqlite")
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    if not args.skip_postgres:
        name = f"ledger_futures_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        url = create_database(args.postgres, name)
        progress(f"PostgreSQL: database {name}")
        try:
            summary["postgres"] = run_child(url, scenario, "postgres")
            progress(f"baseline: {inputs:,} rows, {BASELINE_BATCH} a transaction")
            summary["baseline"] = baseline(url, inputs, wallets, args.seed, max(1, args.baseline_runs))
        finally:
            drop_database(args.postgres, name)
        for key in ("sqlite", "postgres"):
            if "inputs_per_s" in summary.get(key, {}):
                summary[key]["ratio_to_baseline"] = summary[key]["inputs_per_s"] / summary["baseline"]["rows_per_s"]
    summary["checks"] = checks(summary)
    summary["total_wall_s"] = time.time() - T0
    results = args.out / f"futures-results-{wallets}w-{inputs}i-s{args.seed}.json"
    summary["results_file"] = str(results)
    results.write_text(json.dumps(summary, indent=2) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        print_table(summary)
    return 1 if any("error" in summary.get(key, {}) for key in ("sqlite", "postgres")) else 0


def _measure_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="futures_benchmark.py _measure")
    parser.add_argument("--store", required=True)
    parser.add_argument("--scenario", type=Path, required=True)
    parser.add_argument("--label", required=True)
    args = parser.parse_args(argv)
    result = measure(args.store, args.scenario, args.label)
    sys.stdout.write(json.dumps(result) + "\n")
    return 2 if "error" in result else 0


if __name__ == "__main__":
    ensure_project_interpreter()
    sys.exit(main())
