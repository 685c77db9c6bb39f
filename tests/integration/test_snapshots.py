"""Every aggregate's state is plain data: a snapshot of it stores and reloads as it was."""

from __future__ import annotations

from eventsourcing.application import Application

from ledger.domain.identity import account_id
from ledger.domain.market import CLOCK_ID, PARAMETERS_ID, market_id
from tests.conftest import SCENARIOS, LedgerSession


def _reloaded_from_snapshot(app: Application, aggregate_id):  # type: ignore[no-untyped-def]
    app.take_snapshot(aggregate_id)
    snapshot = next(app.snapshots.get(aggregate_id, desc=True, limit=1))
    return snapshot.mutate(None)


def test_every_aggregate_type_snapshots_and_reloads(ledger_session: LedgerSession) -> None:
    ledger_session.run((SCENARIOS / "seed004_user_c.jsonl").read_text())
    app = ledger_session.app
    ids = [account_id("C"), market_id("SUPER"), PARAMETERS_ID, CLOCK_ID, *app.liquidation_ids()]
    for aggregate_id in ids:
        current = app.repository.get(aggregate_id)
        reloaded = _reloaded_from_snapshot(app, aggregate_id)
        state = {k: v for k, v in vars(current).items() if k not in ("_view", "_pending_events")}
        assert {k: v for k, v in vars(reloaded).items() if k != "_pending_events"} == state


def test_a_reopened_store_reads_its_snapshots(ledger_session: LedgerSession) -> None:
    lines = [{"op": "mark", "asset": "BTC", "price": str(50000 + i), "at": "2026-01-05T10:00:00Z"} for i in range(450)]
    ledger_session.run_lines(*lines)
    reopened = ledger_session.reopen()
    market = reopened.app.repository.get(market_id("BTC"))
    assert market.mark_price == 50449
    reopened.close()
