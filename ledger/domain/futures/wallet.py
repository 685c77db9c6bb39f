"""A futures wallet's figures at given marks: every position's notional, margins, uPnL
and liquidation price, and the wallet's balances and ratio (domain.md, "Balances and
ratios"). One computation, used by the account's rules (available balance, the
liquidation trigger) and by the read side (the report, history, postmortem), from the
aggregate or from view rows alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from functools import cached_property
from typing import Any

from ledger.domain.futures.balances import (
    available_balance,
    liquidatable_at_marks,
    margin_balance,
    margin_ratio,
    withdrawable_balance,
)
from ledger.domain.futures.contracts import FuturesPosition, FuturesSymbol, Side
from ledger.domain.futures.exact import decimal_sum, exact_sum
from ledger.domain.futures.liquidation_price import liquidation_price, other_cross_positions_terms
from ledger.domain.money import ZERO


class MarginType(StrEnum):
    CROSS = "cross"
    ISOLATED = "isolated"


class PositionMode(StrEnum):
    ONE_WAY = "one_way"
    HEDGE = "hedge"


class Slot(StrEnum):
    """Where a position sits in the wallet: the one position of a symbol in one-way mode,
    or one of its two legs in hedge mode."""

    BOTH = "both"
    LONG = "long"
    SHORT = "short"


@dataclass(frozen=True)
class HeldPosition:
    """An open position as the wallet holds it: the contract arithmetic (`position`), its
    slot, the leverage and margin type of its symbol, and its isolated margin (0: cross)."""

    position: FuturesPosition
    slot: Slot
    leverage: int
    margin_type: MarginType
    isolated_margin: Decimal = ZERO

    @property
    def symbol(self) -> str:
        return self.position.symbol.name

    @property
    def is_isolated(self) -> bool:
        return self.margin_type is MarginType.ISOLATED


def held_position(
    symbol: FuturesSymbol, slot: str, leverage: int, margin_type: MarginType, stored: Mapping[str, Any]
) -> HeldPosition:
    """A position as the wallet stores it (`{side, quantity, entry_price, isolated_margin}`),
    with its symbol's contract terms and its leverage and margin type."""
    return HeldPosition(
        position=FuturesPosition(symbol, Side[stored["side"].upper()], stored["quantity"], stored["entry_price"]),
        slot=Slot(slot),
        leverage=leverage,
        margin_type=margin_type,
        isolated_margin=stored["isolated_margin"],
    )


@dataclass(frozen=True)
class PositionFigures:
    """One position at its mark, exact (the report rounds them)."""

    held: HeldPosition
    mark: Decimal
    notional: Fraction
    initial_margin: Fraction
    maintenance_margin: Fraction
    unrealized_pnl: Fraction
    wallet: WalletFigures = field(compare=False, repr=False)

    @cached_property
    def liquidation_price(self) -> Fraction | None:
        """Solved when asked for (a solve per bracket): the rules never need it, reports do."""
        return self.wallet.liquidation_price_of(self.held)

    @property
    def isolated_margin_balance(self) -> Fraction:
        """Isolated: its margin + its uPnL, against its own MM."""
        return exact_sum(self.held.isolated_margin, self.unrealized_pnl)

    @property
    def margin_ratio(self) -> Fraction | None:
        """Isolated: MM / (isolated margin + uPnL); None while that is not above zero."""
        return margin_ratio(self.maintenance_margin, self.isolated_margin_balance)


class WalletFigures:
    """A wallet's positions at the marks, and its balances: `cross_wallet_balance` is the
    cross wallet alone; the wallet balance adds the isolated margins."""

    def __init__(self, cross_wallet_balance: Decimal, held: Sequence[HeldPosition], marks: Mapping[str, Decimal]):
        self.cross_wallet_balance = cross_wallet_balance
        self.held = list(held)
        self.marks = marks
        self.positions = [self._figures(position) for position in self.held]

    def _figures(self, held: HeldPosition) -> PositionFigures:
        mark = self.marks[held.symbol]
        position = held.position
        return PositionFigures(
            held=held,
            mark=mark,
            notional=position.notional(mark),
            initial_margin=position.initial_margin(mark, held.leverage),
            maintenance_margin=position.maintenance_margin(mark),
            unrealized_pnl=position.unrealized_pnl(mark),
            wallet=self,
        )

    # --- the cross positions ---

    @property
    def cross(self) -> list[PositionFigures]:
        return [figures for figures in self.positions if not figures.held.is_isolated]

    @property
    def isolated(self) -> list[PositionFigures]:
        return [figures for figures in self.positions if figures.held.is_isolated]

    @property
    def cross_unrealized_pnl(self) -> Fraction:
        return exact_sum(*(figures.unrealized_pnl for figures in self.cross))

    @property
    def cross_maintenance_margin(self) -> Fraction:
        return exact_sum(*(figures.maintenance_margin for figures in self.cross))

    @property
    def cross_initial_margin(self) -> Fraction:
        return exact_sum(*(figures.initial_margin for figures in self.cross))

    @property
    def cross_margin_balance(self) -> Fraction:
        return margin_balance(self.cross_wallet_balance, [self.cross_unrealized_pnl])

    @property
    def margin_ratio(self) -> Fraction | None:
        """Of the cross positions: cross MM / (cross wallet + cross uPnL)."""
        return margin_ratio(self.cross_maintenance_margin, self.cross_margin_balance)

    # --- the wallet ---

    @property
    def isolated_margins(self) -> Decimal:
        return decimal_sum(*(figures.held.isolated_margin for figures in self.isolated))

    @property
    def wallet_balance(self) -> Decimal:
        """The exchange's wallet balance: the cross wallet plus the isolated margins."""
        return decimal_sum(self.cross_wallet_balance, self.isolated_margins)

    @property
    def margin_balance(self) -> Fraction:
        """Wallet balance + the uPnL of every position."""
        return margin_balance(self.wallet_balance, (figures.unrealized_pnl for figures in self.positions))

    @property
    def available_balance(self) -> Fraction:
        return available_balance(self.cross_wallet_balance, self.cross_unrealized_pnl, self.cross_initial_margin)

    @property
    def withdrawable_balance(self) -> Fraction:
        return withdrawable_balance(self.cross_wallet_balance, self.cross_unrealized_pnl, self.cross_initial_margin)

    # --- the liquidation thresholds, decided exactly ---

    def cross_liquidatable(self) -> bool:
        return liquidatable_at_marks(
            self.cross_wallet_balance, ((figures.held.position, figures.mark) for figures in self.cross)
        )

    def isolated_liquidatable(self, figures: PositionFigures) -> bool:
        return liquidatable_at_marks(figures.held.isolated_margin, [(figures.held.position, figures.mark)])

    # --- liquidation prices ---

    def liquidation_price_of(self, held: HeldPosition) -> Fraction | None:
        mark = self.marks[held.symbol]
        if held.is_isolated:
            return liquidation_price([held.position], held.isolated_margin, mark)
        same_symbol = [other.position for other in self._cross_held() if other.symbol == held.symbol]
        others = (
            (other.position, self.marks[other.symbol]) for other in self._cross_held() if other.symbol != held.symbol
        )
        other_maintenance, other_pnl = other_cross_positions_terms(others)
        return liquidation_price(same_symbol, self.cross_wallet_balance, mark, other_maintenance, other_pnl)

    def _cross_held(self) -> Iterable[HeldPosition]:
        return (held for held in self.held if not held.is_isolated)
