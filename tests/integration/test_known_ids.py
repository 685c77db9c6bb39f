"""The one writer knows in memory which aggregates exist (`Ledger.remember_existence`): an
id never saved is answered "not found" without a read, what exists when it starts and what
it saves since are found, and a run goes as it went with reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from eventsourcing.application import AggregateNotFoundError

from ledger.application import EVENTS_PER_MISSED_READ
from ledger.bootstrap import open_ledger
from ledger.domain.identity import account_id
from ledger.domain.margin.account import Account
from ledger.runs import open_validated

AT = datetime(2026, 1, 5, 10, tzinfo=UTC)
CAUSE = {"kind": "test"}


def opened(name: str) -> Account:
    return Account(account=name, mode="spot", leverage=None, pair=None, at=AT, cause=CAUSE)


def test_what_exists_at_start_and_what_it_saves_are_found_and_nothing_else(store_url: str) -> None:
    before = open_ledger(store_url)
    before.save(opened("EARLY"))
    before.close()

    app = open_ledger(store_url)
    try:
        app.remember_existence()
        assert app.repository.get(account_id("EARLY")).name == "EARLY"
        with pytest.raises(AggregateNotFoundError):
            app.repository.get(uuid.uuid4())
        app.save(opened("LATER"))
        app.repository.cache.clear()  # found by a read, not from the cache
        assert app.repository.get(account_id("LATER")).name == "LATER"

        # What another process saves meanwhile is not seen: hence the writer lease.
        other = open_ledger(store_url)
        other.save(opened("ELSEWHERE"))
        other.close()
        with pytest.raises(AggregateNotFoundError):
            app.repository.get(account_id("ELSEWHERE"))
    finally:
        app.close()
    fresh = open_ledger(store_url)
    try:
        assert fresh.repository.get(account_id("ELSEWHERE")).name == "ELSEWHERE"
    finally:
        fresh.close()


def test_a_run_opened_for_writing_remembers_existence(store_url: str) -> None:
    app, _ = open_validated(
        store_url, '{"op": "open", "account": "A", "mode": "spot", "at": "2026-01-05T10:00:00Z"}\n', "s.jsonl"
    )
    try:
        assert app.repository.known is not None
    finally:
        app.close()


def test_a_large_store_lists_its_ids_only_once_reads_that_found_nothing_have_cost_as_much(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing every id scans the store: a short file on a large store does not pay it."""
    before = open_ledger(store_url)
    for number in range(3 * EVENTS_PER_MISSED_READ // 2):
        before.save(opened(f"A{number}"))
    before.close()

    app = open_ledger(store_url)
    try:
        app.remember_existence()
        assert app.repository.known is None  # 1.5 x EVENTS_PER_MISSED_READ events: one miss first
        assert app.repository.get(account_id("A7")).name == "A7"  # found: a read, as any
        with pytest.raises(AggregateNotFoundError):
            app.repository.get(uuid.uuid4())
        assert app.repository.known is not None and account_id("A7") in app.repository.known
        monkeypatch.setattr(app.recorder, "select_events", None)  # answered from memory now: no read
        with pytest.raises(AggregateNotFoundError):
            app.repository.get(uuid.uuid4())
    finally:
        app.close()
