"""A crash in one mark: N margin accounts (and a --futures-share of futures wallets), and
BTC and every BTC symbol (BTCUSDT, BTCUSD_PERP) marked -5 %, -10 % and -20 % together (each
from the same starting book). Per mark: the accounts the risk index screened, those it
evaluated exactly (within its error bound), those it liquidates and margin-calls, the
time to decide (the exact lists of accounts to margin-call and to liquidate, from the
mark; warm: the slacks' linear forms in the BTC price at the other marks already built,
as after any earlier BTC mark; cold: built by this mark), and that time against the
minimal numpy float screen of the same N accounts (one level per account, two
comparisons) measured in the same run. Also the index's memory per account, and a check
that the accounts it finds equal an exact evaluation of every account (of a --sample of
them; all of them when the sample is at least N).

Futures wallets (`--futures-share` x N, default 0.1): USDⓈ-M BTCUSDT and COIN-M
BTCUSD_PERP positions, long and short, cross and some isolated, some planted exactly at
their liquidation threshold at the -10 % mark; screened per mark by the futures risk
index (`FuturesRisk`). Per mark: wallets screened, evaluated exactly, liquidated, the time
to decide them (`futures_decide_ms`; with the margin accounts', `decide_all_ms`), and
the same exactness check on a sample (counted in `checked` and `mismatches` too).

The accounts are built in memory through the domain's aggregates (deposit, borrow,
withdraw), fed to the risk index as `ledger run` feeds it, and evaluated exactly by the
domain's rules (`margin_decision`). Recording the decisions' events is not timed here,
but the time until every liquidation of the -20 % mark has completed is, apart, through
`ledger run` on a SQLite store of --liquidation-accounts such accounts (default 1000).

    .venv/bin/python bench/mark_storm.py --accounts 100000 [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bench_common import ensure_project_interpreter, progress, project_commit

ensure_project_interpreter()

import numpy as np  # noqa: E402

from ledger.domain.futures.account import FuturesAccount  # noqa: E402
from ledger.domain.futures.trading import TradeSide  # noqa: E402
from ledger.domain.futures.wallet import MarginType  # noqa: E402
from ledger.domain.margin.account import Account  # noqa: E402
from ledger.domain.margin.decisions import MarginAction  # noqa: E402
from ledger.domain.parameters import RiskParameters, default_parameter_data  # noqa: E402
from ledger.domain.prices import Mark, PriceBook  # noqa: E402
from ledger.processes.futures.due import liquidations_due  # noqa: E402
from ledger.processes.futures.risk import FuturesMarkDecisions, FuturesRisk  # noqa: E402
from ledger.processes.margin.assessment import margin_decision  # noqa: E402
from ledger.processes.margin.indexes import MarginRisk, MarkDecisions  # noqa: E402

AT = datetime(2026, 1, 5, 10, tzinfo=UTC)
OPENING = {"BTC": Decimal(50000), "ETH": Decimal(3000)}
DROPS = (Decimal("0.05"), Decimal("0.10"), Decimal("0.20"))
PLANTED_EVERY = 10_000  # one account in so many sits exactly at 5x's margin call after the -10 % mark
GOAL_RATIO = 4.0


FUTURES_SYMBOLS = ("BTCUSDT", "BTCUSD_PERP")  # marked with BTC, at its price


def book(marks: dict[str, Decimal], parameters: RiskParameters) -> PriceBook:
    """The assets' marks, and each BTC symbol marked at BTC's price."""
    symbol_marks = {symbol: Mark(marks["BTC"], symbol, AT) for symbol in FUTURES_SYMBOLS}
    return PriceBook({asset: Mark(price, "USDC") for asset, price in marks.items()}, parameters, symbol_marks)


_LONGS = [("cross_pro", 10, 112, 130), ("cross_classic", 3, 151, 220), ("cross_classic", 5, 126, 200)]


AccountPlan = tuple[str, str, int, dict[str, Decimal], dict[str, Decimal]]  # name, mode, leverage, held, owed


def account_plan(number: int, rng: random.Random) -> AccountPlan:
    """A long classic 5x / 3x or Pro 10x account holding BTC (and some ETH) bought with
    borrowed USDC, a short one owing BTC, or one planted at a threshold: what it deposits
    (held) and what it borrows and spends (owed)."""
    name = f"M{number:07d}"
    kind = rng.random()
    if number % PLANTED_EVERY == 0:  # at -10 %, ML = 1.16 x 45000 m / (45000 m) exactly
        return name, "cross_classic", 5, {"BTC": Decimal("1.16") * 3}, {"USDC": Decimal(45000 * 3)}
    if kind < 0.10:  # short BTC
        owed_btc = Decimal(rng.randint(1, 200)) / 100
        level = Decimal(rng.randint(130, 300)) / 100
        collateral = (owed_btc * OPENING["BTC"] * level).quantize(Decimal("0.01"))
        return name, "cross_classic", 5, {"USDC": collateral}, {"BTC": owed_btc}
    mode, leverage, low, high = _LONGS[0 if kind < 0.35 else 1 if kind < 0.55 else 2]
    level = Decimal(rng.randint(low, high)) / 100  # asset value / liabilities at the opening marks
    btc = Decimal(rng.randint(10, 300)) / 100
    eth = Decimal(rng.randint(0, 20)) if rng.random() < 0.3 else Decimal(0)
    value = btc * OPENING["BTC"] + eth * OPENING["ETH"]
    held = {"BTC": btc, **({"ETH": eth} if eth else {})}
    return name, mode, leverage, held, {"USDC": (value / level).quantize(Decimal("0.01"))}


def build_account(number: int, rng: random.Random, opening: PriceBook, parameters: RiskParameters) -> Account:
    """The planned account, in memory, through the aggregate's commands."""
    name, mode, leverage, held, owed = account_plan(number, rng)
    account = Account(account=name, mode=mode, leverage=leverage, pair=None, at=AT, cause={})
    for asset, quantity in held.items():
        account.deposit(asset, quantity, AT, {})
    for asset, quantity in owed.items():  # borrowed, then spent: what it bought is held
        account.borrow(asset, quantity, opening, parameters, AT, {})
        account.withdraw(asset, quantity, opening, AT, {})
    account.collect_events()
    return account


def build(count: int, seed: int, parameters: RiskParameters) -> tuple[dict[str, Account], MarginRisk]:
    rng = random.Random(seed)
    opening = book(OPENING, parameters)
    accounts: dict[str, Account] = {}
    risk = MarginRisk()
    for number in range(count):
        account = build_account(number, rng, opening, parameters)
        accounts[account.name] = account
        risk.note_account(account)
        if number and number % 100_000 == 0:
            progress(f"{number} accounts built")
    return accounts, risk


# --- futures wallets ---------------------------------------------------------------------------

# (mode, wallet asset, symbol, quantity planted, its isolated margin at -10 %, or cross wallet):
# at BTC 45000 a long from 50000 sits exactly at margin balance = MM (first bracket, MMR 0.004):
# USDⓈ-M 1 BTC: W - 5000 = 0.004 x 45000 -> W = 5180; COIN-M 900 contracts of 100 USD:
# W - 900 x 100 x (1/45000 - 1/50000) = 0.004 x 900 x 100 / 45000 -> W = 0.208 BTC.
_PLANTED_FUTURES = {
    "usdm": ("USDT", "BTCUSDT", Decimal(1), Decimal(5180)),
    "coinm": ("BTC", "BTCUSD_PERP", Decimal(900), Decimal("0.208")),
}
FuturesPlan = tuple[str, str, bool, TradeSide, Decimal, Decimal]  # name, mode, isolated, side, quantity, margin


def futures_plan(number: int, rng: random.Random) -> FuturesPlan:
    """A USDⓈ-M (70 %) or COIN-M wallet, cross (80 %) or isolated, long (80 %) or short, at
    20x, whose margin (cross wallet, or isolated margin) is a drawn share of its notional at
    the opening; or one planted at its threshold at the -10 % mark."""
    name = f"F{number:07d}"
    mode = "usdm" if rng.random() < 0.7 else "coinm"
    isolated = rng.random() < 0.2
    if number % PLANTED_EVERY == 0:
        _asset, _symbol, quantity, margin = _PLANTED_FUTURES[mode]
        return name, mode, isolated, TradeSide.BUY, quantity, margin
    side = TradeSide.BUY if rng.random() < 0.8 else TradeSide.SELL
    if mode == "usdm":
        quantity = Decimal(rng.randint(1, 300)) / 100
        notional = quantity * OPENING["BTC"]
    else:
        quantity = Decimal(rng.randint(10, 3000))
        notional = quantity * 100 / OPENING["BTC"]
    share = Decimal(rng.randint(50, 350)) / 1000  # margin / notional: 5 % (20x) to 35 %
    return name, mode, isolated, side, quantity, (notional * share).quantize(Decimal("1E-8"))


def build_wallet(number: int, rng: random.Random, opening: PriceBook) -> FuturesAccount:
    """The planned wallet, in memory, through the aggregate's commands: deposit, leverage
    (isolated), a trade at the opening mark, and the rest of its margin moved into an
    isolated position."""
    name, mode, isolated, side, quantity, margin = futures_plan(number, rng)
    asset, symbol, _quantity, _margin = _PLANTED_FUTURES[mode]
    wallet = FuturesAccount(account=name, mode=mode, asset=asset, at=AT, cause={})
    wallet.deposit(asset, margin, AT, {})
    if isolated:
        wallet.change_leverage(symbol, 20, MarginType.ISOLATED, opening, AT, {})
    wallet.trade(symbol, side, quantity, OPENING["BTC"], None, False, Decimal(0), opening, AT, {})
    if isolated and wallet.cross_wallet > 0:
        wallet.change_isolated_margin(symbol, None, wallet.cross_wallet, opening, AT, {})
    wallet.collect_events()
    return wallet


def build_futures(count: int, seed: int, parameters: RiskParameters) -> tuple[dict[str, FuturesAccount], FuturesRisk]:
    rng = random.Random(seed + 1)
    opening = book(OPENING, parameters)
    wallets: dict[str, FuturesAccount] = {}
    risk = FuturesRisk()
    for number in range(count):
        wallet = build_wallet(number, rng, opening)
        wallets[wallet.name] = wallet
        risk.note_account(wallet)
    return wallets, risk


def decide_futures(
    risk: FuturesRisk, prices: PriceBook, wallets: dict[str, FuturesAccount]
) -> tuple[list[FuturesMarkDecisions], list[str]]:
    """Each BTC symbol's mark decided, and the wallets to liquidate, worst first."""
    decisions = [risk.decide(symbol, prices, wallets.__getitem__) for symbol in FUTURES_SYMBOLS]
    return decisions, [name for decided in decisions for name in decided.worst_first()]


def check_futures(
    decisions: list[FuturesMarkDecisions], wallets: dict[str, FuturesAccount], prices: PriceBook, sample: int, seed: int
) -> dict[str, int]:
    """The wallets the index liquidates against an exact evaluation of (a sample of) every wallet."""
    names = list(wallets)
    chosen = names if sample >= len(names) else random.Random(seed).sample(names, sample)
    found = set().union(*(decided.to_liquidate() for decided in decisions))
    mismatches = sum(1 for name in chosen if (name in found) != bool(liquidations_due(wallets[name], prices)))
    return {"futures_checked": len(chosen), "futures_mismatches": mismatches}


def float_screen_inputs(accounts: dict[str, Account], parameters: RiskParameters) -> dict[str, np.ndarray]:
    """The minimal float screen's columns: BTC held and owed, the rest's values, thresholds."""
    opening = book(OPENING, parameters)
    columns: dict[str, list[float]] = {name: [] for name in ("held", "other", "owed", "other_owed", "call", "liq")}
    for account in accounts.values():
        liabilities = account.liabilities()
        tier = parameters.margin_tier(account.mode, account.leverage or 0)
        columns["held"].append(float(account.balance("BTC")))
        columns["other"].append(float(opening.total_value({a: q for a, q in account.balances.items() if a != "BTC"})))
        columns["owed"].append(float(liabilities.get("BTC", 0)))
        columns["other_owed"].append(float(opening.total_value({a: q for a, q in liabilities.items() if a != "BTC"})))
        columns["call"].append(float(tier.margin_call))
        columns["liq"].append(float(tier.liquidation))
    return {name: np.array(values) for name, values in columns.items()}


def float_screen(columns: dict[str, np.ndarray], price: float) -> tuple[np.ndarray, np.ndarray]:
    """One level per account, two comparisons: the floor a float screen cannot go below."""
    level = (columns["held"] * price + columns["other"]) / (columns["owed"] * price + columns["other_owed"])
    return level <= columns["liq"], level <= columns["call"]


def median_seconds(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The median time of `repeat` runs, and the last result."""
    times, result = timed(run, repeat)
    return statistics.median(times), result


def timed(run: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return times, result


def decide(risk: MarginRisk, prices: PriceBook, accounts: dict[str, Account]) -> tuple[MarkDecisions, Any, Any]:
    """The exact lists of accounts to liquidate and to margin-call (the time to decide): the
    float's as positions among the screened names, the exact evaluations' by name."""
    decisions = risk.decide("BTC", prices, accounts.__getitem__)
    return decisions, decisions.found(MarginAction.LIQUIDATE), decisions.found(MarginAction.MARGIN_CALL)


def check(
    decisions: MarkDecisions, accounts: dict[str, Account], prices: PriceBook, sample: int, seed: int
) -> dict[str, int]:
    """The index's decisions against an exact evaluation of (a sample of) every account."""
    names = list(accounts)
    chosen = names if sample >= len(names) else random.Random(seed).sample(names, sample)
    found = decisions.actions()
    mismatches = 0
    for name in chosen:
        exact = margin_decision(accounts[name], prices)
        if found.get(name) != (None if exact is None else exact.action):
            mismatches += 1
    return {"checked": len(chosen), "mismatches": mismatches}


def storm_inputs(count: int, seed: int) -> list[dict[str, Any]]:
    """The same accounts as `ledger run` inputs, after the opening marks."""
    rng = random.Random(seed)
    lines: list[dict[str, Any]] = [
        {"op": "mark", "asset": asset, "price": str(price), "at": "2026-01-05T10:00:00Z"}
        for asset, price in OPENING.items()
    ]
    for number in range(count):
        name, mode, leverage, held, owed = account_plan(number, rng)
        lines.append({"op": "open", "account": name, "mode": mode, "leverage": leverage})
        lines += [{"op": "deposit", "account": name, "asset": a, "amount": str(q)} for a, q in held.items()]
        for asset, quantity in owed.items():
            lines.append({"op": "borrow", "account": name, "asset": asset, "amount": str(quantity)})
            lines.append({"op": "withdraw", "account": name, "asset": asset, "amount": str(quantity)})
    return lines


def liquidations_completed(count: int, seed: int) -> dict[str, Any]:
    """`ledger run` on a SQLite store of `count` such accounts: the time from the -20 % BTC
    mark until every liquidation it starts has ended (processed inline, to completion)."""
    from ledger.bootstrap import open_ledger
    from ledger.log import stored_events
    from ledger.processes.inline import run_inputs
    from ledger.runs import validate

    with tempfile.TemporaryDirectory(prefix="bench_risk_storm_") as folder:
        app = open_ledger(f"sqlite:///{folder}/ledger.db")
        setup = "\n".join(json.dumps(line) for line in storm_inputs(count, seed))
        run_inputs(app, validate(app, setup, "storm-setup"))
        before = app.recorder.max_notification_id() or 0
        crash = {"op": "mark", "asset": "BTC", "price": "40000", "at": "2026-01-05T10:05:00Z"}
        started = time.perf_counter()
        run_inputs(app, validate(app, json.dumps(crash), "storm-mark"))
        seconds = time.perf_counter() - started
        events = [event for event in stored_events(app) if event.__class__.__qualname__.startswith("Account.")]
        app.close()
    after = [event for event in events if getattr(event, "cause", {}).get("notification_id", 0) > before]
    started_count = sum(1 for event in events if isinstance(event, Account.LiquidationStarted))
    ended_count = sum(1 for event in events if isinstance(event, Account.LiquidationEnded))
    return {
        "accounts": count,
        "liquidations_started": started_count,
        "liquidations_ended": ended_count,
        "account_events_after_the_mark": len(after),
        "seconds": round(seconds, 2),
        "liquidations_per_second": round(ended_count / seconds, 1) if seconds else None,
    }


def run(
    count: int, seed: int, sample: int, repeat: int, liquidation_accounts: int, futures_share: float = 0.1
) -> dict[str, Any]:
    parameters = RiskParameters(default_parameter_data(), 1)
    started = time.perf_counter()
    accounts, risk = build(count, seed, parameters)
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    wallets, futures_risk = build_futures(round(count * futures_share), seed, parameters)
    futures_build_seconds = time.perf_counter() - started
    gc.collect()
    gc.freeze()  # the built accounts are long-lived: no collection walks them again
    progress(f"{count} accounts built in {build_seconds:.1f} s")
    columns = float_screen_inputs(accounts, parameters)
    index = risk.index
    name_bytes = (sys.getsizeof(index.row_of) + sum(sys.getsizeof(name) for name in index.row_of)) / max(len(index), 1)
    marks = []
    for drop in DROPS:
        price = OPENING["BTC"] * (1 - drop)
        prices = book({**OPENING, "BTC": price}, parameters)
        index.forms.clear()  # cold: the linear forms at the other marks built by this mark
        cold_seconds, _ = median_seconds(lambda prices=prices: decide(risk, prices, accounts), 1)
        decide_times, (decisions, _liquidate, _call) = timed(
            lambda prices=prices: decide(risk, prices, accounts), repeat
        )
        decide_seconds = statistics.median(decide_times)
        screen_seconds, _ = median_seconds(
            lambda prices=prices: index.screen("BTC", *risk.screen_inputs(prices)), repeat
        )
        float_times, _ = timed(lambda price=price: float_screen(columns, float(price)), repeat)
        float_seconds = statistics.median(float_times)
        order_seconds, _ = median_seconds(decisions.worst_first, 1)
        names_seconds, _ = median_seconds(
            lambda decisions=decisions: [decisions.names_of(action) for action in MarginAction], 1
        )
        checked = check(decisions, accounts, prices, sample, seed)
        futures_times, (futures_decisions, _worst_first) = timed(
            lambda prices=prices: decide_futures(futures_risk, prices, wallets), repeat
        )
        futures_seconds = statistics.median(futures_times)
        futures_checked = check_futures(futures_decisions, wallets, prices, sample, seed)
        checked["checked"] += futures_checked["futures_checked"]
        checked["mismatches"] += futures_checked["futures_mismatches"]
        marks.append(
            {
                "mark": f"-{int(drop * 100)}%",
                "btc": str(price),
                "screened": decisions.screened,
                "evaluated_exactly": decisions.evaluated_exactly,
                "liquidated": decisions.count(MarginAction.LIQUIDATE),
                "margin_called": decisions.count(MarginAction.MARGIN_CALL),
                "recovered": decisions.count(MarginAction.RECOVER),
                "decide_ms": round(decide_seconds * 1e3, 2),
                "decide_cold_ms": round(cold_seconds * 1e3, 2),
                "cold_ratio_to_float_screen": round(cold_seconds / float_seconds, 2),
                "of_which_screen_ms": round(screen_seconds * 1e3, 2),
                "float_screen_ms": round(float_seconds * 1e3, 2),
                "ratio_to_float_screen": round(decide_seconds / float_seconds, 2),
                "decide_min_ms": round(min(decide_times) * 1e3, 2),
                "float_screen_min_ms": round(min(float_times) * 1e3, 2),
                "ratio_of_minimums": round(min(decide_times) / min(float_times), 2),
                "worst_first_order_ms": round(order_seconds * 1e3, 2),
                "names_listed_ms": round(names_seconds * 1e3, 2),
                **checked,
                "futures_screened": sum(decided.screened for decided in futures_decisions),
                "futures_evaluated_exactly": sum(decided.evaluated_exactly for decided in futures_decisions),
                "futures_liquidated": sum(decided.liquidated for decided in futures_decisions),
                "futures_decide_ms": round(futures_seconds * 1e3, 2),
                "decide_all_ms": round((decide_seconds + futures_seconds) * 1e3, 2),
                **futures_checked,
            }
        )
        progress(f"mark {marks[-1]['mark']}: {marks[-1]}")
    return {
        "benchmark": "mark_storm",
        "commit": project_commit(),
        "accounts": count,
        "risk_rows": len(index),
        "asset_columns": len(index.column_of),
        "index_bytes_per_account": round(index.bytes_per_row(), 1),
        "index_bytes_per_account_with_names": round(index.bytes_per_row() + name_bytes, 1),
        "build_seconds": round(build_seconds, 1),
        "futures_wallets": len(wallets),
        "futures_positions": futures_risk.positions_used - len(futures_risk.free_positions),
        "futures_index_bytes_per_wallet": round(futures_risk.bytes_per_wallet(), 1),
        "futures_build_seconds": round(futures_build_seconds, 1),
        "marks": marks,
        "goal": f"time to decide <= {GOAL_RATIO:g} x the float screen at N = 1,000,000; no mismatch",
        "goal_met": count >= 1_000_000
        and all(m["ratio_to_float_screen"] <= GOAL_RATIO and not m["mismatches"] for m in marks),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "liquidations_completed": liquidations_completed(liquidation_accounts, seed) if liquidation_accounts else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--sample", type=int, default=20_000, help="accounts checked exactly per mark")
    parser.add_argument(
        "--liquidation-accounts",
        type=int,
        default=1000,
        help="accounts run through `ledger run` (SQLite) to time the -20 %% mark's liquidations (0: skip)",
    )
    parser.add_argument("--repeat", type=int, default=7, help="timings: median (and minimum) of so many runs")
    parser.add_argument(
        "--futures-share", type=float, default=0.1, help="futures wallets, as a share of --accounts (0: none)"
    )
    args = parser.parse_args()
    figures = run(args.accounts, args.seed, args.sample, args.repeat, args.liquidation_accounts, args.futures_share)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"mark storm: {figures['accounts']} margin accounts and {figures['futures_wallets']} futures wallets "
        f"({figures['futures_index_bytes_per_wallet']} bytes per wallet in the futures index), "
        f"commit {figures['commit']}"
    )
    print(
        f"risk index: {figures['index_bytes_per_account']} bytes per account in its columns "
        f"({figures['index_bytes_per_account_with_names']} with the names), {figures['asset_columns']} asset columns"
    )
    for mark in figures["marks"]:
        print(
            f"  BTC {mark['mark']:>4}: screened {mark['screened']}, exactly {mark['evaluated_exactly']}, "
            f"liquidate {mark['liquidated']}, margin call {mark['margin_called']}; decided in {mark['decide_ms']} ms "
            f"(screen {mark['of_which_screen_ms']} ms) = {mark['ratio_to_float_screen']} x the float screen "
            f"({mark['float_screen_ms']} ms) [minimums: {mark['decide_min_ms']} / {mark['float_screen_min_ms']} ms = "
            f"{mark['ratio_of_minimums']} x]; cold (its linear forms built) {mark['decide_cold_ms']} ms = "
            f"{mark['cold_ratio_to_float_screen']} x; worst-first order {mark['worst_first_order_ms']} ms; "
            f"names listed {mark['names_listed_ms']} ms; "
            f"checked {mark['checked']}: {mark['mismatches']} mismatches"
        )
        print(
            f"    futures: screened {mark['futures_screened']}, exactly {mark['futures_evaluated_exactly']}, "
            f"liquidate {mark['futures_liquidated']}; decided in {mark['futures_decide_ms']} ms "
            f"(with the margin accounts {mark['decide_all_ms']} ms); checked {mark['futures_checked']}: "
            f"{mark['futures_mismatches']} mismatches"
        )
    print(f"goal: {figures['goal']}: {'met' if figures['goal_met'] else 'NOT met'}")
    print(f"load average {figures['load_average']} (2 cores, shared: indicative)")
    completed = figures["liquidations_completed"]
    if completed:
        print(
            f"ledger run, {completed['accounts']} accounts (SQLite): the -20 % mark started "
            f"{completed['liquidations_started']} liquidations, {completed['liquidations_ended']} ended, "
            f"all within {completed['seconds']} s ({completed['liquidations_per_second']} per second)"
        )


if __name__ == "__main__":
    main()
