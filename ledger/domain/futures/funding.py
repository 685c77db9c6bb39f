"""Funding: each open position of a symbol settles `notional at the mark x rate` against
`market`. With a positive rate longs pay and shorts receive; a negative rate the reverse.
"""

from __future__ import annotations

from decimal import Decimal

from ledger.domain.futures.contracts import FuturesPosition
from ledger.domain.futures.exact import exact, rounded


def funding_payment(position: FuturesPosition, mark: Decimal, rate: Decimal, wallet_precision: int) -> Decimal:
    """What the position's holder receives (negative: pays), in the wallet asset:
    `-dir x notional at the mark x rate`, rounded half-even to the wallet's precision
    (USDⓈ-M in the quote asset, COIN-M in the coin); `market` takes the opposite."""
    return rounded(-position.side.value * position.notional(mark) * exact(rate), wallet_precision)
