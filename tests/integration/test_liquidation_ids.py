"""The list of liquidations, derived from the accounts (a liquidation's id is its account's
name and its sequence), equals what the liquidations log of earlier versions listed; no
liquidation appends to a shared stream any more; and many aggregates read at once
(`ledger.stream_reads`) are those the repository reads one by one, snapshots included."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from eventsourcing.application import EventSourcedLog

from ledger.bootstrap import open_ledger
from ledger.domain.futures.liquidation import FuturesLiquidation
from ledger.domain.identity import account_id
from ledger.domain.margin.liquidation import Liquidation
from ledger.domain.market import LIQUIDATIONS_LOG_ID, LiquidationLogged, market_id
from ledger.log import stored_events
from ledger.stream_reads import read_aggregates
from tests.conftest import SCENARIOS, LedgerSession
from tests.workers.mass_liquidation import mass_liquidation_lines

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize("name", ["v0", "v1", "v2"])
def test_an_old_store_lists_the_liquidations_its_log_listed(name: str, tmp_path: Path) -> None:
    copy = tmp_path / f"store_{name}.db"
    shutil.copyfile(FIXTURES / f"store_{name}.db", copy)
    app = open_ledger(f"sqlite:///{copy}")
    try:
        logged = [
            entry.liquidation_id for entry in EventSourcedLog(app.events, LIQUIDATIONS_LOG_ID, LiquidationLogged).get()
        ]
        listed = app.liquidation_ids()
        assert logged, "the fixture holds liquidations"
        assert len(listed) == len(set(listed)) == len(logged)
        assert set(listed) == set(logged)
        for liquidation_id in listed:
            assert isinstance(app.repository.get(liquidation_id), Liquidation | FuturesLiquidation)
    finally:
        app.close()


def triggered_ids(session: LedgerSession) -> list:
    return [
        event.originator_id
        for event in stored_events(session.app)
        if isinstance(event, Liquidation.Triggered | FuturesLiquidation.Triggered)
    ]


def test_a_liquidation_appends_to_no_shared_stream(ledger_session: LedgerSession) -> None:
    ledger_session.run((SCENARIOS / "seed004_user_c.jsonl").read_text())
    app = ledger_session.app
    assert not list(EventSourcedLog(app.events, LIQUIDATIONS_LOG_ID, LiquidationLogged).get())
    listed = app.liquidation_ids()
    assert listed and sorted(listed) == sorted(triggered_ids(ledger_session))
    accounts = read_aggregates(app, [account_id(name) for name in app.account_names()]).values()
    assert app.liquidation_ids(accounts) == listed


def test_many_aggregates_read_at_once_are_those_the_repository_reads(ledger_session: LedgerSession) -> None:
    lines = mass_liquidation_lines(regular=3, takeovers=1)
    # Enough marks that the market's stream is snapshotted (every 200 versions), and more after.
    lines += [{"op": "mark", "asset": "ETH", "price": str(3000 + i), "at": "2026-01-06T10:00:00Z"} for i in range(450)]
    ledger_session.run_lines(*lines)
    first = ledger_session.reopen()
    app = first.app
    ids = [account_id(name) for name in app.account_names()] + [market_id("ETH"), market_id("BTC")]
    ids += app.liquidation_ids()
    assert app.snapshots is not None and list(app.snapshots.get(market_id("ETH")))
    expected = {aggregate_id: vars(app.repository.get(aggregate_id)) for aggregate_id in ids}
    second = first.reopen()  # an empty cache: every aggregate read in bulk
    try:
        absent = account_id("nobody")
        read = read_aggregates(second.app, [*ids, absent, ids[0]])
        assert absent not in read and set(read) == set(ids)
        assert {aggregate_id: vars(read[aggregate_id]) for aggregate_id in ids} == expected
        # Kept in the single writer's cache, as the repository would keep them.
        assert all(second.app.repository.get(aggregate_id) is read[aggregate_id] for aggregate_id in ids)
    finally:
        second.close()
