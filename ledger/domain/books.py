"""Debt books: principal and accrued interest per asset, as an account or the
takeover desk owes them. Aggregates keep them as plain dicts (snapshots store
plain data); the rules on them live here, once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from ledger.domain.money import ZERO


def add_to_book(book: dict[str, Decimal], asset: str, amount: Decimal) -> None:
    """Adds `amount` of `asset` to a book of amounts; an entry that reaches zero goes."""
    total = book.get(asset, ZERO) + amount
    if total == 0:
        book.pop(asset, None)
    else:
        book[asset] = total


def total_owed(principal: Mapping[str, Decimal], interest: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Principal plus accrued interest, per asset."""
    owed = dict(principal)
    for asset, amount in interest.items():
        add_to_book(owed, asset, amount)
    return owed


def interest_first(amount: Decimal, interest_owed: Decimal) -> tuple[Decimal, Decimal]:
    """(interest paid, principal paid) of a repayment: interest first."""
    interest_paid = min(amount, interest_owed)
    return interest_paid, amount - interest_paid


def principal_due_interest(
    principal: Mapping[str, Decimal], last_interest_hour: Mapping[str, datetime], hour: datetime
) -> list[tuple[str, Decimal]]:
    """(asset, principal) of each debt that has not yet accrued the hour starting at `hour`."""
    return [
        (asset, amount)
        for asset, amount in sorted(principal.items())
        if amount > 0 and (asset not in last_interest_hour or last_interest_hour[asset] < hour)
    ]
