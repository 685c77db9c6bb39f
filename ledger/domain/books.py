"""Books of amounts per asset, and the debt book.

A balance book is what a holder holds per asset; the debt book is what it owes the
lending pool per asset (principal and accrued interest) and the last hour each debt
accrued interest. A margin account and the takeover desk (for one liquidation) both
keep them, and follow the same rules: those rules live here, once.

Aggregates keep their books as plain dicts, because a snapshot stores an aggregate's
attributes as they are; `DebtBook` is a view over the owner's three dicts. Its
changing methods are called only from the owner's event mutators, so that replaying
the events rebuilds the same books.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ledger.domain.money import ZERO, exact_product, round_half_even

# --- balance books ----------------------------------------------------------------------


def add_to_book(book: dict[str, Decimal], asset: str, amount: Decimal) -> None:
    """Adds `amount` of `asset` to a book of amounts; an entry that reaches zero goes."""
    total = book.get(asset, ZERO) + amount
    if total == 0:
        book.pop(asset, None)
    else:
        book[asset] = total


def add_all(book: dict[str, Decimal], amounts: Mapping[str, Decimal]) -> None:
    """Adds every amount of `amounts` (asset -> amount) to the book."""
    for asset, amount in amounts.items():
        add_to_book(book, asset, amount)


def take_all(book: dict[str, Decimal], amounts: Mapping[str, Decimal]) -> None:
    """Takes every amount of `amounts` out of the book, never more than it holds."""
    for asset, amount in amounts.items():
        assert amount <= book.get(asset, ZERO), "taking more than the book holds"
        add_to_book(book, asset, -amount)


def exchange_in(book: dict[str, Decimal], sold: str, quantity: Decimal, bought: str, proceeds: Decimal) -> None:
    """A sale: `quantity` of `sold` leaves the book and `proceeds` of `bought` enter it."""
    assert ZERO < quantity <= book.get(sold, ZERO), "sale beyond the holding"
    add_to_book(book, sold, -quantity)
    add_to_book(book, bought, proceeds)


def direct_repayments(holdings: Mapping[str, Decimal], liabilities: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """What can be repaid without a sale: of each asset owed, as much as is held of it."""
    repayable = {asset: min(holdings.get(asset, ZERO), owed) for asset, owed in sorted(liabilities.items())}
    return {asset: amount for asset, amount in repayable.items() if amount > 0}


# --- interest ---------------------------------------------------------------------------


def hourly_interest(principal: Decimal, hourly_rate: Decimal, precision: int) -> Decimal:
    """One hour of simple interest on principal, rounded half-even to the asset's precision."""
    return round_half_even(exact_product(principal, hourly_rate), precision)


@dataclass(frozen=True)
class HourlyInterest:
    """One hour of interest on one debt: what an interest event records."""

    asset: str
    principal: Decimal
    hourly_rate: Decimal
    amount: Decimal

    @classmethod
    def on(cls, asset: str, principal: Decimal, hourly_rate: Decimal, precision: int) -> HourlyInterest:
        return cls(asset, principal, hourly_rate, hourly_interest(principal, hourly_rate, precision))


# --- the debt book ----------------------------------------------------------------------


@dataclass(frozen=True)
class DebtBook:
    """What one holder owes, per asset: a view over the owner's dicts (see the module)."""

    principal: dict[str, Decimal]
    interest: dict[str, Decimal]
    last_interest_hour: dict[str, datetime]

    # --- what it owes ---

    def liabilities(self) -> dict[str, Decimal]:
        """Principal plus accrued interest, per asset."""
        owed = dict(self.principal)
        add_all(owed, self.interest)
        return owed

    def owed(self, asset: str) -> Decimal:
        return self.principal.get(asset, ZERO) + self.interest.get(asset, ZERO)

    def split_repayment(self, asset: str, amount: Decimal, held: Decimal) -> tuple[Decimal, Decimal]:
        """(interest paid, principal paid) of a repayment of `amount` from a holding of
        `held`: interest first, never beyond the debt or the holding."""
        assert ZERO < amount <= min(self.owed(asset), held), "repayment beyond the debt or the holding"
        interest_paid = min(amount, self.interest.get(asset, ZERO))
        return interest_paid, amount - interest_paid

    def interest_due(
        self, hour: datetime, hourly_rate: Callable[[str], Decimal], precision: Callable[[str], int]
    ) -> list[HourlyInterest]:
        """The interest of the hour starting at `hour` on each debt that has not accrued it
        yet, in asset order: once per asset and hour."""
        return [
            HourlyInterest.on(asset, principal, hourly_rate(asset), precision(asset))
            for asset, principal in sorted(self.principal.items())
            if principal > 0 and (asset not in self.last_interest_hour or self.last_interest_hour[asset] < hour)
        ]

    # --- changes, from the owner's event mutators only ---

    def borrow(self, asset: str, amount: Decimal) -> None:
        add_to_book(self.principal, asset, amount)

    def accrue(self, asset: str, amount: Decimal, hour: datetime) -> None:
        add_to_book(self.interest, asset, amount)
        self.last_interest_hour[asset] = hour

    def settle(self, asset: str, *, interest: Decimal, principal: Decimal) -> None:
        """A debt paid, from the holder's balance (a repayment) or by the insurance fund
        (a shortfall); a debt paid in full stops accruing."""
        add_to_book(self.interest, asset, -interest)
        add_to_book(self.principal, asset, -principal)
        if asset not in self.principal and asset not in self.interest:
            self.last_interest_hour.pop(asset, None)

    def take_over(self, principal: Mapping[str, Decimal], interest: Mapping[str, Decimal], hour: datetime) -> None:
        """An empty book receives another's debts, which accrue again from `hour` on."""
        assert not self.principal and not self.interest, "a book takes over debts only when empty"
        self.principal.update(principal)
        self.interest.update(interest)
        self.last_interest_hour.clear()
        self.last_interest_hour.update({asset: hour for asset in principal})

    def clear(self) -> None:
        """Every debt handed over to another book. The event that hands them over must
        carry copies: the dicts are emptied in place."""
        self.principal.clear()
        self.interest.clear()
        self.last_interest_hour.clear()
