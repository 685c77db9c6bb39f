"""The dispatcher's index: a mark fans out to the margin accounts that hold or owe the
asset and owe anything; the index kept from the events equals the one rebuilt from
the store; and no account that a mark changed inline is left out of its fan-out."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.bootstrap import open_ledger
from ledger.domain.margin.account import Account
from ledger.domain.market import AssetMarket
from ledger.processes.indexes import ServiceIndex
from ledger.processes.inline import run_inputs
from ledger.processes.margin.evaluation import EVALUATION_EVENTS
from ledger.processes.margin.indexes import MarginRisk, OpenDebts
from ledger.processes.margin.step import MarginStep
from ledger.runs import validate
from tests.unit.test_mark_watch import _random_scenario


def _followed(path: Path, text: str) -> tuple[object, list[tuple[int, object]]]:
    app = open_ledger(f"sqlite:///{path}")
    run_inputs(app, validate(app, text, "random"))
    notifications = app.recorder.select_notifications(start=1, limit=1_000_000)
    return app, [(n.id, app.mapper.to_domain_event(n)) for n in notifications]


@pytest.mark.parametrize("seed", range(4))
def test_every_account_a_mark_changed_inline_is_in_its_fan_out(seed: int, tmp_path: Path) -> None:
    app, events = _followed(tmp_path / "ledger.db", _random_scenario(seed))
    index = ServiceIndex()
    fan_out: dict[int, set[str]] = {}
    for notification_id, event in events:
        index.observe(event)
        if isinstance(event, AssetMarket.MarkRecorded):
            reactions = index.reactions(event)
            assert {reaction.step for reaction in reactions} <= {MarginStep.EVALUATE_MARGIN, MarginStep.AUTO_TOP_UP}
            fan_out[notification_id] = {reaction.subject for reaction in reactions}
    changed_by_mark: dict[int, set[str]] = {}  # the accounts each mark's evaluations acted on
    for _, event in events:
        cause = getattr(event, "cause", None) or {}
        if cause.get("notification_id") in fan_out and isinstance(
            event, (*EVALUATION_EVENTS, Account.LiquidationStarted)
        ):
            changed_by_mark.setdefault(cause["notification_id"], set()).add(event.account)
    assert changed_by_mark, "the random walk should have marks that change accounts"
    for notification_id, accounts in changed_by_mark.items():
        assert accounts <= fan_out[notification_id]
    app.close()


def test_a_mark_fans_out_to_debtors_holding_or_owing_the_asset_only(tmp_path: Path) -> None:
    app = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    text = "\n".join(
        [
            '{"op": "mark", "asset": "BTC", "price": "50000", "at": "2026-01-05T10:00:00Z"}',
            '{"op": "mark", "asset": "ETH", "price": "3000"}',
            '{"op": "open", "account": "holds-btc", "mode": "cross_classic", "leverage": 5}',
            '{"op": "deposit", "account": "holds-btc", "asset": "BTC", "amount": "1"}',
            '{"op": "borrow", "account": "holds-btc", "asset": "USDC", "amount": "1000"}',
            '{"op": "open", "account": "owes-btc", "mode": "cross_classic", "leverage": 5}',
            '{"op": "deposit", "account": "owes-btc", "asset": "USDC", "amount": "100000"}',
            '{"op": "borrow", "account": "owes-btc", "asset": "BTC", "amount": "0.1"}',
            '{"op": "open", "account": "eth-only", "mode": "cross_classic", "leverage": 5}',
            '{"op": "deposit", "account": "eth-only", "asset": "ETH", "amount": "10"}',
            '{"op": "borrow", "account": "eth-only", "asset": "USDC", "amount": "1000"}',
            '{"op": "open", "account": "no-debt", "mode": "cross_classic", "leverage": 5}',
            '{"op": "deposit", "account": "no-debt", "asset": "BTC", "amount": "1"}',
            '{"op": "open", "account": "spot", "mode": "spot"}',
            '{"op": "deposit", "account": "spot", "asset": "BTC", "amount": "1"}',
        ]
    )
    run_inputs(app, validate(app, text, "fan-out"))
    loaded = ServiceIndex.load(app)
    mark = AssetMarket.MarkRecorded(
        originator_id=AssetMarket.create_id("BTC"),
        originator_version=99,
        timestamp=None,
        asset="BTC",
        price=49000,
        quote="USDC",  # type: ignore[arg-type]
        at=None,
        cause={},
    )  # type: ignore[arg-type]

    assert sorted(reaction.subject for reaction in loaded.reactions(mark)) == [
        "holds-btc",
        "owes-btc",
    ]  # worst first: tests/integration/test_storm_order.py
    assert loaded.indexes[OpenDebts].debtors == {"holds-btc", "owes-btc", "eth-only"}
    observed = ServiceIndex()
    for notification in app.recorder.select_notifications(start=1, limit=10_000):
        observed.observe(app.mapper.to_domain_event(notification))
    assert observed.indexes[MarginRisk].index.rows() == loaded.indexes[MarginRisk].index.rows()
    assert observed.indexes[OpenDebts].debtors == loaded.indexes[OpenDebts].debtors
    expected = {"accounts": 5, "open_takeovers": 0, "margin_risk_rows": 3, "futures_wallets_with_positions": 0}
    assert observed.figures() == loaded.figures() == expected
    app.close()
