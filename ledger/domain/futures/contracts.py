"""A futures symbol and the arithmetic of one position: notional, margins, PnL, cost.

Linear (USDⓈ-M): quantity in base units, notional `|quantity| x price` in the quote asset.
Inverse (COIN-M): quantity in whole contracts of `contract_size` USD, notional
`contracts x contract_size / price` in the coin. Everything here is exact (products
exact, quotients at 60 digits); the recorded figures are rounded by the `recorded_*`
functions, to the wallet asset's precision, half-even (domain.md, "Rounding").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from ledger.domain.futures.brackets import BracketTable, bracket_table
from ledger.domain.futures.exact import exact_difference, exact_sum
from ledger.domain.money import ZERO, exact_product, exact_quotient, round_half_even
from ledger.domain.parameters import RiskParameters

ONE = Decimal(1)
REPORT_PLACES = 8  # notional, MM, uPnL, margin balance, ratios, liquidation price


class ContractKind(Enum):
    LINEAR = "linear"  # USDⓈ-M
    INVERSE = "inverse"  # COIN-M


class Side(Enum):
    """A position's side; its value is the direction of the PnL formulas (dir)."""

    LONG = 1
    SHORT = -1

    @property
    def direction(self) -> Decimal:
        return Decimal(self.value)


@dataclass(frozen=True)
class FuturesSymbol:
    name: str
    kind: ContractKind
    contract_size: Decimal  # USD per contract (inverse); 1 and unused for a linear symbol
    brackets: BracketTable
    clearance_fee_rate: Decimal

    @property
    def is_inverse(self) -> bool:
        return self.kind is ContractKind.INVERSE


def futures_symbol(name: str, spec: Mapping[str, Any]) -> FuturesSymbol:
    """A symbol from its entry in the parameter set (`symbols.NAME`)."""
    return FuturesSymbol(
        name=name,
        kind=ContractKind(spec["type"]),
        contract_size=Decimal(spec.get("contract_size", "1")),
        brackets=bracket_table(spec["brackets"]),
        clearance_fee_rate=Decimal(spec.get("clearance_fee", "0")),
    )


def symbol_of(parameters: RiskParameters, name: str) -> FuturesSymbol:
    """The symbol as this parameter version declares it, built once per version."""
    return parameters.derived(("futures symbol", name), lambda: futures_symbol(name, parameters.symbol_spec(name)))


@dataclass(frozen=True)
class FuturesPosition:
    """An open position (one leg in hedge mode): quantity > 0, its side, its entry price."""

    symbol: FuturesSymbol
    side: Side
    quantity: Decimal
    entry_price: Decimal

    def notional(self, mark: Decimal) -> Decimal:
        return notional(self.symbol, self.quantity, mark)

    def maintenance_margin(self, mark: Decimal) -> Decimal:
        return self.symbol.brackets.maintenance_margin(self.notional(mark))

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return unrealized_pnl(self.symbol, self.side, self.quantity, self.entry_price, mark)

    def initial_margin(self, mark: Decimal, leverage: int) -> Decimal:
        """An open position's IM is its notional at the mark / leverage."""
        return initial_margin(self.notional(mark), leverage)


def notional(symbol: FuturesSymbol, quantity: Decimal, price: Decimal) -> Decimal:
    """USDⓈ-M `|quantity| x price` (quote asset); COIN-M `contracts x size / price` (coin)."""
    if symbol.is_inverse:
        return exact_quotient(exact_product(quantity.copy_abs(), symbol.contract_size), price)
    return exact_product(quantity.copy_abs(), price)


def notional_after_trade(
    symbol: FuturesSymbol, held_quantity: Decimal, mark: Decimal, trade_quantity: Decimal, order_price: Decimal
) -> Decimal:
    """What the leverage check of a trade looks at: the held quantity at the mark plus the
    trade's quantity at the order price (in hedge mode, `held_quantity` is both legs)."""
    return exact_sum(notional(symbol, held_quantity, mark), notional(symbol, trade_quantity, order_price))


def initial_margin(notional_value: Decimal, leverage: int) -> Decimal:
    """IM = notional / leverage (a trade's at the order price, a position's at the mark)."""
    return exact_quotient(notional_value, Decimal(leverage))


def unrealized_pnl(symbol: FuturesSymbol, side: Side, quantity: Decimal, entry: Decimal, mark: Decimal) -> Decimal:
    """Linear `dir x q x (mark - entry)`; inverse `dir x q x CS x (1/entry - 1/mark)`."""
    return _pnl(symbol, side, quantity, entry, mark)


def realized_pnl(symbol: FuturesSymbol, side: Side, quantity: Decimal, entry: Decimal, exit_price: Decimal) -> Decimal:
    """PnL of reducing a position by `quantity` at `exit_price`; entry price unchanged:
    linear `dir x q x (exit - entry)`; inverse `dir x q x CS x (1/entry - 1/exit)`."""
    return _pnl(symbol, side, quantity, entry, exit_price)


def _pnl(symbol: FuturesSymbol, side: Side, quantity: Decimal, entry: Decimal, price: Decimal) -> Decimal:
    if symbol.is_inverse:
        per_contract_inverse = exact_difference(exact_quotient(ONE, entry), exact_quotient(ONE, price))
        return exact_product(side.direction, quantity, symbol.contract_size, per_contract_inverse)
    return exact_product(side.direction, quantity, exact_difference(price, entry))


def entry_price_after_increase(
    symbol: FuturesSymbol, held_quantity: Decimal, entry: Decimal, added_quantity: Decimal, price: Decimal
) -> Decimal:
    """Linear: the quantity-weighted average; inverse: `contracts / sum(contracts / price)`
    (the harmonic mean, so that the coin value of the contracts adds up). Kept exact."""
    total = exact_sum(held_quantity, added_quantity)
    if symbol.is_inverse:
        coin_per_size = exact_sum(exact_quotient(held_quantity, entry), exact_quotient(added_quantity, price))
        return exact_quotient(total, coin_per_size)
    return exact_quotient(exact_sum(exact_product(held_quantity, entry), exact_product(added_quantity, price)), total)


def open_loss(symbol: FuturesSymbol, side: Side, quantity: Decimal, order_price: Decimal, mark: Decimal) -> Decimal:
    """What the order is worse than the mark on opening, >= 0.
    USDⓈ-M `quantity x |min(0, dir x (mark - order price))|`;
    COIN-M `contracts x size x |min(0, dir x (1/order price - 1/mark))|`."""
    if symbol.is_inverse:
        gap = exact_difference(exact_quotient(ONE, order_price), exact_quotient(ONE, mark))
        return exact_product(quantity, symbol.contract_size, _loss(exact_product(side.direction, gap)))
    return exact_product(quantity, _loss(exact_product(side.direction, exact_difference(mark, order_price))))


def _loss(signed_gap: Decimal) -> Decimal:
    """|min(0, gap)|, without rounding."""
    return min(ZERO, signed_gap).copy_abs()


@dataclass(frozen=True)
class CostToOpen:
    """What opening (or increasing) a position needs from the available balance, recorded
    (each figure its exact value rounded half-even to the wallet asset's precision)."""

    initial_margin: Decimal
    open_loss: Decimal
    cost: Decimal


def cost_to_open(
    symbol: FuturesSymbol,
    side: Side,
    quantity: Decimal,
    order_price: Decimal,
    mark: Decimal,
    leverage: int,
    wallet_precision: int,
) -> CostToOpen:
    """IM at the order price + open loss against the mark. The cost is the exact sum
    rounded once (not the sum of the rounded parts)."""
    exact_margin = initial_margin(notional(symbol, quantity, order_price), leverage)
    exact_loss = open_loss(symbol, side, quantity, order_price, mark)
    return CostToOpen(
        initial_margin=round_half_even(exact_margin, wallet_precision),
        open_loss=round_half_even(exact_loss, wallet_precision),
        cost=round_half_even(exact_sum(exact_margin, exact_loss), wallet_precision),
    )


def reported(figure: Decimal) -> Decimal:
    """Notional, MM, uPnL, margin balance, ratios, liquidation price as reports show them."""
    return round_half_even(figure, REPORT_PLACES)
