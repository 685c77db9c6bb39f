"""Spot margin's indexes for the drivers (`ledger.processes.indexes`): who owes anything
and which takeovers are open (`OpenDebts`, kept by both drivers: whom an hour's interest
and a new rule set concern, and whom offered liquidity may serve), and which accounts a
mark may change (`MarkFanOut`): the dispatcher's `MarginExposure` here, `ledger run`'s
`MarkWatch` with the assessments that fill it (`ledger.processes.margin.assessment`).

`MarginExposure`: a mark fans out to the margin accounts that hold or owe the asset
and whose margin state marks can change (the domain's `assets_whose_marks_may_change`).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ledger.dispatch import singledispatchmethod
from ledger.domain.margin.account import Account
from ledger.domain.margin.decisions import assets_whose_marks_may_change
from ledger.domain.margin.liquidation import Liquidation
from ledger.domain.market import AssetMarket
from ledger.processes.indexes import Driver, DriverIndex, follows_accounts, kept_by
from ledger.unit_of_work import UnitOfWork

follows_accounts(Account.Event)


def margin_accounts(accounts: Iterable[Any]) -> list[Account]:
    """The spot and margin accounts among every product's."""
    return [account for account in accounts if isinstance(account, Account)]


@kept_by(Driver.INLINE, Driver.SERVICE)
class OpenDebts(DriverIndex):
    """Who owes anything, and which takeovers are open."""

    def __init__(self) -> None:
        self.debtors: set[str] = set()
        self.open_takeovers: set[uuid.UUID] = set()

    def load(self, uow: UnitOfWork, accounts: Sequence[Any]) -> None:
        for account in margin_accounts(accounts):
            self.note_account(account)
        for liquidation_id in uow.app.liquidation_ids():
            liquidation = uow.liquidation(liquidation_id)
            if isinstance(liquidation, Liquidation) and liquidation.is_taking_over:
                self.open_takeovers.add(liquidation_id)

    def note_account(self, account: Account) -> None:
        if account.liabilities():
            self.debtors.add(account.name)
        else:
            self.debtors.discard(account.name)

    def figures(self) -> dict[str, int]:
        return {"open_takeovers": len(self.open_takeovers)}

    @singledispatchmethod
    def observe(self, event: Any, account: Callable[[str], Account]) -> None:
        """Only its own events change it."""

    @observe.register
    def _account_changed(self, event: Account.Event, account: Callable[[str], Account]) -> None:
        self.note_account(account(event.account))

    @observe.register
    def _takeover_started(self, event: Liquidation.TakeoverStarted, _account: Callable[[str], Account]) -> None:
        self.open_takeovers.add(event.originator_id)

    @observe.register
    def _takeover_sales_ended(self, event: Liquidation.TakeoverSalesEnded, _account: Callable[[str], Account]) -> None:
        self.open_takeovers.discard(event.originator_id)


class MarkFanOut(DriverIndex, ABC):
    """Which margin accounts a mark may change, as each driver knows it."""

    @abstractmethod
    def accounts_a_mark_may_change(self, mark: AssetMarket.MarkRecorded, uow: UnitOfWork | None) -> Iterable[str]:
        """`uow`: inline, the unit of work holding the store's state; none in the dispatcher."""


@kept_by(Driver.SERVICE)
class MarginExposure(MarkFanOut):
    """The margin accounts whose margin state a mark of each asset may change."""

    def __init__(self) -> None:
        self.exposed_to: dict[str, set[str]] = defaultdict(set)
        self.assets_of: dict[str, set[str]] = {}

    def load(self, uow: UnitOfWork, accounts: Sequence[Any]) -> None:
        for account in margin_accounts(accounts):
            self.note_account(account)

    @singledispatchmethod
    def observe(self, event: Any, account: Callable[[str], Account]) -> None:
        """Only accounts' events change it."""

    @observe.register
    def _account_changed(self, event: Account.Event, account: Callable[[str], Account]) -> None:
        self.note_account(account(event.account))

    def note_account(self, account: Account) -> None:
        name = account.name
        for asset in self.assets_of.pop(name, set()):
            self.exposed_to[asset].discard(name)
        assets = assets_whose_marks_may_change(account)
        if assets:
            self.assets_of[name] = assets
            for asset in assets:
                self.exposed_to[asset].add(name)

    def accounts_a_mark_may_change(self, mark: AssetMarket.MarkRecorded, _uow: UnitOfWork | None) -> Iterable[str]:
        return self.exposed_to.get(mark.asset, ())
