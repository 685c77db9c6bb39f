"""Double entry: every movement names both accounts.

Each event that moves value lists its entries; the entries of one event net to
zero per asset and per book. The `balance` book holds what accounts own; the
`debt` book holds what they owe (principal and interest), with `lending-pool`
holding the matching claims as negative amounts. System accounts are not
aggregates: their balances are the sum of the entries that name them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Aggregate

from ledger.domain.money import ZERO
from ledger.domain.timestamps import OrderedTimestamps

WORLD = "world"
LENDING_POOL = "lending-pool"
MARKET = "market"
TAKEOVER_DESK = "takeover-desk"
INSURANCE_FUND = "insurance-fund"
SYSTEM_ACCOUNTS = (WORLD, LENDING_POOL, MARKET, TAKEOVER_DESK, INSURANCE_FUND)

BALANCE = "balance"
DEBT = "debt"


@dataclass(frozen=True)
class Entry:
    account: str
    asset: str
    amount: Decimal  # > 0: the account's holding (or debt) grows
    book: str = BALANCE


@dataclass(frozen=True)
class Imbalance:
    """What one asset's book nets to, when it is not zero."""

    asset: str
    book: str
    total: Decimal

    def __str__(self) -> str:
        return f"{self.book} of {self.asset} nets to {self.total}, not 0"


class EntriesDoNotBalance(AssertionError):
    """An event whose entries do not net to zero: money created or destroyed. Raised, not
    asserted, so that it holds under `python -O` too."""


def imbalances(postings: Iterable[tuple[str, str, Decimal]]) -> list[Imbalance]:
    """Conservation, the one check of it: (asset, book, amount) postings, summed per asset
    and book, net to zero. Whatever nets to something else is returned, in asset order."""
    totals: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for asset, book, amount in postings:
        totals[(asset, book)] += amount
    return [Imbalance(asset, book, total) for (asset, book), total in sorted(totals.items()) if total != 0]


def assert_balanced(event: Any) -> None:
    """Raises EntriesDoNotBalance unless the event's entries net to zero per asset and book."""
    entries = getattr(event, "entries", None)
    if entries is None:
        return
    found = imbalances((entry.asset, entry.book, entry.amount) for entry in entries())
    if found:
        raise EntriesDoNotBalance(
            f"{type(event).__qualname__} of {event.originator_id} v{event.originator_version}: "
            + "; ".join(map(str, found))
        )


def move(source: str, destination: str, asset: str, amount: Decimal, book: str = BALANCE) -> list[Entry]:
    """`amount` of `asset` leaves `source` and reaches `destination`."""
    return [Entry(source, asset, -amount, book), Entry(destination, asset, amount, book)]


def move_all(source: str, destination: str, amounts: dict[str, Decimal], book: str = BALANCE) -> list[Entry]:
    """Every amount of `amounts` (asset -> amount) leaves `source` and reaches `destination`."""
    entries: list[Entry] = []
    for asset, amount in sorted(amounts.items()):
        entries += move(source, destination, asset, amount, book)
    return entries


def lend(debtor: str, asset: str, amount: Decimal) -> list[Entry]:
    """A debt of `amount` that `debtor` owes to the lending pool (principal or interest)."""
    return move(LENDING_POOL, debtor, asset, amount, book=DEBT)


def settle_debt(debtor: str, asset: str, amount: Decimal) -> list[Entry]:
    """`amount` of `debtor`'s debt is extinguished, and the pool's claim with it."""
    return move(debtor, LENDING_POOL, asset, amount, book=DEBT)


def repayment(debtor: str, asset: str, amount: Decimal) -> list[Entry]:
    """`debtor` pays `amount` of its debt to the lending pool from what it holds."""
    return move(debtor, LENDING_POOL, asset, amount) + settle_debt(debtor, asset, amount)


def shortfall_cover(debtor: str, asset: str, amount: Decimal) -> list[Entry]:
    """The insurance fund pays `amount` of `debtor`'s debt, which nothing it holds can pay."""
    return move(INSURANCE_FUND, LENDING_POOL, asset, amount) + settle_debt(debtor, asset, amount)


def exchange(account: str, sold: str, quantity: Decimal, bought: str, proceeds: Decimal) -> list[Entry]:
    """`account` gives `quantity` of `sold` to the market and receives `proceeds` of `bought`."""
    return move(account, MARKET, sold, quantity) + move(MARKET, account, bought, proceeds)


class AccountingEvent(OrderedTimestamps, Aggregate.Event):
    """An event of a user account or of its liquidation: whose, when in ledger time,
    why (the input line or the process step), and the entries it moves."""

    account: str
    at: datetime
    cause: dict[str, Any]

    def entries(self) -> list[Entry]:
        return []
