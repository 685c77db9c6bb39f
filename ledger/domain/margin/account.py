"""The account aggregate: a spot wallet or a margin account, and its events.

Commands check the rules first and raise `Rejected` before any event is
triggered, so a refused command leaves the aggregate as it was.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from ledger.domain.books import DebtBook, HourlyInterest, add_all, add_to_book, exchange_in, take_all
from ledger.domain.entries import (
    DEBT,
    INSURANCE_FUND,
    LENDING_POOL,
    TAKEOVER_DESK,
    WORLD,
    AccountingEvent,
    Entry,
    exchange,
    lend,
    move,
    move_all,
    repayment,
    shortfall_cover,
)
from ledger.domain.errors import Rejected
from ledger.domain.identity import account_id
from ledger.domain.margin.rules import TOP_UP_APPLIED, TOP_UP_PARTIAL, margin_position, within_initial_level
from ledger.domain.money import ZERO, exact_product, round_half_even
from ledger.domain.parameters import RiskParameters
from ledger.domain.prices import MissingPrice, PriceBook
from ledger.domain.product import AccountMode


class AccountStatus(StrEnum):
    NORMAL = "normal"
    MARGIN_CALL = "margin_call"
    LIQUIDATING = "liquidating"
    TAKEN_OVER = "taken_over"


class Side(StrEnum):
    """The account's side of a fill."""

    BUY = "buy"
    SELL = "sell"


class Account(Aggregate):
    """One user account: balances per asset and, in margin modes, debts."""

    class Event(AccountingEvent):
        pass

    class Opened(Aggregate.Created, Event):
        mode: str
        leverage: int | None
        pair: list[str] | None

    @staticmethod
    def create_id(account: str, **_: Any) -> uuid.UUID:
        return account_id(account)

    @event(Opened)
    def __init__(
        self, account: str, mode: str, leverage: int | None, pair: list[str] | None, at: datetime, cause: dict[str, Any]
    ):
        self.name = account
        self.mode = mode
        self.leverage = leverage
        self.pair = pair
        self.balances: dict[str, Decimal] = {}
        self.principal: dict[str, Decimal] = {}
        self.interest: dict[str, Decimal] = {}
        self.last_interest_hour: dict[str, datetime] = {}
        self.status: str = AccountStatus.NORMAL  # a plain str once restored from a snapshot
        self.liquidation_id: uuid.UUID | None = None
        self.liquidations_started = 0
        self.auto_topup: dict[str, Any] | None = None

    # --- what the account is -------------------------------------------------

    @property
    def is_margin(self) -> bool:
        return AccountMode(self.mode).is_margin

    @property
    def is_locked(self) -> bool:
        return self.liquidation_id is not None

    def balance(self, asset: str) -> Decimal:
        return self.balances.get(asset, ZERO)

    @property
    def debts(self) -> DebtBook:
        """The account's debt book, over its own dicts (which snapshots store)."""
        return DebtBook(self.principal, self.interest, self.last_interest_hour)

    def liabilities(self) -> dict[str, Decimal]:
        """Principal plus accrued interest, per asset."""
        return self.debts.liabilities()

    def owed(self, asset: str) -> Decimal:
        return self.debts.owed(asset)

    # --- rules shared by commands ------------------------------------------------

    def _require_unlocked(self, action: str) -> None:
        if self.is_locked:
            raise Rejected(
                f"account {self.name} is locked by liquidation {self.liquidation_id}: "
                f"{action} is refused until the liquidation ends"
            )

    def _require_margin(self, action: str) -> None:
        if not self.is_margin:
            raise Rejected(f"account {self.name} is a {self.mode} account: {action} needs a margin account")

    def _require_pair_asset(self, asset: str) -> None:
        if self.pair is not None and asset not in self.pair:
            raise Rejected(f"isolated account {self.name} holds only {'/'.join(self.pair)}, not {asset}")

    def _require_balance(self, asset: str, amount: Decimal) -> None:
        if self.balance(asset) < amount:
            raise Rejected(f"account {self.name} holds {self.balance(asset)} {asset}, less than {amount}")

    def _require_initial_level_after(
        self,
        action: str,
        balance_changes: dict[str, Decimal],
        liability_changes: dict[str, Decimal],
        prices: PriceBook,
    ) -> None:
        """Refuses a change that would leave the margin level below the initial level."""
        if not self.is_margin:
            return
        balances = dict(self.balances)
        add_all(balances, balance_changes)
        liabilities = self.liabilities()
        add_all(liabilities, liability_changes)
        if not liabilities:
            return
        assert self.leverage is not None
        try:
            position = margin_position(self.mode, balances, liabilities, prices)
        except MissingPrice as missing:
            raise Rejected(f"{action} needs a mark price for {missing.asset} to value account {self.name}") from None
        if not within_initial_level(position.asset_value, position.liability_value, self.leverage):
            level = position.asset_value / position.liability_value
            raise Rejected(
                f"{action} would bring the margin level of {self.name} to {level:.8f}, "
                f"below the initial level {self.leverage}/{self.leverage - 1} of {self.leverage}x"
            )

    # --- deposits, withdrawals, transfers ---------------------------------------

    class Deposited(Event):
        asset: str
        amount: Decimal

        def entries(self) -> list[Entry]:
            return move(WORLD, self.account, self.asset, self.amount)

    def deposit(self, asset: str, amount: Decimal, at: datetime, cause: dict[str, Any]) -> None:
        self._require_pair_asset(asset)
        self._deposited(account=self.name, asset=asset, amount=amount, at=at, cause=cause)

    @event(Deposited)
    def _deposited(self, account: str, asset: str, amount: Decimal, at: datetime, cause: dict[str, Any]) -> None:
        add_to_book(self.balances, asset, amount)

    class Withdrawn(Event):
        asset: str
        amount: Decimal

        def entries(self) -> list[Entry]:
            return move(self.account, WORLD, self.asset, self.amount)

    def withdraw(self, asset: str, amount: Decimal, prices: PriceBook, at: datetime, cause: dict[str, Any]) -> None:
        self._require_unlocked("withdraw")
        self._require_balance(asset, amount)
        self._require_initial_level_after("withdraw", {asset: -amount}, {}, prices)
        self._withdrawn(account=self.name, asset=asset, amount=amount, at=at, cause=cause)

    @event(Withdrawn)
    def _withdrawn(self, account: str, asset: str, amount: Decimal, at: datetime, cause: dict[str, Any]) -> None:
        add_to_book(self.balances, asset, -amount)

    class TransferredOut(Event):
        """Carries both entries of a transfer; `TransferredIn` is its mirror."""

        asset: str
        amount: Decimal
        to_account: str

        def entries(self) -> list[Entry]:
            return move(self.account, self.to_account, self.asset, self.amount)

    def transfer_out(
        self, asset: str, amount: Decimal, to_account: str, prices: PriceBook, at: datetime, cause: dict[str, Any]
    ) -> None:
        self._require_unlocked("transfer out")
        self._require_balance(asset, amount)
        self._require_initial_level_after("transfer out", {asset: -amount}, {}, prices)
        self._transferred_out(account=self.name, asset=asset, amount=amount, to_account=to_account, at=at, cause=cause)

    @event(TransferredOut)
    def _transferred_out(
        self, account: str, asset: str, amount: Decimal, to_account: str, at: datetime, cause: dict[str, Any]
    ) -> None:
        add_to_book(self.balances, asset, -amount)

    class TransferredIn(Event):
        """The receiving side of a `TransferredOut`: its entries are on that event."""

        asset: str
        amount: Decimal
        from_account: str

    def check_transfer_in(self, asset: str) -> None:
        self._require_pair_asset(asset)

    def transfer_in(self, asset: str, amount: Decimal, from_account: str, at: datetime, cause: dict[str, Any]) -> None:
        self.check_transfer_in(asset)
        self._transferred_in(
            account=self.name, asset=asset, amount=amount, from_account=from_account, at=at, cause=cause
        )

    @event(TransferredIn)
    def _transferred_in(
        self, account: str, asset: str, amount: Decimal, from_account: str, at: datetime, cause: dict[str, Any]
    ) -> None:
        add_to_book(self.balances, asset, amount)

    # --- borrowing, interest, repayment ------------------------------------------

    class Borrowed(Event):
        asset: str
        amount: Decimal

        def entries(self) -> list[Entry]:
            return move(LENDING_POOL, self.account, self.asset, self.amount) + lend(
                self.account, self.asset, self.amount
            )

    def borrow(
        self,
        asset: str,
        amount: Decimal,
        prices: PriceBook,
        parameters: RiskParameters,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self._require_margin("borrow")
        self._require_unlocked("borrow")
        self._require_pair_asset(asset)
        first_hour = HourlyInterest.on(asset, amount, parameters.hourly_rate(asset), parameters.precision(asset))
        self._require_initial_level_after("borrow", {asset: amount}, {asset: amount + first_hour.amount}, prices)
        self._borrowed(account=self.name, asset=asset, amount=amount, at=at, cause=cause)
        # One hour of interest accrues at the moment of borrowing, on the amount borrowed.
        self._accrue(first_hour, at, parameters.version, cause)

    @event(Borrowed)
    def _borrowed(self, account: str, asset: str, amount: Decimal, at: datetime, cause: dict[str, Any]) -> None:
        add_to_book(self.balances, asset, amount)
        self.debts.borrow(asset, amount)

    class InterestAccrued(Event):
        asset: str
        principal: Decimal
        hourly_rate: Decimal
        amount: Decimal
        hour: datetime
        parameters_version: int

        def entries(self) -> list[Entry]:
            return lend(self.account, self.asset, self.amount)

    def accrue_hourly_interest(self, hour: datetime, parameters: RiskParameters, cause: dict[str, Any]) -> None:
        """The interest of the hour starting at `hour` (hh:00), once per asset and hour."""
        for due in self.debts.interest_due(hour, parameters.hourly_rate, parameters.precision):
            self._accrue(due, hour, parameters.version, cause)

    def _accrue(self, due: HourlyInterest, hour: datetime, parameters_version: int, cause: dict[str, Any]) -> None:
        self._interest_accrued(
            account=self.name,
            asset=due.asset,
            principal=due.principal,
            hourly_rate=due.hourly_rate,
            amount=due.amount,
            hour=hour,
            parameters_version=parameters_version,
            at=hour,
            cause=cause,
        )

    @event(InterestAccrued)
    def _interest_accrued(
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
        self.debts.accrue(asset, amount, hour)

    class Repaid(Event):
        asset: str
        interest_paid: Decimal
        principal_paid: Decimal
        liquidation_id: uuid.UUID | None

        def entries(self) -> list[Entry]:
            total = self.interest_paid + self.principal_paid
            return repayment(self.account, self.asset, total)

    def repay(self, asset: str, amount: Decimal, at: datetime, cause: dict[str, Any]) -> None:
        self._require_margin("repay")
        self._require_unlocked("repay")
        if amount > self.owed(asset):
            raise Rejected(f"repay of {amount} {asset} is more than {self.name} owes ({self.owed(asset)} {asset})")
        self._require_balance(asset, amount)
        self.settle(asset, amount, None, at, cause)

    def settle(
        self, asset: str, amount: Decimal, liquidation_id: uuid.UUID | None, at: datetime, cause: dict[str, Any]
    ) -> None:
        """Pays `amount` of the debt in `asset` from the balance, interest first."""
        interest_paid, principal_paid = self.debts.split_repayment(asset, amount, held=self.balance(asset))
        self._repaid(
            account=self.name,
            asset=asset,
            interest_paid=interest_paid,
            principal_paid=principal_paid,
            liquidation_id=liquidation_id,
            at=at,
            cause=cause,
        )

    @event(Repaid)
    def _repaid(
        self,
        account: str,
        asset: str,
        interest_paid: Decimal,
        principal_paid: Decimal,
        liquidation_id: uuid.UUID | None,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        add_to_book(self.balances, asset, -(interest_paid + principal_paid))
        self.debts.settle(asset, interest=interest_paid, principal=principal_paid)

    # --- trading ---------------------------------------------------------------

    class Filled(Event):
        side: str
        base: str
        quote: str
        quantity: Decimal
        price: Decimal
        quote_amount: Decimal

        def entries(self) -> list[Entry]:
            if self.side == Side.BUY:
                return exchange(self.account, self.quote, self.quote_amount, self.base, self.quantity)
            return exchange(self.account, self.base, self.quantity, self.quote, self.quote_amount)

    def fill(
        self,
        side: str,
        base: str,
        quote: str,
        quantity: Decimal,
        price: Decimal,
        parameters: RiskParameters,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self._require_unlocked("trade")
        self._require_pair_asset(base)
        self._require_pair_asset(quote)
        quote_amount = round_half_even(exact_product(quantity, price), parameters.precision(quote))
        if quote_amount <= 0:
            raise Rejected(f"fill of {quantity} {base} at {price} is worth less than one unit of {quote}")
        if side == Side.BUY:
            self._require_balance(quote, quote_amount)
        else:
            self._require_balance(base, quantity)
        self._filled(
            account=self.name,
            side=side,
            base=base,
            quote=quote,
            quantity=quantity,
            price=price,
            quote_amount=quote_amount,
            at=at,
            cause=cause,
        )

    @event(Filled)
    def _filled(
        self,
        account: str,
        side: str,
        base: str,
        quote: str,
        quantity: Decimal,
        price: Decimal,
        quote_amount: Decimal,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        if side == Side.BUY:
            exchange_in(self.balances, quote, quote_amount, base, quantity)
        else:
            exchange_in(self.balances, base, quantity, quote, quote_amount)

    # --- margin calls and auto top-up -----------------------------------------------

    class AutoTopUpEnabled(Event):
        source: str
        assets: list[str]
        target: Decimal | None

    def enable_auto_topup(
        self, source: str, assets: list[str], target: Decimal | None, at: datetime, cause: dict[str, Any]
    ) -> None:
        self._require_margin("auto top-up")
        self._auto_topup_enabled(account=self.name, source=source, assets=assets, target=target, at=at, cause=cause)

    @event(AutoTopUpEnabled)
    def _auto_topup_enabled(
        self, account: str, source: str, assets: list[str], target: Decimal | None, at: datetime, cause: dict[str, Any]
    ) -> None:
        self.auto_topup = {"source": source, "assets": list(assets), "target": target}

    class MarginCallIssued(Event):
        margin_level: Decimal
        threshold: Decimal
        prices: dict[str, Decimal]
        liabilities: dict[str, Decimal]
        parameters_version: int

    @event(MarginCallIssued)
    def issue_margin_call(
        self,
        account: str,
        margin_level: Decimal,
        threshold: Decimal,
        prices: dict[str, Decimal],
        liabilities: dict[str, Decimal],
        parameters_version: int,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self.status = AccountStatus.MARGIN_CALL

    class MarginRecovered(Event):
        """The level is back above the margin-call level: a new descent may call (and top
        up) again."""

        margin_level: Decimal
        threshold: Decimal

    @event(MarginRecovered)
    def recover(
        self, account: str, margin_level: Decimal, threshold: Decimal, at: datetime, cause: dict[str, Any]
    ) -> None:
        self.status = AccountStatus.NORMAL

    class AutoTopUpApplied(Event):
        """A top-up that moved something: `outcome` "applied" (target reached) or
        "partial" (the source ran out first), and why it ended there."""

        transfers: dict[str, Decimal]
        margin_level_before: Decimal
        margin_level_after: Decimal
        target: Decimal
        target_reached: bool
        outcome: str
        reason: str

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Stored before outcomes were recorded: the outcome follows from target_reached."""
            reached = state["target_reached"]
            state["outcome"] = TOP_UP_APPLIED if reached else TOP_UP_PARTIAL
            state["reason"] = "target reached" if reached else "target not reached"

    @event(AutoTopUpApplied)
    def record_auto_topup(
        self,
        account: str,
        transfers: dict[str, Decimal],
        margin_level_before: Decimal,
        margin_level_after: Decimal,
        target: Decimal,
        target_reached: bool,
        outcome: str,
        reason: str,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        pass

    class AutoTopUpFailed(Event):
        """A top-up that moved nothing, and why."""

        margin_level: Decimal
        reason: str

    @event(AutoTopUpFailed)
    def record_auto_topup_failure(
        self, account: str, margin_level: Decimal, reason: str, at: datetime, cause: dict[str, Any]
    ) -> None:
        pass

    # --- liquidation -----------------------------------------------------------------

    class LiquidationStarted(Event):
        liquidation_id: uuid.UUID
        margin_level: Decimal
        threshold: Decimal

    @event(LiquidationStarted)
    def start_liquidation(
        self,
        account: str,
        liquidation_id: uuid.UUID,
        margin_level: Decimal,
        threshold: Decimal,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        assert not self.is_locked, "a locked account cannot start a second liquidation"
        self.liquidation_id = liquidation_id
        self.liquidations_started += 1
        self.status = AccountStatus.LIQUIDATING

    class CollateralSold(Event):
        liquidation_id: uuid.UUID
        asset: str
        quantity: Decimal
        price: Decimal
        proceeds_asset: str
        proceeds: Decimal

        def entries(self) -> list[Entry]:
            return exchange(self.account, self.asset, self.quantity, self.proceeds_asset, self.proceeds)

    @event(CollateralSold)
    def sell_collateral(
        self,
        account: str,
        liquidation_id: uuid.UUID,
        asset: str,
        quantity: Decimal,
        price: Decimal,
        proceeds_asset: str,
        proceeds: Decimal,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        exchange_in(self.balances, asset, quantity, proceeds_asset, proceeds)

    class ShortfallCovered(Event):
        """Liabilities nothing is left to repay, paid to the pool by the insurance fund."""

        liquidation_id: uuid.UUID
        asset: str
        principal: Decimal
        interest: Decimal

        def entries(self) -> list[Entry]:
            total = self.principal + self.interest
            return shortfall_cover(self.account, self.asset, total)

    @event(ShortfallCovered)
    def cover_shortfall(
        self,
        account: str,
        liquidation_id: uuid.UUID,
        asset: str,
        principal: Decimal,
        interest: Decimal,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self.debts.settle(asset, interest=interest, principal=principal)

    class HandedOverToTakeover(Event):
        liquidation_id: uuid.UUID
        assets: dict[str, Decimal]
        principal: dict[str, Decimal]
        interest: dict[str, Decimal]

        def entries(self) -> list[Entry]:
            return (
                move_all(self.account, TAKEOVER_DESK, self.assets)
                + move_all(self.account, TAKEOVER_DESK, self.principal, book=DEBT)
                + move_all(self.account, TAKEOVER_DESK, self.interest, book=DEBT)
            )

    @event(HandedOverToTakeover)
    def hand_over(
        self,
        account: str,
        liquidation_id: uuid.UUID,
        assets: dict[str, Decimal],
        principal: dict[str, Decimal],
        interest: dict[str, Decimal],
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        assert assets == {a: q for a, q in self.balances.items() if q}, "hand-off must take every asset"
        assert principal == self.principal and interest == self.interest, "hand-off must take every debt"
        self.balances = {}
        self.debts.clear()
        self.status = AccountStatus.TAKEN_OVER

    class LiquidationFeePaid(Event):
        liquidation_id: uuid.UUID
        amounts: dict[str, Decimal]

        def entries(self) -> list[Entry]:
            return move_all(self.account, INSURANCE_FUND, self.amounts)

    @event(LiquidationFeePaid)
    def pay_liquidation_fee(
        self, account: str, liquidation_id: uuid.UUID, amounts: dict[str, Decimal], at: datetime, cause: dict[str, Any]
    ) -> None:
        take_all(self.balances, amounts)

    class TakeoverProceedsReturned(Event):
        liquidation_id: uuid.UUID
        amounts: dict[str, Decimal]

        def entries(self) -> list[Entry]:
            return move_all(TAKEOVER_DESK, self.account, self.amounts)

    @event(TakeoverProceedsReturned)
    def receive_takeover_proceeds(
        self, account: str, liquidation_id: uuid.UUID, amounts: dict[str, Decimal], at: datetime, cause: dict[str, Any]
    ) -> None:
        add_all(self.balances, amounts)

    class LiquidationEnded(Event):
        liquidation_id: uuid.UUID

    @event(LiquidationEnded)
    def end_liquidation(self, account: str, liquidation_id: uuid.UUID, at: datetime, cause: dict[str, Any]) -> None:
        assert self.liquidation_id == liquidation_id, "ending a liquidation the account is not in"
        self.liquidation_id = None
        self.status = AccountStatus.NORMAL
