"""Defect 6 of issue 9: one far-off date never finishes. Time may jump at most the
parameter `clock.max_jump_hours` (a year and a day) between two inputs, and the hours
passed cost work only when someone owes: quiet hours share a save."""

from __future__ import annotations

from decimal import Decimal

from ledger.write_path import QUIET_HOURS_PER_SAVE
from tests.conftest import LedgerSession

OPEN = {"op": "open", "account": "S", "mode": "spot", "at": "2026-01-01T00:00:00Z"}


def count_saves(session: LedgerSession) -> list[int]:
    """The number of events of each save the ledger makes from now on."""
    saves: list[int] = []
    record = session.app._record

    def counted(processing_event):  # type: ignore[no-untyped-def]
        saves.append(len(processing_event.events))
        return record(processing_event)

    session.app._record = counted  # type: ignore[method-assign]
    return saves


def test_a_year_with_nobody_owing_begins_every_hour_in_few_saves(ledger_session: LedgerSession) -> None:
    ledger_session.run_lines(OPEN)
    saves = count_saves(ledger_session)
    report = ledger_session.run_lines({"op": "clock", "at": "2027-01-01T00:00:00Z"})
    assert report["rejections"] == []
    hours = [
        record
        for record in ledger_session.app.recorder.select_notifications(start=1, limit=100_000)
        if record.topic.endswith("Clock.HourBegan")
    ]
    assert len(hours) == 365 * 24
    assert len(saves) <= 365 * 24 // QUIET_HOURS_PER_SAVE + 3


def test_hours_owed_on_are_each_accrued(ledger_session: LedgerSession) -> None:
    """Borrow 10000 USDC at 0.0001 an hour: one hour at borrowing, then one a month of
    hours (744 in January) = 745 x 1 USDC."""
    report = ledger_session.run_lines(
        {"op": "params", "assets": {"USDC": {"hourly_interest": "0.0001"}}, "at": "2026-01-01T00:30:00Z"},
        {"op": "open", "account": "A", "mode": "cross_classic", "leverage": 3},
        {"op": "deposit", "account": "A", "asset": "BTC", "amount": "1"},
        {"op": "mark", "asset": "BTC", "price": "50000"},
        {"op": "borrow", "account": "A", "asset": "USDC", "amount": "10000"},
        {"op": "clock", "at": "2026-02-01T00:30:00Z"},
    )
    assert Decimal(report["accounts"]["A"]["interest"]["USDC"]) == Decimal(745)
