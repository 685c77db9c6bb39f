"""A futures symbol and the arithmetic of one position: notional, margins, PnL, cost.

Linear (USDⓈ-M): quantity in base units, notional `|quantity| x price` in the quote asset.
Inverse (COIN-M): quantity in whole contracts of `contract_size` USD, notional
`contracts x contract_size / price` in the coin. Every figure is an exact rational
(`ledger.domain.futures.exact`); what is recorded is rounded from it to the wallet
asset's precision, half-even (domain.md, "Rounding"), and what is reported to 8 places.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from typing import Any

from ledger.domain.futures.brackets import BracketTable, bracket_table
from ledger.domain.futures.exact import Exact, exact, rounded
from ledger.domain.parameters import RiskParameters

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
    """An open position (one leg in hedge mode): quantity > 0, its side, its entry price
    (exact: an average of several prices is a rational)."""

    symbol: FuturesSymbol
    side: Side
    quantity: Decimal
    entry_price: Fraction

    def __post_init__(self) -> None:
        # A price given as a Decimal (an order price) is taken exactly.
        object.__setattr__(self, "entry_price", exact(self.entry_price))

    def notional(self, mark: Exact) -> Fraction:
        return notional(self.symbol, self.quantity, mark)

    def maintenance_margin(self, mark: Exact) -> Fraction:
        return self.symbol.brackets.maintenance_margin(self.notional(mark))

    def unrealized_pnl(self, mark: Exact) -> Fraction:
        return unrealized_pnl(self.symbol, self.side, self.quantity, self.entry_price, mark)

    def initial_margin(self, mark: Exact, leverage: int) -> Fraction:
        """An open position's IM is its notional at the mark / leverage."""
        return initial_margin(self.notional(mark), leverage)


def notional(symbol: FuturesSymbol, quantity: Decimal, price: Exact) -> Fraction:
    """USDⓈ-M `|quantity| x price` (quote asset); COIN-M `contracts x size / price` (coin)."""
    if symbol.is_inverse:
        return exact(quantity.copy_abs()) * exact(symbol.contract_size) / exact(price)
    return exact(quantity.copy_abs()) * exact(price)


def notional_after_trade(
    symbol: FuturesSymbol, held_quantity: Decimal, mark: Exact, trade_quantity: Decimal, order_price: Exact
) -> Fraction:
    """What the leverage check of a trade looks at: the held quantity at the mark plus the
    trade's quantity at the order price (in hedge mode, `held_quantity` is both legs)."""
    return notional(symbol, held_quantity, mark) + notional(symbol, trade_quantity, order_price)


def initial_margin(notional_value: Fraction, leverage: int) -> Fraction:
    """IM = notional / leverage (a trade's at the order price, a position's at the mark)."""
    return notional_value / leverage


def unrealized_pnl(symbol: FuturesSymbol, side: Side, quantity: Decimal, entry: Exact, mark: Exact) -> Fraction:
    """Linear `dir x q x (mark - entry)`; inverse `dir x q x CS x (1/entry - 1/mark)`."""
    return _pnl(symbol, side, quantity, entry, mark)


def realized_pnl(symbol: FuturesSymbol, side: Side, quantity: Decimal, entry: Exact, exit_price: Exact) -> Fraction:
    """PnL of reducing a position by `quantity` at `exit_price`; entry price unchanged:
    linear `dir x q x (exit - entry)`; inverse `dir x q x CS x (1/entry - 1/exit)`."""
    return _pnl(symbol, side, quantity, entry, exit_price)


def _pnl(symbol: FuturesSymbol, side: Side, quantity: Decimal, entry: Exact, price: Exact) -> Fraction:
    signed_quantity = side.value * exact(quantity)
    if symbol.is_inverse:
        return signed_quantity * exact(symbol.contract_size) * (1 / exact(entry) - 1 / exact(price))
    return signed_quantity * (exact(price) - exact(entry))


def entry_price_after_increase(
    symbol: FuturesSymbol, held_quantity: Decimal, entry: Exact, added_quantity: Decimal, price: Exact
) -> Fraction:
    """Linear: the quantity-weighted average; inverse: `contracts / sum(contracts / price)`
    (the harmonic mean, so that the coin value of the contracts adds up). Exact."""
    held, added = exact(held_quantity), exact(added_quantity)
    if symbol.is_inverse:
        return (held + added) / (held / exact(entry) + added / exact(price))
    return (held * exact(entry) + added * exact(price)) / (held + added)


def open_loss(symbol: FuturesSymbol, side: Side, quantity: Decimal, order_price: Exact, mark: Exact) -> Fraction:
    """What the order is worse than the mark on opening, >= 0.
    USDⓈ-M `quantity x |min(0, dir x (mark - order price))|`;
    COIN-M `contracts x size x |min(0, dir x (1/order price - 1/mark))|`."""
    if symbol.is_inverse:
        gap = 1 / exact(order_price) - 1 / exact(mark)
        return exact(quantity) * exact(symbol.contract_size) * _loss(side.value * gap)
    return exact(quantity) * _loss(side.value * (exact(mark) - exact(order_price)))


def _loss(signed_gap: Fraction) -> Fraction:
    """|min(0, gap)|."""
    return abs(min(Fraction(0), signed_gap))


@dataclass(frozen=True)
class CostToOpen:
    """What opening (or increasing) a position needs from the available balance: each
    figure recorded (its exact value rounded half-even to the wallet asset's precision),
    and the exact cost, which the available balance is compared with."""

    initial_margin: Decimal
    open_loss: Decimal
    cost: Decimal
    exact_cost: Fraction


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
    exact_cost = exact_margin + exact_loss
    return CostToOpen(
        initial_margin=rounded(exact_margin, wallet_precision),
        open_loss=rounded(exact_loss, wallet_precision),
        cost=rounded(exact_cost, wallet_precision),
        exact_cost=exact_cost,
    )


def reported(figure: Exact) -> Decimal:
    """Notional, MM, uPnL, margin balance, ratios, liquidation price, entry price as
    reports show them: half-even to 8 places."""
    return rounded(figure, REPORT_PLACES)
