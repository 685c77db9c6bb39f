"""The balance sheet: every entry of every event, summed per account, asset and book.

This is how system accounts' balances exist at all (they are not aggregates),
and how conservation is checked: per asset and book, everything nets to zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger.domain.entries import BALANCE, DEBT, Entry
from ledger.domain.money import ZERO


@dataclass(frozen=True)
class Imbalance:
    asset: str
    book: str
    total: Decimal

    def __str__(self) -> str:
        return f"{self.book} of {self.asset} nets to {self.total}, not 0"


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
        totals: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        for (_, asset, book), amount in self.amounts.items():
            totals[(asset, book)] += amount
        return [Imbalance(asset, book, total) for (asset, book), total in sorted(totals.items()) if total != 0]


def entries_net_to_zero(entries: list[Entry]) -> bool:
    totals: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for entry in entries:
        totals[(entry.asset, entry.book)] += entry.amount
    return all(total == 0 for total in totals.values())


__all__ = ["BALANCE", "DEBT", "BalanceSheet", "Imbalance", "entries_net_to_zero"]
