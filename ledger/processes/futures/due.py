"""What a futures wallet's exact figures call for: its cross positions' liquidation (cross
margin balance <= cross MM, with cross MM > 0), and each unlocked isolated position's
whose own margin balance has reached its own MM (domain.md, "Balances and ratios",
"Isolated positions"; compared exactly by `WalletFigures`). One rule, asked by the
evaluation step that records the triggers and by the risk index's exact path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ledger.domain.futures.account import FuturesAccount
from ledger.domain.futures.wallet import PositionFigures, WalletFigures
from ledger.domain.prices import PriceBook


@dataclass(frozen=True)
class LiquidationsDue:
    """The parts of a wallet to liquidate at its marks: its cross positions, and its isolated ones."""

    figures: WalletFigures
    cross: bool
    isolated: list[PositionFigures]

    def __bool__(self) -> bool:
        return self.cross or bool(self.isolated)

    def worst_ratio(self) -> float:
        """The lowest margin balance / MM among the parts due (what orders a storm, worst first)."""
        ratios = [_ratio(p.isolated_margin_balance, p.maintenance_margin) for p in self.isolated]
        if self.cross:
            ratios.append(_ratio(self.figures.cross_margin_balance, self.figures.cross_maintenance_margin))
        return min(ratios, default=math.inf)


def liquidations_due(account: FuturesAccount, prices: PriceBook) -> LiquidationsDue | None:
    """None without positions; else what the wallet's exact figures at `prices` call for."""
    if not account.positions:
        return None
    figures = account.figures(prices)
    cross = not account.is_locked and bool(figures.cross) and figures.cross_liquidatable()
    isolated = [
        position
        for position in figures.isolated
        if account.isolated_lock(position.held.symbol, position.held.slot) is None
        and figures.isolated_liquidatable(position)
    ]
    return LiquidationsDue(figures, cross, isolated)


def _ratio(balance: Fraction, maintenance_margin: Fraction) -> float:
    return float(balance / maintenance_margin) if maintenance_margin > 0 else math.inf
