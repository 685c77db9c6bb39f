"""Futures indexes for the drivers (`ledger.processes.indexes`): which wallets hold a
position in each symbol (`SymbolHolders`, kept by both drivers), so that a mark or a
funding of a symbol reaches its holders and no one else."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ledger.dispatch import singledispatchmethod
from ledger.domain.futures.account import FuturesAccount
from ledger.processes.indexes import Driver, DriverIndex, follows_accounts, kept_by
from ledger.unit_of_work import UnitOfWork

follows_accounts(FuturesAccount.Event)


def futures_accounts(accounts: Iterable[Any]) -> list[FuturesAccount]:
    """The futures wallets among every product's accounts."""
    return [account for account in accounts if isinstance(account, FuturesAccount)]


@kept_by(Driver.INLINE, Driver.SERVICE)
class SymbolHolders(DriverIndex):
    """The wallets holding a position in each symbol."""

    def __init__(self) -> None:
        self.holders: dict[str, set[str]] = defaultdict(set)
        self.symbols_of: dict[str, set[str]] = {}

    def load(self, uow: UnitOfWork, accounts: Sequence[Any]) -> None:
        for account in futures_accounts(accounts):
            self.note_account(account)

    def note_account(self, account: FuturesAccount) -> None:
        name = account.name
        for symbol in self.symbols_of.pop(name, set()):
            self.holders[symbol].discard(name)
        symbols = account.symbols_held()
        if symbols:
            self.symbols_of[name] = symbols
            for symbol in symbols:
                self.holders[symbol].add(name)

    def of(self, symbol: str) -> list[str]:
        return sorted(self.holders.get(symbol, ()))

    def every_holder(self) -> list[str]:
        return sorted(self.symbols_of)

    def figures(self) -> dict[str, int]:
        return {"futures_wallets_with_positions": len(self.symbols_of)}

    snapshot_version = 1

    def snapshot(self) -> dict[str, Any]:
        """Each wallet's symbols; `holders` follows from them."""
        return {"symbols_of": {name: sorted(symbols) for name, symbols in self.symbols_of.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        for name, symbols in state["symbols_of"].items():
            self.symbols_of[str(name)] = {str(symbol) for symbol in symbols}
            for symbol in symbols:
                self.holders[str(symbol)].add(str(name))

    def contents(self) -> Any:
        return {symbol: names for symbol, names in self.holders.items() if names}, self.symbols_of

    @singledispatchmethod
    def observe(self, event: Any, account: Callable[[str], Any]) -> None:
        """Only futures wallets' events change it."""

    @observe.register
    def _wallet_changed(self, event: FuturesAccount.Event, account: Callable[[str], Any]) -> None:
        self.note_account(account(event.account))
