"""What each recorded event calls for in service mode, and the index that says so.

The dispatcher (`workers/dispatcher.py`) follows the notification log and asks
`ServiceIndex.reactions` what to start for each event. The index is kept in
memory from the events themselves (accounts are followed with their own
aggregates' mutators, so no rule is written twice) and rebuilt from the store
when the dispatcher starts. A price mark fans out to the margin accounts that
hold or owe the asset and owe anything at all, or are still in margin call: no
other account's margin state can change with it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ledger.application import Ledger
from ledger.domain.margin.account import MARGIN_CALL, Account
from ledger.domain.margin.liquidation import Liquidation
from ledger.processes.steps import OpenDebts, Reaction, reactions_to


class ServiceIndex:
    """Which margin accounts hold or owe each asset, who owes anything, and which
    takeovers are open, as of the last event observed."""

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

    def observe(self, event: Any) -> None:
        if isinstance(event, Account.Event):
            account = self.accounts.get(event.account)
            if account is not None and event.originator_version <= account.version:
                return  # already in the state the index was loaded with
            account = event.mutate(account)
            self.open_debts.note_account(account)
            self._index(account)
        elif isinstance(event, Liquidation.Event):
            self.open_debts.note_liquidation(event)

    def reactions(self, event: Any) -> list[Reaction]:
        """What `event` calls for, given the state the events before it left."""
        return reactions_to(
            event, self.accounts.__getitem__, lambda mark: self.exposed_to.get(mark.asset, ()), self.open_debts
        )

    def _index(self, account: Account) -> None:
        name = account.name
        self.accounts[name] = account
        liabilities = account.liabilities()
        for asset in self.assets_of.pop(name, set()):
            self.exposed_to[asset].discard(name)
        if account.is_margin and (liabilities or account.status == MARGIN_CALL):  # a call may still recover
            assets = {asset for asset, quantity in account.balances.items() if quantity} | set(liabilities)
            self.assets_of[name] = assets
            for asset in assets:
                self.exposed_to[asset].add(name)
