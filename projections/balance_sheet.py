"""The balance sheet: every entry of every event, summed per account, asset and book.

This is how system accounts' balances exist at all (they are not aggregates),
and how conservation is checked over a whole store: per asset and book,
everything nets to zero (`ledger.domain.entries.imbalances`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ledger.domain.entries import BALANCE, Entry, Imbalance, imbalances
from ledger.domain.money import ZERO


class BalanceSheet:
    def __init__(self) -> None:
        self.amounts: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)

    def apply(self, event: Any) -> None:
        entries = getattr(event, "entries", None)
        if entries is None:
            return
        for entry in entries():
            self.post(entry)

    def post(self, entry: Entry) -> None:
        self.amounts[(entry.account, entry.asset, entry.book)] += entry.amount

    def apply_all(self, events: Iterable[Any]) -> BalanceSheet:
        for event in events:
            self.apply(event)
        return self

    def holdings(self, account: str, book: str = BALANCE) -> dict[str, Decimal]:
        return {
            asset: amount
            for (holder, asset, kind), amount in sorted(self.amounts.items())
            if holder == account and kind == book and amount != 0
        }

    def assets(self) -> set[str]:
        return {asset for (_, asset, _) in self.amounts}

    def imbalances(self) -> list[Imbalance]:
        """Conservation: per asset, all balances net to zero, and all debts equal the
        lending pool's claims (the debt book nets to zero)."""
        return imbalances((asset, book, amount) for (_, asset, book), amount in self.amounts.items())
