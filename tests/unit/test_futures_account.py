"""The futures account aggregate on its own: what a liquidation takes and leaves."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ledger.domain.entries import imbalances
from ledger.domain.futures.account import FuturesAccount
from ledger.domain.futures.trading import TradeSide
from ledger.domain.parameters import RiskParameters, default_parameter_data
from ledger.domain.prices import Mark, PriceBook

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)
CAUSE = {"kind": "test"}


def prices(mark: str) -> PriceBook:
    parameters = RiskParameters(default_parameter_data(), 1)
    return PriceBook({}, parameters, {"BTCUSDT": Mark(Decimal(mark), "BTCUSDT", AT)})


def long_wallet(deposit: str = "1000") -> FuturesAccount:
    account = FuturesAccount(account="F", mode="usdm", asset="USDT", at=AT, cause=CAUSE)
    account.deposit("USDT", Decimal(deposit), AT, CAUSE)
    account.trade(
        "BTCUSDT", TradeSide.BUY, Decimal("0.5"), Decimal("30000"), None, False, Decimal(0), prices("30000"), AT, CAUSE
    )
    return account


def liquidate(account: FuturesAccount, mark: str, arriving: Decimal = Decimal(0)) -> tuple[Decimal, Decimal]:
    """Triggers, lets `arriving` be deposited meanwhile, then closes: (fee, shortfall)."""
    at_mark = prices(mark)
    liquidation_id = account.start_liquidation(None, None, AT, CAUSE)
    if arriving:
        account.deposit("USDT", arriving, AT, CAUSE)
    for figures in account.figures(at_mark).cross:
        account.close_at_mark(liquidation_id, figures, 8, AT, CAUSE)
    fee = account.charge_clearance_fee(liquidation_id, Decimal("175.625"), 8, AT, CAUSE)
    shortfall = account.cover_shortfall(liquidation_id, AT, CAUSE)
    account.end_liquidation(liquidation_id, AT, CAUSE)
    return fee, shortfall


def test_a_deposit_during_a_liquidation_stays_the_users() -> None:
    account = long_wallet()
    fee, shortfall = liquidate(account, "28100", arriving=Decimal("300"))
    assert (fee, shortfall) == (Decimal("50"), 0)  # capped at 1000 - 950, not at 350
    assert account.cross_wallet == Decimal("300") and not account.is_locked
    assert account.arrived_while_liquidating == 0


def test_a_deposit_during_a_liquidation_does_not_pay_its_deficit() -> None:
    account = long_wallet()
    fee, shortfall = liquidate(account, "27000", arriving=Decimal("300"))
    assert (fee, shortfall) == (0, Decimal("500"))
    assert account.cross_wallet == Decimal("300")


def test_every_event_of_a_liquidation_balances() -> None:
    account = long_wallet()
    liquidate(account, "27000")
    events = account.collect_events()
    postings = [(e.asset, e.book, e.amount) for event in events for e in event.entries()]
    assert imbalances(postings) == []
    assert [type(event).__name__ for event in events][-4:] == [
        "LiquidationStarted",
        "PositionLiquidated",
        "ShortfallCovered",
        "LiquidationEnded",
    ]
