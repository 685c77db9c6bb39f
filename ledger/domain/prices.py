"""Prices: the latest mark of each asset, and values in the valuation asset
through them (directly, or through one quote asset's own mark); and the latest mark
of each futures symbol, which values nothing but its own positions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ledger.domain.money import (
    ZERO,
    exact_product,
    exact_quotient,
)
from ledger.domain.parameters import RiskParameters


class MissingPrice(Exception):
    """An asset has no mark in the valuation asset, so a level cannot be computed."""

    def __init__(self, asset: str):
        super().__init__(f"no mark price for {asset}")
        self.asset = asset


@dataclass(frozen=True)
class Mark:
    price: Decimal
    quote: str
    at: datetime | None = None  # when it was recorded, where known


MAX_QUOTE_HOPS = 1


class PriceBook:
    """The latest marks, valued in the valuation asset (stablecoins 1 unless marked)."""

    def __init__(
        self, marks: Mapping[str, Mark], parameters: RiskParameters, symbol_marks: Mapping[str, Mark] | None = None
    ):
        self.marks = marks
        self.parameters = parameters
        self.symbol_marks: Mapping[str, Mark] = {} if symbol_marks is None else symbol_marks

    def symbol_mark(self, symbol: str) -> Decimal | None:
        """The latest mark of a futures symbol; None before its first."""
        mark = self.symbol_marks.get(symbol)
        return None if mark is None else mark.price

    def value_of_one(self, asset: str) -> Decimal:
        return self._value_of_one(asset, depth=0)

    def _value_of_one(self, asset: str, depth: int) -> Decimal:
        if asset == self.parameters.valuation_asset:
            return Decimal(1)
        mark = self.marks.get(asset)
        if mark is None:
            if self.parameters.knows_asset(asset) and self.parameters.asset(asset).stable:
                return Decimal(1)
            raise MissingPrice(asset)
        if mark.quote == self.parameters.valuation_asset:
            return mark.price
        # One asset between a mark and the valuation asset at most: a value of one is then a
        # product of two bounded prices, exact and within the ledger's bounds (limits.py);
        # a longer chain of quotes gives no price.
        if depth >= MAX_QUOTE_HOPS or mark.quote == asset:
            raise MissingPrice(asset)
        return exact_product(mark.price, self._value_of_one(mark.quote, depth + 1))

    def value(self, asset: str, quantity: Decimal) -> Decimal:
        if quantity == 0:
            return ZERO
        return exact_product(quantity, self.value_of_one(asset))

    def total_value(self, amounts: Mapping[str, Decimal]) -> Decimal:
        return sum((self.value(asset, quantity) for asset, quantity in amounts.items()), ZERO)

    def exchange_rate(self, sold: str, bought: str) -> Decimal:
        """How many units of `bought` one unit of `sold` is worth at the marks."""
        return exact_quotient(self.value_of_one(sold), self.value_of_one(bought))

    def latest_mark_time(self, assets: set[str]) -> datetime | None:
        """When the newest mark among `assets` was recorded (None: none is marked)."""
        times = [mark.at for mark in (self.marks.get(asset) for asset in assets) if mark is not None and mark.at]
        return max(times, default=None)

    def prices_used(self, assets: set[str]) -> dict[str, Decimal]:
        """The valuation price of each asset, as a liquidation records them."""
        return {asset: self.value_of_one(asset) for asset in sorted(assets)}
