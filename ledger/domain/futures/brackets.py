"""Maintenance-margin brackets of a futures symbol.

A bracket covers the notionals `floor < notional <= cap`; its floor is the previous
bracket's cap (0 for the first). `MM = notional x MMR - cum`, where cum is DERIVED so
that MM is continuous across a boundary:
`cum_n = floor_n x (MMR_n - MMR_(n-1)) + cum_(n-1)`, `cum_0 = 0`. A cum is never read.

The rows come from the parameter set as it is stored (decimals as strings), already
validated there (caps increasing, rates not falling, below 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ledger.domain.futures.exact import Exact, decimal_difference, decimal_sum, exact
from ledger.domain.money import ZERO, exact_product


@dataclass(frozen=True)
class Bracket:
    """One row of a bracket table: `floor < notional <= cap`."""

    floor: Decimal
    cap: Decimal
    max_leverage: int
    maintenance_margin_rate: Decimal
    cum: Decimal  # the maintenance amount, derived

    def holds(self, notional: Exact) -> bool:
        """A notional exactly at the cap belongs here; one unit above, to the next bracket."""
        return self.floor < notional <= self.cap

    def maintenance_margin(self, notional: Exact) -> Fraction:
        """notional x MMR - cum, exact."""
        return exact(notional) * exact(self.maintenance_margin_rate) - exact(self.cum)


@dataclass(frozen=True)
class BracketTable:
    """A symbol's brackets, lowest first."""

    brackets: tuple[Bracket, ...]

    def bracket_of(self, notional: Exact) -> Bracket:
        """The bracket with `floor < notional <= cap`. A zero notional (no position) is in
        the first bracket (its MM is 0). Beyond the last cap, the last bracket: a mark can
        carry a held position there, and its MM keeps growing at the last rate; a trade
        taking a position there is refused by `within_leverage`."""
        for bracket in self.brackets:
            if notional <= bracket.cap:
                return bracket
        return self.brackets[-1]

    def maintenance_margin(self, notional: Exact) -> Fraction:
        """MM of a notional by its own bracket, exact."""
        return self.bracket_of(notional).maintenance_margin(notional)

    def max_leverage(self, notional: Exact) -> int:
        """The highest leverage the bracket of `notional` allows."""
        return self.bracket_of(notional).max_leverage

    def within_leverage(self, notional: Exact, leverage: int) -> bool:
        """Whether a position of `notional` may be held at `leverage`: inside the table and
        at or below its bracket's max leverage (a trade or a leverage change is refused
        otherwise). In hedge mode the caller passes both legs' notionals added."""
        return notional <= self.brackets[-1].cap and leverage <= self.max_leverage(notional)


def derived_cums(floors: Sequence[Decimal], rates: Sequence[Decimal]) -> list[Decimal]:
    """cum_n = floor_n x (MMR_n - MMR_(n-1)) + cum_(n-1), with cum_0 = 0 and MMR_(-1) = 0
    (the first floor is 0, so the first cum is 0 whatever the rate)."""
    cums: list[Decimal] = []
    previous_rate, previous_cum = ZERO, ZERO
    for floor, rate in zip(floors, rates):
        previous_cum = decimal_sum(exact_product(floor, decimal_difference(rate, previous_rate)), previous_cum)
        previous_rate = rate
        cums.append(previous_cum)
    return cums


def bracket_table(rows: Sequence[Mapping[str, Any]]) -> BracketTable:
    """A table from the parameter set's rows `{cap, max_leverage, mmr}` (a `cum` in a row,
    if any, is ignored: it is derived)."""
    caps = [Decimal(row["cap"]) for row in rows]
    floors = [ZERO, *caps[:-1]]
    rates = [Decimal(row["mmr"]) for row in rows]
    cums = derived_cums(floors, rates)
    return BracketTable(
        tuple(
            Bracket(floor, cap, int(row["max_leverage"]), rate, cum)
            for floor, cap, rate, cum, row in zip(floors, caps, rates, cums, rows)
        )
    )
