"""The drivers' indexes, kept in memory from the events and rebuilt from the store
when a driver starts: who owes anything and which takeovers are open (`OpenDebts`,
both drivers), which marks may change whom (`MarkWatch`, `ledger run`), and which
margin accounts hold or owe each asset (`ServiceIndex`, the dispatcher).

`MarkWatch`: an account assessed as quiet gets, per asset, the range of marks within
which its margin state cannot change (`quiet_price_bands`). A mark then re-evaluates
only the accounts whose range it leaves (found by bisection), and those that cannot
be banded.

`ServiceIndex`: accounts are followed with their own aggregates' mutators, so no rule
is written twice. A price mark fans out to the margin accounts that hold or owe the
asset and owe anything at all, or are still in margin call: no other account's
margin state can change with it.

What an event changes in an index is looked up by the event's class
(`singledispatchmethod`); a product registers its own events' effects.
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from functools import singledispatchmethod
from typing import Any

from ledger.application import Ledger
from ledger.domain.margin.account import Account, AccountStatus
from ledger.domain.margin.liquidation import Liquidation
from ledger.domain.margin.rules import PriceBand
from ledger.processes.routing import Reaction, Situation, reactions_to
from ledger.unit_of_work import UnitOfWork


class MarkWatch:
    """Which accounts a mark must re-evaluate: an index of quiet price bands."""

    def __init__(self) -> None:
        self.lows: dict[str, list[tuple[Decimal, str]]] = defaultdict(list)  # sorted by lowest quiet mark
        self.highs: dict[str, list[tuple[Decimal, str]]] = defaultdict(list)  # sorted by highest quiet mark
        self.always: dict[str, set[str]] = defaultdict(set)  # re-evaluated on every mark of the asset
        self.bands: dict[str, dict[str, PriceBand]] = {}
        self.always_assets: dict[str, set[str]] = {}

    def forget(self, account: str) -> None:
        """No mark can change the account's state (no debt, locked, not margin)."""
        for asset, (low, high) in self.bands.pop(account, {}).items():
            if low is not None:
                _remove(self.lows[asset], (low, account))
            if high is not None:
                _remove(self.highs[asset], (high, account))
        for asset in self.always_assets.pop(account, set()):
            self.always[asset].discard(account)

    def watch_always(self, account: str, assets: set[str]) -> None:
        self.forget(account)
        self.always_assets[account] = set(assets)
        for asset in assets:
            self.always[asset].add(account)

    def watch_bands(self, account: str, bands: dict[str, PriceBand]) -> None:
        self.forget(account)
        self.bands[account] = dict(bands)
        for asset, (low, high) in bands.items():
            if low is not None:
                bisect.insort(self.lows[asset], (low, account))
            if high is not None:
                bisect.insort(self.highs[asset], (high, account))

    def accounts_watching(self, asset: str) -> list[str]:
        names = set(self.always.get(asset, ()))
        names.update(name for _, name in self.lows.get(asset, []))
        names.update(name for _, name in self.highs.get(asset, []))
        return sorted(names)

    def accounts_to_evaluate(self, asset: str, price: Decimal) -> list[str]:
        """The accounts a mark of `asset` at `price` may change, in name order."""
        lows = self.lows.get(asset, [])
        highs = self.highs.get(asset, [])
        below = lows[bisect.bisect_right(lows, price, key=lambda entry: entry[0]) :]  # price < lowest quiet
        above = highs[: bisect.bisect_left(highs, price, key=lambda entry: entry[0])]  # price > highest quiet
        names = set(self.always.get(asset, ()))
        names.update(name for _, name in below)
        names.update(name for _, name in above)
        return sorted(names)


def _remove(entries: list[tuple[Decimal, str]], entry: tuple[Decimal, str]) -> None:
    index = bisect.bisect_left(entries, entry)
    assert index < len(entries) and entries[index] == entry, "a watched band is missing from its index"
    del entries[index]


class OpenDebts:
    """Who owes anything, and which takeovers are open: whom an hour's interest and a new
    rule set concern, and whom offered liquidity may serve."""

    def __init__(self) -> None:
        self.debtors: set[str] = set()
        self.open_takeovers: set[uuid.UUID] = set()

    def load(self, app: Ledger, on_account: Callable[[UnitOfWork, Account], None]) -> None:
        """From the store as it stands; `on_account` sees each account too."""
        with UnitOfWork(app) as uow:
            for name in app.account_names():
                account = uow.account(name)
                self.note_account(account)
                on_account(uow, account)
            for liquidation_id in app.liquidation_ids():
                if uow.liquidation(liquidation_id).is_taking_over:
                    self.open_takeovers.add(liquidation_id)

    def note_account(self, account: Account) -> None:
        if account.liabilities():
            self.debtors.add(account.name)
        else:
            self.debtors.discard(account.name)

    @singledispatchmethod
    def observe(self, event: Any, account: Callable[[str], Account]) -> None:
        """Notes what `event` changed; `account` finds an account as the event left it."""

    @observe.register
    def _account_changed(self, event: Account.Event, account: Callable[[str], Account]) -> None:
        self.note_account(account(event.account))

    @observe.register
    def _takeover_started(self, event: Liquidation.TakeoverStarted, _account: Callable[[str], Account]) -> None:
        self.open_takeovers.add(event.originator_id)

    @observe.register
    def _takeover_sales_ended(self, event: Liquidation.TakeoverSalesEnded, _account: Callable[[str], Account]) -> None:
        self.open_takeovers.discard(event.originator_id)


class ServiceIndex:
    """Which margin accounts hold or owe each asset, who owes anything, and which
    takeovers are open, as of the last event observed: the dispatcher's index."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        # asset -> the margin accounts holding or owing it that owe anything or are in margin call
        self.exposed_to: dict[str, set[str]] = defaultdict(set)
        self.assets_of: dict[str, set[str]] = {}
        self.open_debts = OpenDebts()

    @classmethod
    def load(cls, app: Ledger) -> ServiceIndex:
        """The index of the store as it stands now."""
        index = cls()
        index.open_debts.load(app, lambda _uow, account: index._index(account))
        return index

    @singledispatchmethod
    def observe(self, event: Any) -> None:
        self.open_debts.observe(event, self.accounts.__getitem__)

    @observe.register
    def _account_changed(self, event: Account.Event) -> None:
        account = self.accounts.get(event.account)
        if account is not None and event.originator_version <= account.version:
            return  # already in the state the index was loaded with
        self._index(event.mutate(account))
        self.open_debts.observe(event, self.accounts.__getitem__)

    def reactions(self, event: Any) -> list[Reaction]:
        """What `event` calls for, given the state the events before it left."""
        situation = Situation(
            account=self.accounts.__getitem__,
            marked_accounts=lambda mark: self.exposed_to.get(mark.asset, ()),
            debtors=self.open_debts.debtors,
            open_takeovers=self.open_debts.open_takeovers,
        )
        return reactions_to(event, situation)

    def _index(self, account: Account) -> None:
        name = account.name
        self.accounts[name] = account
        liabilities = account.liabilities()
        for asset in self.assets_of.pop(name, set()):
            self.exposed_to[asset].discard(name)
        if account.is_margin and (
            liabilities or account.status == AccountStatus.MARGIN_CALL
        ):  # a call may still recover
            assets = {asset for asset, quantity in account.balances.items() if quantity} | set(liabilities)
            self.assets_of[name] = assets
            for asset in assets:
                self.exposed_to[asset].add(name)
