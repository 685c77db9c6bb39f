"""Defects a review of issue 9's changes found, each fixed and guarded here."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.bootstrap import open_ledger
from ledger.inputs import InputErrors
from ledger.processes.inline import run_inputs
from ledger.runs import plan
from ledger.store import StoreBusy, writer_lease
from ledger.write_path import apply_input, begin_hours
from tests.conftest import ledger_cli

XS = ("XA", "XB", "XC", "XD", "XE", "XF")
BIG = "1234567891.123456789123456789"


def write(path: Path, *lines: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_marks_chained_through_quotes_cannot_wedge_a_store(store_url: str, tmp_path: Path) -> None:
    """Five assets each quoted in the next, at the largest prices: a value of one was a
    product of six prices, beyond exactness, and every later run crashed. A mark is now
    worth something only through one asset at most between it and the valuation asset."""
    chain = [{"op": "mark", "asset": XS[i], "quote": XS[i + 1], "price": BIG} for i in reversed(range(5))]
    scenario = write(
        tmp_path / "chain.jsonl",
        {"op": "params", "at": "2026-01-05T10:00:00Z", "assets": {x: {"precision": 18} for x in XS}},
        {"op": "open", "account": "A", "mode": "cross_classic", "leverage": 5},
        {"op": "deposit", "account": "A", "asset": "USDC", "amount": "100"},
        {"op": "borrow", "account": "A", "asset": "USDC", "amount": "10"},
        {"op": "deposit", "account": "A", "asset": "XA", "amount": BIG},
        *chain,
        {"op": "params", "assets": {"XF": {"stable": True}}, "at": "2026-01-05T10:30:00Z"},
    )
    assert ledger_cli("run", str(scenario), "--store", store_url, "--json").returncode == 0
    later = write(tmp_path / "later.jsonl", {"op": "deposit", "account": "A", "asset": "USDC", "amount": "1"})
    assert ledger_cli("run", str(later), "--store", store_url, "--json").returncode == 0
    assert ledger_cli("history", "A", "--store", store_url, "--json").returncode == 0
    assert ledger_cli("reconcile", "--store", store_url, "--json").returncode == 0


def test_hours_begun_before_a_crash_count_in_the_store_clock(store_url: str) -> None:
    """Hours begun for an input that a crash then lost are the store's time too: an input
    before them would be recorded after their interest and lose it."""
    app = open_ledger(store_url)
    try:
        run_inputs(
            app,
            plan(
                app,
                json.dumps({"op": "open", "account": "S", "mode": "spot", "at": "2026-01-05T10:00:00Z"}),
                "first.jsonl",
            ).inputs,
        )
        until = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
        for _ in begin_hours(app, until, {"kind": "test"}):  # then the ledger stopped
            pass
        assert app.store_clock() == until
        with pytest.raises(InputErrors) as refused:
            plan(
                app,
                json.dumps(
                    {"op": "deposit", "account": "S", "asset": "USDC", "amount": "1", "at": "2026-01-05T10:30:00Z"}
                ),
                "second.jsonl",
            )
        assert "earlier than the input before it" in str(refused.value)
    finally:
        app.close()


def test_check_of_an_empty_sqlite_file_treats_it_as_a_new_store(tmp_path: Path) -> None:
    store = tmp_path / "empty.db"
    store.touch()
    scenario = write(tmp_path / "s.jsonl", {"op": "open", "account": "S", "mode": "spot", "at": "2026-01-05T10:00:00Z"})
    checked = ledger_cli("check", str(scenario), "--store", f"sqlite:///{store}", "--json")
    assert checked.returncode == 0, checked.stderr
    assert store.stat().st_size == 0
    assert ledger_cli("run", str(scenario), "--store", f"sqlite:///{store}", "--json").returncode == 0


def test_the_writer_lease_is_one_whatever_the_path_is_called(tmp_path: Path) -> None:
    store = tmp_path / "ledger.db"
    store.touch()
    os.symlink(store, tmp_path / "alias.db")
    with writer_lease(f"sqlite:///{store}"):
        with pytest.raises(StoreBusy):
            with writer_lease(f"sqlite:///{tmp_path / 'alias.db'}"):
                pass


def test_an_overlay_is_checked_as_the_run_will_apply_it(store_url: str, tmp_path: Path) -> None:
    first = write(
        tmp_path / "first.jsonl", {"op": "open", "account": "S", "mode": "spot", "at": "2026-01-05T10:00:00Z"}
    )
    assert ledger_cli("run", str(first), "--store", store_url, "--json").returncode == 0
    coarse = tmp_path / "coarse.json"
    coarse.write_text(json.dumps({"assets": {"BTC": {"precision": 2}}}))
    deposit = write(
        tmp_path / "deposit.jsonl", {"op": "deposit", "account": "S", "asset": "BTC", "amount": "0.12345678"}
    )
    refused = ledger_cli("run", str(deposit), "--params", str(coarse), "--store", store_url, "--json")
    assert refused.returncode == 2 and "line 1: amount:" in refused.stderr
    # An overlay that puts a margin call below the liquidation level of the store's set.
    tier = write(
        tmp_path / "tier.jsonl",
        {"op": "params", "margin": {"cross_classic": {"5": {"margin_call": "2", "liquidation": "1.5", "fee": "0.02"}}}},
    )
    assert ledger_cli("run", str(tier), "--store", store_url, "--json").returncode == 0
    low = tmp_path / "low.json"
    low.write_text(json.dumps({"margin": {"cross_classic": {"5": {"margin_call": "1.2"}}}}))
    later = write(tmp_path / "later.jsonl", {"op": "deposit", "account": "S", "asset": "USDC", "amount": "1"})
    refused = ledger_cli("run", str(later), "--params", str(low), "--store", store_url, "--json")
    assert refused.returncode == 2 and "margin_call must not be below liquidation" in refused.stderr


def test_a_scenario_from_a_pipe_is_applied_anew_each_time(tmp_path: Path) -> None:
    """`/dev/stdin` is not a file the store could know again: two different batches piped one
    after the other are both applied, though they begin alike."""
    import subprocess
    import sys

    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    opening = json.dumps({"op": "open", "account": "A", "mode": "spot", "at": "2026-01-05T10:00:00Z"}) + "\n"
    five = json.dumps({"op": "deposit", "account": "A", "asset": "USDC", "amount": "5"}) + "\n"
    seven = json.dumps({"op": "deposit", "account": "A", "asset": "USDC", "amount": "7"}) + "\n"
    for batch in (opening + five, opening + five + seven):
        completed = subprocess.run(
            [sys.executable, "-m", "ledger", "run", "/dev/stdin", "--store", store, "--json"],
            input=batch,
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["accounts"]["A"]["balances"] == {"USDC": "17"}


def test_a_line_another_writer_applied_meanwhile_is_not_applied_again(store_url: str) -> None:
    """Two `ledger submit`s of one file: each line is applied by whichever comes first."""
    from ledger.idempotency import LineAlreadyApplied

    text = "\n".join(
        json.dumps(line)
        for line in (
            {"op": "open", "account": "S", "mode": "spot", "at": "2026-01-05T10:00:00Z"},
            {"op": "deposit", "account": "S", "asset": "USDC", "amount": "5"},
        )
    )
    first, second = open_ledger(store_url), open_ledger(store_url)
    try:
        planned_by_second = plan(second, text, "shared.jsonl").inputs
        run_inputs(first, plan(first, text, "shared.jsonl").inputs)
        with pytest.raises(LineAlreadyApplied):
            apply_input(second, planned_by_second[1])
        deposits = [
            record
            for record in first.recorder.select_notifications(start=1, limit=10_000)
            if record.topic.endswith("Account.Deposited")
        ]
        assert len(deposits) == 1
    finally:
        first.close()
        second.close()
