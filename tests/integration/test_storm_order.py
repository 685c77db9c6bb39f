"""In a storm, the worst accounts are liquidated first: one mark that sends several accounts
below their liquidation threshold starts their liquidations lowest margin level first,
whatever their names (`ledger run`), and the dispatcher sends their evaluations in the same
order of priority."""

from __future__ import annotations

from pathlib import Path

from ledger.bootstrap import open_ledger
from ledger.domain.margin.account import Account
from ledger.domain.market import AssetMarket
from ledger.log import stored_events
from ledger.processes.indexes import ServiceIndex
from ledger.processes.margin.indexes import MarginRisk
from tests.conftest import apply_lines

# Each account: 1 BTC held, USDC owed: at BTC 30000 the levels are 30000 / owed, against the
# liquidation threshold of 1.1 (cross classic 5x): 1.0909, 1.0526, 1.0989, and D4 far above.
OWED_BY_ACCOUNT = {"A1": 27500, "B2": 28500, "C3": 27300, "D4": 10000}


def storm_lines() -> list[dict]:
    lines: list[dict] = [
        {"op": "params", "at": "2026-01-05T10:00:00Z", "assets": {"USDC": {"hourly_interest": "0.0002"}}},
        {"op": "mark", "asset": "BTC", "price": "50000"},
    ]
    for name, owed in OWED_BY_ACCOUNT.items():
        lines += [
            {"op": "open", "account": name, "mode": "cross_classic", "leverage": 5},
            {"op": "deposit", "account": name, "asset": "BTC", "amount": "1"},
            {"op": "borrow", "account": name, "asset": "USDC", "amount": str(owed)},
            {"op": "withdraw", "account": name, "asset": "USDC", "amount": str(owed)},
        ]
    return lines


def write_store(path: Path, lines: list[dict]) -> str:
    url = f"sqlite:///{path}"
    apply_lines(url, lines, "storm")
    return url


def test_one_mark_liquidates_the_lowest_level_first(tmp_path: Path) -> None:
    url = write_store(tmp_path / "storm.db", [*storm_lines(), {"op": "mark", "asset": "BTC", "price": "30000"}])
    app = open_ledger(url)
    try:
        started = [event.account for event in stored_events(app) if isinstance(event, Account.LiquidationStarted)]
    finally:
        app.close()
    assert started == ["B2", "A1", "C3"]


def test_the_dispatcher_routes_a_mark_worst_first(tmp_path: Path) -> None:
    """Every account exposed to the asset, lowest level first at the store's marks (BTC 40000:
    levels 1.40, 1.45, 1.47, 4.0: nothing to liquidate, the order is priority alone)."""
    url = write_store(tmp_path / "dispatched.db", [*storm_lines(), {"op": "mark", "asset": "BTC", "price": "40000"}])
    app = open_ledger(url)
    try:
        index = ServiceIndex.load(app)
        marks = [event for event in stored_events(app) if isinstance(event, AssetMarket.MarkRecorded)]
        routed = index.indexes[MarginRisk].accounts_a_mark_may_change(marks[-1], None)
    finally:
        app.close()
    assert routed == ["B2", "A1", "C3", "D4"]
