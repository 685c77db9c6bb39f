"""The liquidation: its aggregate (one stream per liquidation, holding what the
takeover desk holds for it) and the pure plans of its steps.

Plans are computed from balances, debts and marks alone; the process manager
turns them into events on the account and on the liquidation.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from ledger.domain.books import (
    DebtBook,
    add_to_book,
    direct_repayments,
    exchange_in,
    take_all,
)
from ledger.domain.entries import (
    INSURANCE_FUND,
    TAKEOVER_DESK,
    AccountingEvent,
    Entry,
    exchange,
    lend,
    move_all,
    repayment,
    shortfall_cover,
)
from ledger.domain.identity import NAMESPACE
from ledger.domain.liquidations import LiquidationStatus
from ledger.domain.money import (
    ZERO,
    enough_to_repay,
    exact_product,
    floor_quotient,
    proceeds_of_sale,
)
from ledger.domain.parameters import RiskParameters
from ledger.domain.prices import PriceBook


class LiquidationKind(StrEnum):
    REGULAR = "regular"  # no hand-over: the account's own holdings settled it
    TAKEOVER = "takeover"  # handed over to the takeover desk before anything was repaid
    MIXED = "mixed"  # some repaid from the account, the rest handed over


def liquidation_id(account: str, sequence: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"liquidation:{account}:{sequence}")


# --- plans (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class Sale:
    asset: str
    quantity: Decimal
    price: Decimal  # units of proceeds_asset per unit of asset, at the marks
    proceeds_asset: str
    proceeds: Decimal


@dataclass(frozen=True)
class Repayment:
    asset: str
    amount: Decimal  # interest first, then principal


@dataclass
class SettlementPlan:
    """Sales and repayments that settle liabilities from holdings, in order."""

    steps: list[Sale | Repayment] = field(default_factory=list)
    remaining: dict[str, Decimal] = field(default_factory=dict)  # liabilities nothing could repay
    holdings_after: dict[str, Decimal] = field(default_factory=dict)

    @property
    def repaid_anything(self) -> bool:
        return any(isinstance(step, Repayment) for step in self.steps)


def plan_settlement(
    holdings: Mapping[str, Decimal],
    liabilities: Mapping[str, Decimal],
    prices: PriceBook,
    sellable: set[str],
) -> SettlementPlan:
    """Repays `liabilities` from `holdings`: an asset that is itself owed repays directly;
    then `sellable` assets are sold to the market at the marks, largest value first.

    A sale's cost is rounded UP so the debt is covered in full (`enough_to_repay`, the one
    rule of every repay path); its proceeds are rounded down.
    """
    plan = SettlementPlan(holdings_after={a: q for a, q in holdings.items() if q})
    owed = {a: q for a, q in liabilities.items() if q}
    held = plan.holdings_after

    for asset, direct in direct_repayments(held, owed).items():
        plan.steps.append(Repayment(asset, direct))
        add_to_book(held, asset, -direct)
        add_to_book(owed, asset, -direct)

    for liability_asset in sorted(owed):
        for collateral in _by_value_descending(held, prices, sellable - {liability_asset}):
            remaining = owed.get(liability_asset, ZERO)
            if remaining <= 0:
                break
            sale = _sale_covering(collateral, held[collateral], liability_asset, remaining, prices)
            if sale is None:
                continue
            plan.steps.append(sale)
            add_to_book(held, collateral, -sale.quantity)
            add_to_book(held, liability_asset, sale.proceeds)
            repaid = min(sale.proceeds, remaining)
            plan.steps.append(Repayment(liability_asset, repaid))
            add_to_book(held, liability_asset, -repaid)
            add_to_book(owed, liability_asset, -repaid)
    plan.remaining = owed
    assert all(q > 0 for q in held.values()), "a plan may not sell more than is held"
    return plan


def _by_value_descending(held: Mapping[str, Decimal], prices: PriceBook, assets: set[str]) -> list[str]:
    candidates = [a for a in assets if held.get(a, ZERO) > 0]
    return sorted(candidates, key=lambda a: (-prices.value(a, held[a]), a))


def _sale_covering(
    collateral: str, available: Decimal, liability_asset: str, owed: Decimal, prices: PriceBook
) -> Sale | None:
    """The sale of `collateral` that repays `owed` of `liability_asset` in full at the marks
    (its cost rounded up), or, when `available` cannot pay that, the least of it that buys
    all it can: a shortfall is then only what the collateral truly cannot pay."""
    parameters = prices.parameters
    collateral_precision, liability_precision = parameters.precision(collateral), parameters.precision(liability_asset)
    collateral_value, liability_value = prices.value_of_one(collateral), prices.value_of_one(liability_asset)
    quantity = enough_to_repay(owed, liability_value, collateral_value, collateral_precision)
    if quantity > available:
        affordable = proceeds_of_sale(available, collateral_value, liability_value, liability_precision)
        if affordable <= 0:
            return None
        quantity = enough_to_repay(affordable, liability_value, collateral_value, collateral_precision)
    proceeds = proceeds_of_sale(quantity, collateral_value, liability_value, liability_precision)
    return Sale(collateral, quantity, prices.exchange_rate(collateral, liability_asset), liability_asset, proceeds)


def plan_fee(
    holdings: Mapping[str, Decimal], fee_value: Decimal, prices: PriceBook
) -> tuple[dict[str, Decimal], Decimal]:
    """The fee taken from `holdings`: the valuation asset first, then the largest holding
    by value at the marks, each amount rounded down. Never more than is held.

    Returns (amounts per asset, their value in the valuation asset).
    """
    parameters = prices.parameters
    valuation = parameters.valuation_asset
    amounts: dict[str, Decimal] = {}
    left = fee_value
    order = [valuation] if holdings.get(valuation, ZERO) > 0 else []
    order += [a for a in _by_value_descending(holdings, prices, set(holdings) - {valuation})]
    for asset in order:
        if left <= 0:
            break
        value_of_one = prices.value_of_one(asset)
        amount = min(floor_quotient(left, value_of_one, parameters.precision(asset)), holdings[asset])
        if amount <= 0:
            continue
        amounts[asset] = amount
        left -= exact_product(amount, value_of_one)
    value = sum((prices.value(a, q) for a, q in amounts.items()), ZERO)
    return amounts, value


# --- the aggregate ---------------------------------------------------------------


class Liquidation(Aggregate):
    """One liquidation of one account, from trigger to completion.

    After a hand-off its stream holds what the takeover desk holds and owes for it.
    """

    class Event(AccountingEvent):
        pass

    class Triggered(Aggregate.Created, Event):
        sequence: int
        mode: str
        leverage: int
        margin_level: Decimal
        threshold: Decimal
        prices: dict[str, Decimal]
        parameters_version: int
        balances: dict[str, Decimal]
        principal: dict[str, Decimal]
        interest: dict[str, Decimal]
        liabilities_value: Decimal
        fee_rate: Decimal
        fee_value: Decimal

    @staticmethod
    def create_id(account: str, sequence: int, **_: Any) -> uuid.UUID:
        return liquidation_id(account, sequence)

    @event(Triggered)
    def __init__(
        self,
        account: str,
        sequence: int,
        mode: str,
        leverage: int,
        margin_level: Decimal,
        threshold: Decimal,
        prices: dict[str, Decimal],
        parameters_version: int,
        balances: dict[str, Decimal],
        principal: dict[str, Decimal],
        interest: dict[str, Decimal],
        liabilities_value: Decimal,
        fee_rate: Decimal,
        fee_value: Decimal,
        at: datetime,
        cause: dict[str, Any],
    ):
        self.account = account
        self.sequence = sequence
        self.trigger = {
            "margin_level": margin_level,
            "threshold": threshold,
            "prices": dict(prices),
            "parameters_version": parameters_version,
            "at": at,
        }
        self.liabilities_at_trigger = DebtBook(principal, interest, {}).liabilities()
        self.fee_value_due = fee_value
        self.regular_repaid = False
        self.regular_part_ended = False
        self.handed_over = False
        self.desk_balances: dict[str, Decimal] = {}
        self.desk_principal: dict[str, Decimal] = {}
        self.desk_interest: dict[str, Decimal] = {}
        self.desk_last_interest_hour: dict[str, datetime] = {}
        self.to_sell: list[str] = []
        self.sales_ended = False
        self.shortfall: dict[str, Decimal] = {}
        self.fee_amounts: dict[str, Decimal] | None = None
        self.fee_value = ZERO
        self.returned: dict[str, Decimal] = {}
        self.status: str = LiquidationStatus.IN_PROGRESS  # a plain str once restored from a snapshot
        self.triggered_at = at
        self.completed_at: datetime | None = None

    @property
    def kind(self) -> LiquidationKind:
        if not self.handed_over:
            return LiquidationKind.REGULAR
        return LiquidationKind.MIXED if self.regular_repaid else LiquidationKind.TAKEOVER

    @property
    def is_taking_over(self) -> bool:
        return self.handed_over and not self.sales_ended

    @property
    def desk_debts(self) -> DebtBook:
        """The debt book of what the desk took over, over the aggregate's own dicts
        (which snapshots store)."""
        return DebtBook(self.desk_principal, self.desk_interest, self.desk_last_interest_hour)

    def desk_liabilities(self) -> dict[str, Decimal]:
        return self.desk_debts.liabilities()

    # --- regular part ---

    class RegularPartEnded(Event):
        repaid: dict[str, Decimal]
        shortfall: dict[str, Decimal]
        takeover_needed: bool

    @event(RegularPartEnded)
    def end_regular_part(
        self,
        account: str,
        repaid: dict[str, Decimal],
        shortfall: dict[str, Decimal],
        takeover_needed: bool,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self.regular_repaid = bool(repaid)
        self.regular_part_ended = True
        self.shortfall = dict(shortfall)

    # --- takeover ---

    class TakeoverStarted(Event):
        """The desk's side of the account's `HandedOverToTakeover`: its entries are there."""

        assets: dict[str, Decimal]
        principal: dict[str, Decimal]
        interest: dict[str, Decimal]
        to_sell: list[str]

    @event(TakeoverStarted)
    def start_takeover(
        self,
        account: str,
        assets: dict[str, Decimal],
        principal: dict[str, Decimal],
        interest: dict[str, Decimal],
        to_sell: list[str],
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self.handed_over = True
        self.desk_balances = dict(assets)
        self.desk_debts.take_over(principal, interest, at)
        self.to_sell = sorted(to_sell)

    class TakeoverSliceSold(Event):
        asset: str
        quantity: Decimal
        price: Decimal
        proceeds_asset: str
        proceeds: Decimal
        liquidity_at: datetime

        def entries(self) -> list[Entry]:
            return exchange(TAKEOVER_DESK, self.asset, self.quantity, self.proceeds_asset, self.proceeds)

    @event(TakeoverSliceSold)
    def sell_slice(
        self,
        account: str,
        asset: str,
        quantity: Decimal,
        price: Decimal,
        proceeds_asset: str,
        proceeds: Decimal,
        liquidity_at: datetime,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        exchange_in(self.desk_balances, asset, quantity, proceeds_asset, proceeds)
        if self.desk_balances.get(asset, ZERO) == 0 and asset in self.to_sell:
            self.to_sell.remove(asset)

    class DeskSoldAtMark(Event):
        """A sale by the desk at the mark, to settle a liability in another asset."""

        asset: str
        quantity: Decimal
        price: Decimal
        proceeds_asset: str
        proceeds: Decimal

        def entries(self) -> list[Entry]:
            return exchange(TAKEOVER_DESK, self.asset, self.quantity, self.proceeds_asset, self.proceeds)

    @event(DeskSoldAtMark)
    def sell_at_mark(
        self,
        account: str,
        asset: str,
        quantity: Decimal,
        price: Decimal,
        proceeds_asset: str,
        proceeds: Decimal,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        exchange_in(self.desk_balances, asset, quantity, proceeds_asset, proceeds)

    class DeskDebtRepaid(Event):
        asset: str
        interest_paid: Decimal
        principal_paid: Decimal

        def entries(self) -> list[Entry]:
            total = self.interest_paid + self.principal_paid
            return repayment(TAKEOVER_DESK, self.asset, total)

    def repay_desk_debt(self, asset: str, amount: Decimal, at: datetime, cause: dict[str, Any]) -> None:
        held = self.desk_balances.get(asset, ZERO)
        interest_paid, principal_paid = self.desk_debts.split_repayment(asset, amount, held)
        self._desk_debt_repaid(
            account=self.account,
            asset=asset,
            interest_paid=interest_paid,
            principal_paid=principal_paid,
            at=at,
            cause=cause,
        )

    @event(DeskDebtRepaid)
    def _desk_debt_repaid(
        self,
        account: str,
        asset: str,
        interest_paid: Decimal,
        principal_paid: Decimal,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        add_to_book(self.desk_balances, asset, -(interest_paid + principal_paid))
        self.desk_debts.settle(asset, interest=interest_paid, principal=principal_paid)

    class DeskInterestAccrued(Event):
        asset: str
        principal: Decimal
        hourly_rate: Decimal
        amount: Decimal
        hour: datetime
        parameters_version: int

        def entries(self) -> list[Entry]:
            return lend(TAKEOVER_DESK, self.asset, self.amount)

    def accrue_hourly_interest(self, hour: datetime, parameters: RiskParameters, cause: dict[str, Any]) -> None:
        """Interest keeps accruing on liabilities handed to the desk, once per asset and hour."""
        for due in self.desk_debts.interest_due(hour, parameters.hourly_rate, parameters.precision):
            self._desk_interest_accrued(
                account=self.account,
                asset=due.asset,
                principal=due.principal,
                hourly_rate=due.hourly_rate,
                amount=due.amount,
                hour=hour,
                parameters_version=parameters.version,
                at=hour,
                cause=cause,
            )

    @event(DeskInterestAccrued)
    def _desk_interest_accrued(
        self,
        account: str,
        asset: str,
        principal: Decimal,
        hourly_rate: Decimal,
        amount: Decimal,
        hour: datetime,
        parameters_version: int,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self.desk_debts.accrue(asset, amount, hour)

    class TakeoverSalesEnded(Event):
        pass

    @event(TakeoverSalesEnded)
    def end_takeover_sales(self, account: str, at: datetime, cause: dict[str, Any]) -> None:
        self.sales_ended = True

    class DeskShortfallCovered(Event):
        asset: str
        principal: Decimal
        interest: Decimal

        def entries(self) -> list[Entry]:
            total = self.principal + self.interest
            return shortfall_cover(TAKEOVER_DESK, self.asset, total)

    @event(DeskShortfallCovered)
    def cover_desk_shortfall(
        self, account: str, asset: str, principal: Decimal, interest: Decimal, at: datetime, cause: dict[str, Any]
    ) -> None:
        self.desk_debts.settle(asset, interest=interest, principal=principal)
        add_to_book(self.shortfall, asset, principal + interest)

    # --- fee, return, completion ---

    class FeeCharged(Event):
        """The liquidation fee. Paid by the desk after a takeover (entries here), or by
        the account after a regular liquidation (entries on `LiquidationFeePaid`)."""

        amounts: dict[str, Decimal]
        value: Decimal
        payer: str

        def entries(self) -> list[Entry]:
            if self.payer != TAKEOVER_DESK:
                return []
            return move_all(TAKEOVER_DESK, INSURANCE_FUND, self.amounts)

    @event(FeeCharged)
    def charge_fee(
        self, account: str, amounts: dict[str, Decimal], value: Decimal, payer: str, at: datetime, cause: dict[str, Any]
    ) -> None:
        assert self.fee_amounts is None, "a liquidation charges one fee"
        self.fee_amounts = dict(amounts)
        self.fee_value = value
        if payer == TAKEOVER_DESK:
            take_all(self.desk_balances, amounts)

    class ProceedsReturned(Event):
        """The desk's side of the account's `TakeoverProceedsReturned`: entries are there."""

        amounts: dict[str, Decimal]

    @event(ProceedsReturned)
    def return_proceeds(self, account: str, amounts: dict[str, Decimal], at: datetime, cause: dict[str, Any]) -> None:
        assert amounts == self.desk_balances, "the return gives back all the desk holds"
        self.returned = dict(amounts)
        self.desk_balances = {}

    class Completed(Event):
        kind: str

    @event(Completed)
    def complete(self, account: str, kind: str, at: datetime, cause: dict[str, Any]) -> None:
        assert not self.desk_liabilities(), "a liquidation completes only when its liabilities are settled"
        self.status = LiquidationStatus.COMPLETED
        self.completed_at = at
