"""One implementation per product for each concern of the read side that depends on
the account's shape (its report section, its state in `history`, its postmortem,
its rows against the books, and how each is printed).

Shared code never asks which product it holds: it asks a `ByProduct` table for the
implementation of the account's product, `AccountMode(mode).product`. Each product
registers its own from its own modules (`projections/margin/`,
`projections/presentation/margin/`), which the packages' `__init__.py` import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from ledger.domain.product import AccountMode, Product

Implementation = TypeVar("Implementation", bound=Callable[..., object])


class ByProduct(Generic[Implementation]):
    """A concern's implementations, one per product, in the order they were registered."""

    def __init__(self, concern: str) -> None:
        self.concern = concern
        self.implementations: dict[Product, Implementation] = {}

    def register(self, product: Product) -> Callable[[Implementation], Implementation]:
        def registered(implementation: Implementation) -> Implementation:
            assert product not in self.implementations, f"{product} registers its {self.concern} twice"
            self.implementations[product] = implementation
            return implementation

        return registered

    def for_mode(self, mode: str) -> Implementation:
        """The implementation for an account of this mode (as a view row or a report states it)."""
        product = AccountMode(mode).product
        try:
            return self.implementations[product]
        except KeyError:
            raise LookupError(f"no {self.concern} is registered for {product} accounts") from None

    def items(self) -> Iterator[tuple[Product, Implementation]]:
        return iter(self.implementations.items())
