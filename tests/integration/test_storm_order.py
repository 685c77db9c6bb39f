"""In a storm, the worst accounts are liquidated first: one mark that sends several accounts
below their liquidation threshold starts their liquidations lowest margin level first,
whatever their names (`ledger run`), and the dispatcher sends their evaluations in the same
order of priority."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from ledger.bootstrap import open_ledger
from ledger.domain.identity import account_id
from ledger.domain.margin.account import Account
from ledger.domain.market import AssetMarket
from ledger.log import stored_events
from ledger.processes.indexes import ServiceIndex
from ledger.processes.inline import ProcessManager, run_inputs
from ledger.processes.margin.indexes import MarginRisk
from ledger.runs import validate
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


def store_with_a_snapshot(path: Path, lines: list[dict]) -> str:
    """A store whose driver's indexes are snapshotted, as a large store keeps them: a run
    starts from the snapshot and reads no account to start."""
    url = write_store(path, lines)
    app = open_ledger(url)
    try:
        assert ProcessManager(app).snapshot()
    finally:
        app.close()
    return url


def run_counting_reads(url: str, line: dict, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], set[uuid.UUID]]:
    """`line` run by a new process (nothing cached): the events stored, and the aggregates
    read one query each (the library's read of one stream)."""
    app = open_ledger(url)
    read_one_by_one: set[uuid.UUID] = set()
    select_events = app.events.recorder.select_events
    monkeypatch.setattr(
        app.events.recorder,
        "select_events",
        lambda originator_id, **kw: read_one_by_one.add(originator_id) or select_events(originator_id, **kw),
    )
    try:
        processes = ProcessManager(app)
        assert processes.start.position > 0, "the driver started from the snapshot"
        run_inputs(app, validate(app, json.dumps(line), "later"), processes)
        return list(stored_events(app)), read_one_by_one
    finally:
        app.close()


def accounts_lines(names: list[str], borrowed_usdc: int, withdrawn: bool) -> list[dict]:
    lines: list[dict] = storm_lines()[:2]
    for name in names:
        lines += [
            {"op": "open", "account": name, "mode": "cross_classic", "leverage": 5},
            {"op": "deposit", "account": name, "asset": "BTC", "amount": "1"},
            {"op": "borrow", "account": name, "asset": "USDC", "amount": str(borrowed_usdc)},
        ]
        if withdrawn:
            lines.append({"op": "withdraw", "account": name, "asset": "USDC", "amount": str(borrowed_usdc)})
    return lines


def test_a_storm_reads_the_accounts_it_changes_in_one_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The accounts a mark changes are read together (`read_aggregates`), not one query each:
    at a million accounts, one query each was most of a storm's 16 minutes. The evaluations
    that follow find them in the application's cache."""
    names = [f"S{number:03}" for number in range(120)]
    url = store_with_a_snapshot(tmp_path / "crash.db", accounts_lines(names, 27500, withdrawn=True))
    crash = {"op": "mark", "asset": "BTC", "price": "30000", "at": "2026-01-05T10:30:00Z"}
    events, read_one_by_one = run_counting_reads(url, crash, monkeypatch)
    assert sorted(event.account for event in events if isinstance(event, Account.LiquidationStarted)) == names
    accounts_read_apart = read_one_by_one & {account_id(name) for name in names}
    assert len(accounts_read_apart) <= 2, f"{len(accounts_read_apart)} of 120 accounts read one query each"


def test_an_hour_reads_the_debtors_in_one_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An hour's interest concerns every debtor: they are read together, not one query each."""
    names = [f"D{number:03}" for number in range(120)]
    url = store_with_a_snapshot(tmp_path / "hour.db", accounts_lines(names, 1000, withdrawn=False))
    later = {"op": "mark", "asset": "ETH", "price": "3000", "at": "2026-01-05T11:00:00Z"}
    events, read_one_by_one = run_counting_reads(url, later, monkeypatch)
    eleven = [event for event in events if isinstance(event, Account.InterestAccrued) and event.hour.hour == 11]  # noqa: PLR2004
    assert sorted(event.account for event in eleven) == names
    accounts_read_apart = read_one_by_one & {account_id(name) for name in names}
    assert len(accounts_read_apart) <= 2, f"{len(accounts_read_apart)} of 120 debtors read one query each"
