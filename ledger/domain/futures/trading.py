"""A futures trade planned against a wallet (domain.md, "Trades and positions"): which
part closes and which opens, the PnL realized, the isolated margin moved, the cost to
open and the position after it. `FuturesAccount.trade` records the plan as one event.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any, Protocol

from ledger.domain.errors import Rejected
from ledger.domain.futures.balances import pro_rata_isolated_margin
from ledger.domain.futures.contracts import (
    CostToOpen,
    FuturesSymbol,
    Side,
    cost_to_open,
    entry_price_after_increase,
    notional_after_trade,
    realized_pnl,
    reported,
)
from ledger.domain.futures.exact import decimal_difference, decimal_sum, exact, rounded
from ledger.domain.futures.wallet import HeldPosition, MarginType, Slot, WalletFigures, held_position
from ledger.domain.money import ZERO, normalized
from ledger.domain.parameters import RiskParameters
from ledger.domain.prices import PriceBook


class Wallet(Protocol):
    """What planning a trade reads of the wallet (`FuturesAccount`, which calls it)."""

    asset: str
    cross_wallet: Decimal
    positions: dict[str, dict[str, dict[str, Any]]]

    def setting(self, symbol: str) -> tuple[int, MarginType]: ...

    def held_positions(self, parameters: RiskParameters) -> list[HeldPosition]: ...

    def figures_with(self, prices: PriceBook, held: list[HeldPosition], cross_wallet: Decimal) -> WalletFigures: ...

    def precision(self, parameters: RiskParameters) -> int: ...

    def shown(self, amount: Fraction | Decimal, parameters: RiskParameters) -> str: ...


class TradeSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opens(self) -> Side:
        """The side a trade of this direction opens or increases."""
        return Side.LONG if self is TradeSide.BUY else Side.SHORT


@dataclass(frozen=True)
class TradePlan:
    """What one accepted trade does: the closing part, then the opening part."""

    slot: Slot
    closed_quantity: Decimal
    realized_pnl: Decimal
    isolated_margin_returned: Decimal
    opened_quantity: Decimal
    cost: CostToOpen | None
    isolated_margin_added: Decimal
    position_after: dict[str, Any] | None


def plan_trade(
    account: Wallet,
    symbol: FuturesSymbol,
    slot: Slot,
    side: TradeSide,
    quantity: Decimal,
    price: Decimal,
    mark: Decimal,
    reduce_only: bool,
    fee: Decimal,
    prices: PriceBook,
) -> TradePlan:
    """What a trade on `slot` does: its closing part (reducing the held position, realizing
    PnL, returning pro-rata isolated margin), then its opening part (checked against the
    bracket of the leverage and, with the fee, against the available balance after the
    closing part). Refuses with `Rejected`; changes nothing."""
    precision = account.precision(prices.parameters)
    leverage, margin_type = account.setting(symbol.name)
    held = account.positions.get(symbol.name, {}).get(slot.value)
    held_side = None if held is None else Side[held["side"].upper()]
    held_quantity = ZERO if held is None else held["quantity"]
    # The side this trade opens or increases: a hedge leg's own, or in one-way mode the trade's.
    if slot is Slot.BOTH:
        opens_side = side.opens
    else:
        opens_side = Side.LONG if slot is Slot.LONG else Side.SHORT
    reducing = held is not None and side.opens is not held_side if slot is Slot.BOTH else side.opens is not opens_side
    if slot is not Slot.BOTH and reducing and quantity > held_quantity:
        raise Rejected(
            f"the trade reduces the {slot} leg of {symbol.name} by {quantity}, more than its size {held_quantity}"
        )
    closed_quantity = min(quantity, held_quantity) if reducing else ZERO
    opened_quantity = decimal_difference(quantity, closed_quantity)
    if reduce_only and (not reducing or opened_quantity > 0):
        raise Rejected(f"a reduce_only trade of {quantity} would open or grow a position in {symbol.name}")

    realized = ZERO
    returned = ZERO
    after: dict[str, Any] | None = None if held is None else dict(held)
    if closed_quantity > 0:
        assert held is not None and held_side is not None
        realized = rounded(realized_pnl(symbol, held_side, closed_quantity, held["entry_price"], price), precision)
        remaining = decimal_difference(held_quantity, closed_quantity)
        if remaining == 0:
            returned = held["isolated_margin"]
            after = None
        else:
            returned = rounded(
                pro_rata_isolated_margin(held["isolated_margin"], closed_quantity, held_quantity), precision
            )
            after = {
                **held,
                "quantity": remaining,
                "isolated_margin": decimal_difference(held["isolated_margin"], returned),
            }

    cost: CostToOpen | None = None
    added = ZERO
    if opened_quantity > 0:
        _require_within_leverage(account, symbol, slot, after, opened_quantity, price, mark, leverage)
        cost = cost_to_open(symbol, opens_side, opened_quantity, price, mark, leverage, precision)
        _require_cost_fits(account, symbol, slot, after, realized, returned, cost, fee, prices)
        added = cost.initial_margin if margin_type is MarginType.ISOLATED else ZERO
        if after is None:
            after = {
                "side": opens_side.name.lower(),
                "quantity": opened_quantity,
                "entry_price": exact(price),
                "isolated_margin": added,
                "liquidation_id": None,
            }
        else:
            after = {
                **after,
                "quantity": decimal_sum(after["quantity"], opened_quantity),
                "entry_price": entry_price_after_increase(
                    symbol, after["quantity"], after["entry_price"], opened_quantity, price
                ),
                "isolated_margin": decimal_sum(after["isolated_margin"], added),
            }
    return TradePlan(slot, closed_quantity, realized, returned, opened_quantity, cost, added, after)


def _require_within_leverage(
    account: Wallet,
    symbol: FuturesSymbol,
    slot: Slot,
    position_after_close: dict[str, Any] | None,
    opened_quantity: Decimal,
    price: Decimal,
    mark: Decimal,
    leverage: int,
) -> None:
    """The position's notional after the trade (held at the mark, the trade at the order
    price; in hedge mode both legs added) within the bracket of the leverage."""
    held_quantity = ZERO if position_after_close is None else position_after_close["quantity"]
    if slot is not Slot.BOTH:
        other = account.positions.get(symbol.name, {}).get((Slot.SHORT if slot is Slot.LONG else Slot.LONG).value)
        if other is not None:
            held_quantity = decimal_sum(held_quantity, other["quantity"])
    after = notional_after_trade(symbol, held_quantity, mark, opened_quantity, price)
    if not symbol.brackets.within_leverage(after, leverage):
        top = symbol.brackets.brackets[-1].cap
        limit = (
            f"beyond the last bracket's cap {normalized(top)}"
            if after > top
            else f"whose bracket allows {symbol.brackets.max_leverage(after)}x"
        )
        raise Rejected(
            f"the trade takes {symbol.name} to a notional of {normalized(reported(after))}, {limit}, not {leverage}x"
        )


def _require_cost_fits(
    account: Wallet,
    symbol: FuturesSymbol,
    slot: Slot,
    position_after_close: dict[str, Any] | None,
    realized: Decimal,
    returned: Decimal,
    cost: CostToOpen,
    fee: Decimal,
    prices: PriceBook,
) -> None:
    """The cost plus the fee fit the available balance left after the closing part."""
    held = [h for h in account.held_positions(prices.parameters) if (h.symbol, h.slot) != (symbol.name, slot)]
    if position_after_close is not None:
        held.append(held_position(symbol, slot, *account.setting(symbol.name), position_after_close))
    cross_wallet = decimal_sum(account.cross_wallet, realized, returned)
    available = account.figures_with(prices, held, cross_wallet).available_balance
    needed = cost.exact_cost + exact(fee)
    if needed > available:
        raise Rejected(
            f"opening {symbol.name} costs {normalized(cost.cost)} {account.asset} (initial margin "
            f"{normalized(cost.initial_margin)}, open loss {normalized(cost.open_loss)}) plus a fee of "
            f"{normalized(fee)}, more than the available balance "
            f"{account.shown(available, prices.parameters)} {account.asset}"
        )
