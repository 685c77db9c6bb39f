"""Futures positions through `ledger run`'s driver: entry prices, partial closes, flips,
hedge legs, isolated margin, funding and liquidation, read from the aggregates (the
report's futures fields are tested with the shared scenarios)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.domain.entries import imbalances
from ledger.domain.futures.account import FuturesAccount, futures_liquidation_id
from ledger.domain.futures.exact import rounded
from ledger.domain.futures.liquidation import FuturesLiquidation
from ledger.domain.futures.wallet import WalletFigures
from ledger.log import stored_events
from ledger.processes.inline import run_inputs
from ledger.unit_of_work import UnitOfWork
from tests.conftest import LedgerSession, validate

START = {"at": "2026-03-02T09:00:00Z"}


@pytest.fixture
def session(tmp_path: Path) -> Iterator[LedgerSession]:
    opened = LedgerSession(f"sqlite:///{tmp_path / 'futures.db'}")
    yield opened
    opened.close()


def run(session: LedgerSession, *lines: dict[str, Any]) -> list[dict[str, Any]]:
    """Applies the lines; returns the rejections they caused."""
    before = len(session.app.rejections())
    session.runs += 1
    inputs = validate(session.app, "\n".join(json.dumps(line) for line in lines), f"futures-{session.runs}")
    run_inputs(session.app, inputs, session.processes)
    return [{"line": r.line, "error": r.error} for r in session.app.rejections()[before:]]


def wallet(session: LedgerSession, name: str = "F") -> tuple[FuturesAccount, WalletFigures]:
    with UnitOfWork(session.app) as uow:
        account = uow.account(name)
        return account, account.figures(uow.prices())


def usdm_wallet(session: LedgerSession, deposit: str = "10000", *more: dict[str, Any]) -> None:
    assert not run(
        session,
        {"op": "open", "account": "F", "mode": "usdm", **START},
        {"op": "deposit", "account": "F", "asset": "USDT", "amount": deposit},
        {"op": "mark", "symbol": "BTCUSDT", "price": "30000"},
        *more,
    )


def trade(side: str, quantity: str, price: str, **more: Any) -> dict[str, Any]:
    return {
        "op": "trade",
        "account": "F",
        "symbol": "BTCUSDT",
        "side": side,
        "quantity": quantity,
        "price": price,
        **more,
    }


def conserved(session: LedgerSession) -> bool:
    postings = (
        (entry.asset, entry.book, entry.amount)
        for event in stored_events(session.app)
        if hasattr(event, "entries")
        for entry in event.entries()
    )
    return imbalances(postings) == []


def test_an_increase_averages_the_entry_price_and_a_partial_close_realizes_pnl(session: LedgerSession) -> None:
    usdm_wallet(session)
    assert not run(session, trade("buy", "0.1", "30000"), trade("buy", "0.3", "31000"), trade("sell", "0.2", "32000"))
    account, figures = wallet(session)
    (position,) = figures.positions
    assert position.held.position.quantity == Decimal("0.2")
    assert position.held.position.entry_price == Decimal("30750")  # (0.1 x 30000 + 0.3 x 31000) / 0.4
    assert account.cross_wallet == Decimal("10250")  # 0.2 x (32000 - 30750) realized
    assert conserved(session)


def test_a_larger_opposite_trade_in_one_way_mode_closes_and_opens_the_rest(session: LedgerSession) -> None:
    usdm_wallet(session)
    assert not run(session, trade("buy", "0.1", "30000"), trade("sell", "0.3", "29000"))
    account, figures = wallet(session)
    (position,) = figures.positions
    assert position.held.position.side.name == "SHORT"
    assert position.held.position.quantity == Decimal("0.2")
    assert position.held.position.entry_price == Decimal("29000")
    assert account.cross_wallet == Decimal("9900")  # the long lost 0.1 x 1000


def test_a_flip_whose_opening_part_does_not_fit_is_refused_whole(session: LedgerSession) -> None:
    usdm_wallet(session, "100")
    assert not run(session, trade("buy", "0.05", "30000"))
    rejections = run(session, trade("sell", "1", "30000"))
    assert "available balance" in rejections[0]["error"]
    _account, figures = wallet(session)
    assert figures.positions[0].held.position.quantity == Decimal("0.05")


def test_hedge_legs_are_held_apart_and_a_leg_is_not_reduced_beyond_its_size(session: LedgerSession) -> None:
    usdm_wallet(session, "10000", {"op": "position_mode", "account": "F", "mode": "hedge"})
    assert not run(
        session,
        trade("buy", "0.1", "30000", position_side="long"),
        trade("sell", "0.2", "30000", position_side="short"),
    )
    _account, figures = wallet(session)
    assert [(p.held.slot.value, p.held.position.quantity) for p in figures.positions] == [
        ("long", Decimal("0.1")),
        ("short", Decimal("0.2")),
    ]
    refused = run(
        session,
        trade("sell", "0.2", "30000", position_side="long"),
        trade("buy", "0.1", "30000"),
        {"op": "position_mode", "account": "F", "mode": "one_way"},
    )
    assert "more than its size" in refused[0]["error"]
    assert "needs position_side" in refused[1]["error"]
    assert "open positions" in refused[2]["error"]


def test_reduce_only_may_not_open_or_grow(session: LedgerSession) -> None:
    usdm_wallet(session)
    refused = run(session, trade("buy", "0.1", "30000", reduce_only=True))
    assert "reduce_only" in refused[0]["error"]
    assert not run(session, trade("buy", "0.1", "30000"), trade("sell", "0.1", "30000", reduce_only=True))
    _account, figures = wallet(session)
    assert figures.positions == []


def test_leverage_above_the_bracket_and_a_notional_beyond_it_are_refused(session: LedgerSession) -> None:
    usdm_wallet(session, "1000000")
    refused = run(
        session,
        {"op": "leverage", "account": "F", "symbol": "BTCUSDT", "leverage": 200, "margin_type": "cross"},
        {"op": "leverage", "account": "F", "symbol": "BTCUSDT", "leverage": 125, "margin_type": "cross"},
        trade("buy", "10", "30000"),  # 300,000 of notional: beyond the first bracket's 125x
    )
    assert len(refused) == 2
    assert "max leverage" in refused[0]["error"]
    assert "bracket allows" in refused[1]["error"]


def test_isolated_margin_moves_in_and_out_and_its_leverage_is_not_lowered(session: LedgerSession) -> None:
    usdm_wallet(
        session,
        "10000",
        {"op": "leverage", "account": "F", "symbol": "BTCUSDT", "leverage": 10, "margin_type": "isolated"},
    )
    assert not run(session, trade("buy", "1", "30000"))
    account, figures = wallet(session)
    assert figures.positions[0].held.isolated_margin == Decimal("3000")
    assert account.cross_wallet == Decimal("7000")
    assert figures.wallet_balance == Decimal("10000")
    refused = run(
        session,
        {"op": "isolated_margin", "account": "F", "symbol": "BTCUSDT", "amount": "500"},
        {"op": "isolated_margin", "account": "F", "symbol": "BTCUSDT", "amount": "-600"},
        {"op": "leverage", "account": "F", "symbol": "BTCUSDT", "leverage": 5, "margin_type": "isolated"},
        {"op": "leverage", "account": "F", "symbol": "BTCUSDT", "leverage": 10, "margin_type": "cross"},
    )
    assert "below its initial margin" in refused[0]["error"]
    assert "cannot be lowered" in refused[1]["error"]
    assert "margin type cannot change" in refused[2]["error"]
    account, figures = wallet(session)
    assert figures.positions[0].held.isolated_margin == Decimal("3500")
    assert not run(session, trade("sell", "0.5", "31000"))
    account, figures = wallet(session)
    assert figures.positions[0].held.isolated_margin == Decimal("1750")
    assert account.cross_wallet == Decimal("6500") + Decimal("1750") + Decimal("500")  # margin back, PnL realized


def test_unrealized_profit_is_not_withdrawable(session: LedgerSession) -> None:
    usdm_wallet(session, "1000")
    assert not run(session, trade("buy", "0.1", "30000"), {"op": "mark", "symbol": "BTCUSDT", "price": "40000"})
    refused = run(session, {"op": "withdraw", "account": "F", "asset": "USDT", "amount": "900"})
    assert "unrealized profit is not withdrawable" in refused[0]["error"]
    # The cross wallet less the IM at the mark: 1000 - 0.1 x 40000 / 20 = 800.
    assert not run(session, {"op": "withdraw", "account": "F", "asset": "USDT", "amount": "800"})


def test_funding_moves_between_longs_shorts_and_the_market(session: LedgerSession) -> None:
    usdm_wallet(session)
    assert not run(
        session,
        {"op": "open", "account": "G", "mode": "usdm"},
        {"op": "deposit", "account": "G", "asset": "USDT", "amount": "10000"},
        trade("buy", "1", "30000"),
        {**trade("sell", "1", "30000"), "account": "G"},
        {"op": "funding", "symbol": "BTCUSDT", "rate": "0.0001"},
    )
    assert wallet(session, "F")[0].cross_wallet == Decimal("9997")  # the long pays 30000 x 0.0001
    assert wallet(session, "G")[0].cross_wallet == Decimal("10003")
    assert conserved(session)


def test_a_cross_wallet_at_its_maintenance_margin_is_liquidated_with_a_capped_fee(session: LedgerSession) -> None:
    usdm_wallet(session, "1000")
    assert not run(
        session, trade("buy", "0.5", "30000", fee="1.5"), {"op": "mark", "symbol": "BTCUSDT", "price": "28200"}
    )
    assert wallet(session)[0].status == "normal"  # 998.5 - 900 = 98.5 > MM 56.4
    run(session, {"op": "mark", "symbol": "BTCUSDT", "price": "28100"})
    account, figures = wallet(session)
    assert figures.positions == [] and account.status == "normal" and not account.is_locked
    assert account.cross_wallet == 0  # 998.5 - 950 = 48.5, all of it the capped fee
    with UnitOfWork(session.app) as uow:
        liquidation: FuturesLiquidation = uow.get(futures_liquidation_id("F", 1))
    assert liquidation.status == "completed"
    assert liquidation.fee == Decimal("48.5") and liquidation.shortfall == 0
    assert liquidation.trigger["prices"] == {"BTCUSDT": Decimal("28100")}
    assert conserved(session)


def test_a_deficit_is_covered_by_the_insurance_fund(session: LedgerSession) -> None:
    usdm_wallet(session, "1000")
    run(session, trade("buy", "0.5", "30000"), {"op": "mark", "symbol": "BTCUSDT", "price": "27000"})
    with UnitOfWork(session.app) as uow:
        liquidation: FuturesLiquidation = uow.get(futures_liquidation_id("F", 1))
    assert liquidation.fee == 0 and liquidation.shortfall == Decimal("500")
    assert wallet(session)[0].cross_wallet == 0
    assert conserved(session)


def test_an_isolated_position_is_liquidated_alone_and_its_remainder_returns(session: LedgerSession) -> None:
    usdm_wallet(
        session,
        "10000",
        {"op": "leverage", "account": "F", "symbol": "BTCUSDT", "leverage": 10, "margin_type": "isolated"},
    )
    assert not run(session, trade("buy", "1", "30000"))  # isolated margin 3000
    run(session, {"op": "mark", "symbol": "BTCUSDT", "price": "27100"})  # 3000 - 2900 = 100 <= MM 108.4
    account, figures = wallet(session)
    assert figures.positions == []
    with UnitOfWork(session.app) as uow:
        liquidation: FuturesLiquidation = uow.get(futures_liquidation_id("F", 1))
    assert liquidation.symbol == "BTCUSDT" and liquidation.fee == Decimal("100")  # 0.0125 x 27100 capped at 100
    assert account.cross_wallet == Decimal("7000")  # the cross wallet untouched
    assert conserved(session)


def test_the_exact_liquidation_price_liquidates_and_a_tick_before_does_not(session: LedgerSession) -> None:
    """COIN-M, where uPnL and MM divide by the mark: the trigger compares exact fractions."""
    assert not run(
        session,
        {"op": "open", "account": "F", "mode": "coinm", "asset": "BTC", **START},
        {"op": "deposit", "account": "F", "asset": "BTC", "amount": "1"},
        {"op": "mark", "symbol": "BTCUSD_PERP", "price": "40000"},
        {"op": "trade", "account": "F", "symbol": "BTCUSD_PERP", "side": "buy", "quantity": "5000", "price": "40000"},
    )
    _account, figures = wallet(session)
    price = figures.positions[0].liquidation_price
    assert price is not None
    tick = Decimal("0.00000001")
    at_or_past = rounded(price, 8, ROUND_FLOOR)  # a long liquidates at or below it
    safe = at_or_past + tick
    run(session, {"op": "mark", "symbol": "BTCUSD_PERP", "price": str(safe)})
    assert wallet(session)[1].positions != []
    run(session, {"op": "mark", "symbol": "BTCUSD_PERP", "price": str(at_or_past)})
    assert wallet(session)[1].positions == []


def test_a_symbols_contract_terms_do_not_change_under_open_positions_but_its_brackets_may(
    session: LedgerSession,
) -> None:
    usdm_wallet(session)
    assert not run(session, trade("buy", "0.1", "30000"))
    spec = {
        "type": "linear",
        "base": "ETH",
        "quote": "USDT",
        "clearance_fee": "0.01",
        "brackets": [{"cap": "9223372036854775807", "max_leverage": 20, "mmr": "0.01"}],
    }
    refused = run(session, {"op": "params", "symbols": {"BTCUSDT": spec}})
    assert "cannot change while positions in it are open (F holds one)" in refused[0]["error"]
    assert not run(session, {"op": "params", "symbols": {"BTCUSDT": {**spec, "base": "BTC"}}})
    _account, figures = wallet(session)
    assert figures.positions[0].maintenance_margin == Decimal("30")  # 3000 x 1 %, the new bracket


def test_the_wallets_totals_explain_its_balance(session: LedgerSession) -> None:
    """wallet = transfers + realized PnL + funding - commissions - clearance fees + shortfalls covered."""
    usdm_wallet(session, "1000")
    run(
        session,
        trade("buy", "0.5", "30000", fee="1.5"),
        {"op": "mark", "symbol": "BTCUSDT", "price": "28200"},
        {"op": "funding", "symbol": "BTCUSDT", "rate": "0.0001"},
        {"op": "mark", "symbol": "BTCUSDT", "price": "28100"},
        {"op": "deposit", "account": "F", "asset": "USDT", "amount": "10"},
    )
    account, _figures = wallet(session)
    assert account.totals == {
        "realized_pnl": Decimal("-950"),
        "funding": Decimal("-1.41"),
        "commissions": Decimal("1.5"),
        "clearance_fees": Decimal("47.09"),
        "shortfalls_covered": Decimal("0"),
    }
    totals = account.totals
    explained = (
        Decimal("1010")
        + totals["realized_pnl"]
        + totals["funding"]
        - totals["commissions"]
        - totals["clearance_fees"]
        + totals["shortfalls_covered"]
    )
    assert account.wallet_balance == explained == Decimal("10")


# --- exact to the last unit: figures that chain a division (found by an independent audit) ---


def open_at(session: LedgerSession, mode: str, asset: str, deposit: str, symbol: str, mark: str) -> None:
    assert not run(
        session,
        {"op": "open", "account": "F", "mode": mode, "asset": asset, **START},
        {"op": "deposit", "account": "F", "asset": asset, "amount": deposit},
        {"op": "mark", "symbol": symbol, "price": mark},
    )


def test_pnl_realized_on_an_averaged_entry_is_rounded_from_its_exact_value(session: LedgerSession) -> None:
    """Entry 100/3: selling 3 at 33.343333335 realizes exactly 0.030000005, a tie that
    half-even rounds down to 0.03 (a 60-digit entry price lands beside the tie)."""
    open_at(session, "usdm", "USDT", "1000", "BTCUSDT", "33")
    assert not run(session, trade("buy", "1", "33"), trade("buy", "2", "33.5"), trade("sell", "3", "33.343333335"))
    assert wallet(session)[0].totals["realized_pnl"] == Decimal("0.03")


def test_pnl_realized_on_an_inverse_position_is_rounded_from_its_exact_value(session: LedgerSession) -> None:
    """3 contracts of 100 from 3 to 6144: 300 x (1/3 - 1/6144) = 99.951171875 exactly -> 99.95117188."""
    open_at(session, "coinm", "BTC", "20", "BTCUSD_PERP", "3")
    assert not run(
        session,
        {"op": "leverage", "account": "F", "symbol": "BTCUSD_PERP", "leverage": 10, "margin_type": "cross"},
        {"op": "trade", "account": "F", "symbol": "BTCUSD_PERP", "side": "buy", "quantity": "3", "price": "3"},
        {"op": "mark", "symbol": "BTCUSD_PERP", "price": "6144"},
        {"op": "trade", "account": "F", "symbol": "BTCUSD_PERP", "side": "sell", "quantity": "3", "price": "6144"},
    )
    assert wallet(session)[0].totals["realized_pnl"] == Decimal("99.95117188")


def test_funding_on_an_inverse_notional_is_rounded_from_its_exact_value(session: LedgerSession) -> None:
    """1 contract of 100 at mark 3: notional 100/3 BTC; x 0.00000000045 = 1.5e-8 exactly -> pays 2e-8."""
    open_at(session, "coinm", "BTC", "5", "BTCUSD_PERP", "3")
    assert not run(
        session,
        {"op": "trade", "account": "F", "symbol": "BTCUSD_PERP", "side": "buy", "quantity": "1", "price": "3"},
        {"op": "funding", "symbol": "BTCUSD_PERP", "rate": "0.00000000045"},
    )
    assert wallet(session)[0].totals["funding"] == Decimal("-0.00000002")


def test_a_mark_exactly_at_the_liquidation_price_of_an_averaged_entry_liquidates(session: LedgerSession) -> None:
    """Entry 100/3 on 3 BTC, wallet 40.24: at mark 20 the margin balance 0.24 equals MM 0.24."""
    open_at(session, "usdm", "USDT", "40.24", "BTCUSDT", "33")
    assert not run(session, trade("buy", "1", "33"), trade("buy", "2", "33.5"))
    run(session, {"op": "mark", "symbol": "BTCUSDT", "price": "20.00000001"})
    assert wallet(session)[1].positions != []
    run(session, {"op": "mark", "symbol": "BTCUSDT", "price": "20"})
    assert wallet(session)[1].positions == []


def test_the_cost_to_open_is_compared_exactly_with_the_available_balance(session: LedgerSession) -> None:
    """IM 300.000000009 / 3 = 100.000000003 exactly: more than the 100 available, though it
    is recorded as 100."""
    open_at(session, "usdm", "USDT", "100", "BTCUSDT", "300.000000009")
    refused = run(
        session,
        {"op": "leverage", "account": "F", "symbol": "BTCUSDT", "leverage": 3, "margin_type": "cross"},
        trade("buy", "1", "300.000000009"),
    )
    assert "available balance" in refused[0]["error"]
