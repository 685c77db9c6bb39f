"""The futures account aggregate: one wallet (USDⓈ-M: one quote asset; COIN-M: one coin)
and its positions, and its events.

The rules are domain.md's "Futures" section. Commands check them first and raise
`Rejected` before any event is triggered, so a refused command leaves the account as it
was. Each event carries what explains it (the marks and parameter version it was judged
at, the figures it moved), and its mutator only applies what it carries.

State is kept as plain dicts of Decimals, as the spot account's, so that snapshots
store it as it is: `positions[symbol][slot]` is `{side, quantity, entry_price,
isolated_margin, liquidation_id}`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from eventsourcing.domain import Aggregate, event

from ledger.domain.entries import INSURANCE_FUND, MARKET, WORLD, AccountingEvent, Entry, move
from ledger.domain.errors import Rejected
from ledger.domain.futures.balances import isolated_margin_removal_allowed
from ledger.domain.futures.contracts import (
    FuturesSymbol,
    notional,
    reported,
    symbol_of,
)
from ledger.domain.futures.exact import decimal_difference, decimal_sum, exact, exact_sum, rounded
from ledger.domain.futures.funding import funding_payment
from ledger.domain.futures.trading import TradePlan, TradeSide, plan_trade
from ledger.domain.futures.wallet import (
    HeldPosition,
    MarginType,
    PositionFigures,
    PositionMode,
    Slot,
    WalletFigures,
    held_position,
)
from ledger.domain.identity import NAMESPACE, account_id
from ledger.domain.money import ZERO, normalized
from ledger.domain.parameters import RiskParameters
from ledger.domain.prices import PriceBook
from ledger.domain.product import AccountMode

DEFAULT_LEVERAGE = 20  # and cross, for a symbol no `leverage` input set
WALLET_TOTALS = ("realized_pnl", "funding", "commissions", "clearance_fees", "shortfalls_covered")


class FuturesStatus(StrEnum):
    NORMAL = "normal"
    LIQUIDATING = "liquidating"


def futures_liquidation_id(account: str, sequence: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"futures-liquidation:{account}:{sequence}")


class FuturesAccount(Aggregate):
    """A USDⓈ-M or COIN-M futures wallet and its positions."""

    class Event(AccountingEvent):
        pass

    class Opened(Aggregate.Created, Event):
        mode: str
        asset: str

    @staticmethod
    def create_id(account: str, **_: Any) -> uuid.UUID:
        return account_id(account)

    @event(Opened)
    def __init__(self, account: str, mode: str, asset: str, at: datetime, cause: dict[str, Any]):
        self.name = account
        self.mode = mode
        self.asset = asset
        self.position_mode: str = PositionMode.ONE_WAY
        self.settings: dict[str, dict[str, Any]] = {}  # symbol -> {leverage, margin_type}
        self.cross_wallet = ZERO
        self.positions: dict[str, dict[str, dict[str, Any]]] = {}  # symbol -> slot -> position
        # Isolated margin of positions being liquidated, until fee, shortfall and return settle it.
        self.settling: dict[str, Decimal] = {}  # liquidation id -> margin
        self.liquidation_id: uuid.UUID | None = None  # the liquidation of the cross positions
        # Deposited or transferred in while the cross positions are liquidated: the user's, out of its reach.
        self.arrived_while_liquidating = ZERO
        self.liquidations_started = 0
        self.fundings_settled: dict[str, int] = {}  # symbol -> last funding sequence settled
        # Since the wallet opened, what explains its balance beside transfers (domain.md:
        # wallet = transfers + realized PnL + funding - commissions - clearance fees + shortfalls covered).
        self.totals: dict[str, Decimal] = dict.fromkeys(WALLET_TOTALS, ZERO)
        self.status: str = FuturesStatus.NORMAL

    # --- what the account holds ---------------------------------------------------

    @property
    def is_locked(self) -> bool:
        return self.liquidation_id is not None

    def is_liquidating(self, liquidation_id: uuid.UUID) -> bool:
        """Whether `liquidation_id` holds the lock of the cross positions or of a position."""
        held = (position.get("liquidation_id") for position in self.open_positions())
        return self.liquidation_id == liquidation_id or str(liquidation_id) in held

    def balance(self, asset: str) -> Decimal:
        return self.wallet_balance if asset == self.asset else ZERO

    @property
    def wallet_balance(self) -> Decimal:
        """The cross wallet, the isolated margins and what is being settled: what the
        account holds of its asset (its `balance` book)."""
        isolated = (position["isolated_margin"] for position in self.open_positions())
        return decimal_sum(self.cross_wallet, *isolated, *self.settling.values())

    def open_positions(self) -> list[dict[str, Any]]:
        return [position for slots in self.positions.values() for position in slots.values()]

    def symbols_held(self) -> set[str]:
        return set(self.positions)

    def setting(self, symbol: str) -> tuple[int, MarginType]:
        found = self.settings.get(symbol)
        if found is None:
            return DEFAULT_LEVERAGE, MarginType.CROSS
        return int(found["leverage"]), MarginType(found["margin_type"])

    def held_positions(self, parameters: RiskParameters) -> list[HeldPosition]:
        """Every open position with its symbol's contract terms, leverage and margin type."""
        return [
            held_position(symbol_of(parameters, symbol), slot, *self.setting(symbol), position)
            for symbol, slots in sorted(self.positions.items())
            for slot, position in sorted(slots.items())
        ]

    def isolated_lock(self, symbol: str, slot: Slot) -> str | None:
        """The liquidation that holds the lock of one isolated position, if any."""
        position = self.positions.get(symbol, {}).get(slot.value)
        return None if position is None else position.get("liquidation_id")

    def figures(self, prices: PriceBook) -> WalletFigures:
        """The wallet at the current marks (every held symbol has one: a trade needs it)."""
        return self.figures_with(prices, self.held_positions(prices.parameters), self.cross_wallet)

    def figures_with(self, prices: PriceBook, held: list[HeldPosition], cross_wallet: Decimal) -> WalletFigures:
        """The wallet as it would be with these positions and cross wallet, at the current marks."""
        return WalletFigures(cross_wallet, held, {h.symbol: self.mark(prices, h.symbol) for h in held})

    def precision(self, parameters: RiskParameters) -> int:
        return parameters.precision(self.asset)

    def shown(self, amount: Fraction | Decimal, parameters: RiskParameters) -> str:
        """An exact figure as a message shows it: to the asset's precision, rounded down."""
        return normalized(rounded(amount, self.precision(parameters), ROUND_FLOOR))

    # --- rules shared by commands ---------------------------------------------------

    def _require_unlocked(self, action: str) -> None:
        if self.is_locked:
            raise Rejected(
                f"account {self.name} is locked by liquidation {self.liquidation_id}: "
                f"{action} is refused until the liquidation ends"
            )

    def _require_wallet_asset(self, asset: str) -> None:
        if asset != self.asset:
            raise Rejected(f"futures wallet {self.name} holds {self.asset} only, not {asset}")

    def mark(self, prices: PriceBook, symbol: str) -> Decimal:
        """The symbol's mark; a command on a symbol with none yet is refused."""
        mark = prices.symbol_mark(symbol)
        if mark is None:
            raise Rejected(f"{symbol} has no mark price yet")
        return mark

    def _symbol(self, parameters: RiskParameters, name: str) -> FuturesSymbol:
        """The symbol, if this wallet can trade it: COIN-M, an inverse symbol of its coin;
        USDⓈ-M, a linear symbol quoted in its asset."""
        spec = parameters.symbol_spec(name)
        if self.mode == AccountMode.COINM:
            if spec["type"] != "inverse" or spec["base"] != self.asset:
                raise Rejected(
                    f"{name} is not an inverse symbol of {self.asset}: COIN-M wallet {self.name} cannot trade it"
                )
        elif spec["type"] != "linear" or spec["quote"] != self.asset:
            raise Rejected(
                f"{name} is not a linear symbol quoted in {self.asset}: USDⓈ-M wallet {self.name} cannot trade it"
            )
        return symbol_of(parameters, name)

    def _require_withdrawable(self, action: str, amount: Decimal, prices: PriceBook) -> None:
        """At most cross wallet + min(0, cross uPnL) - cross IM (unrealized profit is never
        withdrawable)."""
        withdrawable = self.figures(prices).withdrawable_balance
        if amount > withdrawable:
            raise Rejected(
                f"{action} of {amount} {self.asset} exceeds what {self.name} may withdraw, "
                f"{self.shown(max(Fraction(0), withdrawable), prices.parameters)} {self.asset} "
                "(cross wallet, less unrealized losses and the initial margin of cross positions; "
                "unrealized profit is not withdrawable)"
            )

    # --- deposits, withdrawals, transfers ---------------------------------------------

    class Deposited(Event):
        asset: str
        amount: Decimal

        def entries(self) -> list[Entry]:
            return move(WORLD, self.account, self.asset, self.amount)

    def deposit(self, asset: str, amount: Decimal, at: datetime, cause: dict[str, Any]) -> None:
        """Accepted while liquidating too: it stays the user's."""
        self._require_wallet_asset(asset)
        self._deposited(account=self.name, asset=asset, amount=amount, at=at, cause=cause)

    @event(Deposited)
    def _deposited(self, account: str, asset: str, amount: Decimal, at: datetime, cause: dict[str, Any]) -> None:
        self._arrived(amount)

    def _arrived(self, amount: Decimal) -> None:
        self.cross_wallet = decimal_sum(self.cross_wallet, amount)
        if self.is_locked:
            self.arrived_while_liquidating = decimal_sum(self.arrived_while_liquidating, amount)

    class Withdrawn(Event):
        asset: str
        amount: Decimal

        def entries(self) -> list[Entry]:
            return move(self.account, WORLD, self.asset, self.amount)

    def withdraw(self, asset: str, amount: Decimal, prices: PriceBook, at: datetime, cause: dict[str, Any]) -> None:
        self._require_unlocked("withdraw")
        self._require_wallet_asset(asset)
        self._require_withdrawable("withdraw", amount, prices)
        self._withdrawn(account=self.name, asset=asset, amount=amount, at=at, cause=cause)

    @event(Withdrawn)
    def _withdrawn(self, account: str, asset: str, amount: Decimal, at: datetime, cause: dict[str, Any]) -> None:
        self.cross_wallet = decimal_difference(self.cross_wallet, amount)

    class TransferredOut(Event):
        """Carries both entries of a transfer; `TransferredIn` is its mirror."""

        asset: str
        amount: Decimal
        to_account: str

        def entries(self) -> list[Entry]:
            return move(self.account, self.to_account, self.asset, self.amount)

    def transfer_out(
        self, asset: str, amount: Decimal, to_account: str, prices: PriceBook, at: datetime, cause: dict[str, Any]
    ) -> None:
        self._require_unlocked("transfer out")
        self._require_wallet_asset(asset)
        self._require_withdrawable("transfer out", amount, prices)
        self._transferred_out(account=self.name, asset=asset, amount=amount, to_account=to_account, at=at, cause=cause)

    @event(TransferredOut)
    def _transferred_out(
        self, account: str, asset: str, amount: Decimal, to_account: str, at: datetime, cause: dict[str, Any]
    ) -> None:
        self.cross_wallet = decimal_difference(self.cross_wallet, amount)

    class TransferredIn(Event):
        """The receiving side of a `TransferredOut`: its entries are on that event."""

        asset: str
        amount: Decimal
        from_account: str

    def check_transfer_in(self, asset: str) -> None:
        self._require_wallet_asset(asset)

    def transfer_in(self, asset: str, amount: Decimal, from_account: str, at: datetime, cause: dict[str, Any]) -> None:
        self.check_transfer_in(asset)
        self._transferred_in(
            account=self.name, asset=asset, amount=amount, from_account=from_account, at=at, cause=cause
        )

    @event(TransferredIn)
    def _transferred_in(
        self, account: str, asset: str, amount: Decimal, from_account: str, at: datetime, cause: dict[str, Any]
    ) -> None:
        self._arrived(amount)

    # --- settings ------------------------------------------------------------------------

    class PositionModeChanged(Event):
        position_mode: str

    def change_position_mode(self, position_mode: PositionMode, at: datetime, cause: dict[str, Any]) -> None:
        self._require_unlocked("changing the position mode")
        if self.open_positions():
            raise Rejected(f"account {self.name} has open positions: its position mode cannot change")
        if position_mode != self.position_mode:
            self._position_mode_changed(account=self.name, position_mode=position_mode.value, at=at, cause=cause)

    @event(PositionModeChanged)
    def _position_mode_changed(self, account: str, position_mode: str, at: datetime, cause: dict[str, Any]) -> None:
        self.position_mode = position_mode

    class LeverageChanged(Event):
        symbol: str
        leverage: int
        margin_type: str
        parameters_version: int

    def change_leverage(
        self,
        symbol_name: str,
        leverage: int,
        margin_type: MarginType,
        prices: PriceBook,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self._require_unlocked("changing leverage")
        parameters = prices.parameters
        symbol = self._symbol(parameters, symbol_name)
        current_leverage, current_type = self.setting(symbol_name)
        slots = self.positions.get(symbol_name, {})
        if slots and margin_type != current_type:
            raise Rejected(f"{symbol_name} has an open position in {self.name}: its margin type cannot change")
        held_notional = Fraction(0)
        if slots:
            mark = self.mark(prices, symbol_name)
            held_notional = exact_sum(*(notional(symbol, p["quantity"], mark) for p in slots.values()))
        if not symbol.brackets.within_leverage(held_notional, leverage):
            raise Rejected(
                f"{leverage}x is above the max leverage of {symbol_name}'s bracket for a notional of "
                f"{normalized(reported(held_notional))} ({symbol.brackets.max_leverage(held_notional)}x)"
            )
        if slots and leverage < current_leverage:
            if margin_type is MarginType.ISOLATED:
                raise Rejected(f"the leverage of an open isolated position ({symbol_name}) cannot be lowered")
            self._require_lower_leverage_fits(symbol_name, leverage, prices)
        self._leverage_changed(
            account=self.name,
            symbol=symbol_name,
            leverage=leverage,
            margin_type=margin_type.value,
            parameters_version=parameters.version,
            at=at,
            cause=cause,
        )

    def _require_lower_leverage_fits(self, symbol_name: str, leverage: int, prices: PriceBook) -> None:
        """Cross: the higher initial margin must still fit the available balance."""
        held = [
            HeldPosition(
                h.position,
                h.slot,
                leverage if h.symbol == symbol_name else h.leverage,
                h.margin_type,
                h.isolated_margin,
            )
            for h in self.held_positions(prices.parameters)
        ]
        available = self.figures_with(prices, held, self.cross_wallet).available_balance
        if available < 0:
            raise Rejected(
                f"at {leverage}x the initial margin of {symbol_name} would exceed the available balance of "
                f"{self.name} by {self.shown(-available, prices.parameters)} {self.asset}"
            )

    @event(LeverageChanged)
    def _leverage_changed(
        self,
        account: str,
        symbol: str,
        leverage: int,
        margin_type: str,
        parameters_version: int,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self.settings[symbol] = {"leverage": leverage, "margin_type": margin_type}

    # --- trades ----------------------------------------------------------------------------

    class Traded(Event):
        """A fill against `market`: its closing part realizes PnL, its opening part takes
        the cost to open; the commission goes to `market`. `position_after` is the
        position of the slot after it (None: closed)."""

        symbol: str
        slot: str
        side: str
        quantity: Decimal
        price: Decimal
        mark: Decimal
        reduce_only: bool
        leverage: int
        margin_type: str
        closed_quantity: Decimal
        realized_pnl: Decimal
        isolated_margin_returned: Decimal
        opened_quantity: Decimal
        initial_margin: Decimal
        open_loss: Decimal
        cost: Decimal
        isolated_margin_added: Decimal
        fee: Decimal
        position_after: dict[str, Any] | None
        parameters_version: int
        wallet_asset: str

        def entries(self) -> list[Entry]:
            asset = self.wallet_asset
            return move(MARKET, self.account, asset, self.realized_pnl) + move(self.account, MARKET, asset, self.fee)

    def trade(
        self,
        symbol_name: str,
        side: TradeSide,
        quantity: Decimal,
        price: Decimal,
        position_side: str | None,
        reduce_only: bool,
        fee: Decimal,
        prices: PriceBook,
        at: datetime,
        cause: dict[str, Any],
    ) -> TradePlan:
        self._require_unlocked("trading")
        parameters = prices.parameters
        symbol = self._symbol(parameters, symbol_name)
        mark = self.mark(prices, symbol_name)
        slot = self._slot(position_side, "a trade")
        if self.isolated_lock(symbol_name, slot) is not None:
            raise Rejected(f"the {slot} position of {symbol_name} is being liquidated")
        plan = plan_trade(self, symbol, slot, side, quantity, price, mark, reduce_only, fee, prices)
        leverage, margin_type = self.setting(symbol_name)
        self._traded(
            account=self.name,
            wallet_asset=self.asset,
            symbol=symbol_name,
            slot=slot.value,
            side=side.value,
            quantity=quantity,
            price=price,
            mark=mark,
            reduce_only=reduce_only,
            leverage=leverage,
            margin_type=margin_type.value,
            closed_quantity=plan.closed_quantity,
            realized_pnl=plan.realized_pnl,
            isolated_margin_returned=plan.isolated_margin_returned,
            opened_quantity=plan.opened_quantity,
            initial_margin=plan.cost.initial_margin if plan.cost else ZERO,
            open_loss=plan.cost.open_loss if plan.cost else ZERO,
            cost=plan.cost.cost if plan.cost else ZERO,
            isolated_margin_added=plan.isolated_margin_added,
            fee=fee,
            position_after=plan.position_after,
            parameters_version=parameters.version,
            at=at,
            cause=cause,
        )
        return plan

    def _slot(self, position_side: str | None, action: str) -> Slot:
        """The position `action` (a trade, an isolated margin move) acts on."""
        if self.position_mode == PositionMode.HEDGE:
            if position_side is None:
                raise Rejected(f"account {self.name} is in hedge mode: {action} needs position_side long or short")
            return Slot(position_side)
        if position_side is not None:
            raise Rejected(f"account {self.name} is in one-way mode: {action} takes no position_side")
        return Slot.BOTH

    @event(Traded)
    def _traded(
        self,
        account: str,
        wallet_asset: str,
        symbol: str,
        slot: str,
        side: str,
        quantity: Decimal,
        price: Decimal,
        mark: Decimal,
        reduce_only: bool,
        leverage: int,
        margin_type: str,
        closed_quantity: Decimal,
        realized_pnl: Decimal,
        isolated_margin_returned: Decimal,
        opened_quantity: Decimal,
        initial_margin: Decimal,
        open_loss: Decimal,
        cost: Decimal,
        isolated_margin_added: Decimal,
        fee: Decimal,
        position_after: dict[str, Any] | None,
        parameters_version: int,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self.cross_wallet = decimal_sum(
            self.cross_wallet,
            realized_pnl,
            isolated_margin_returned,
            isolated_margin_added.copy_negate(),
            fee.copy_negate(),
        )
        self._put_position(symbol, slot, position_after)
        self._add_to_total("realized_pnl", realized_pnl)
        self._add_to_total("commissions", fee)

    def _add_to_total(self, name: str, amount: Decimal) -> None:
        self.totals[name] = decimal_sum(self.totals[name], amount)

    def _put_position(self, symbol: str, slot: str, position: dict[str, Any] | None) -> None:
        slots = self.positions.setdefault(symbol, {})
        if position is None:
            slots.pop(slot, None)
        else:
            slots[slot] = dict(position)
        if not slots:
            del self.positions[symbol]

    # --- isolated margin ----------------------------------------------------------------------

    class IsolatedMarginChanged(Event):
        """Margin moved from the cross wallet into an isolated position (amount > 0) or back."""

        symbol: str
        slot: str
        amount: Decimal
        isolated_margin_after: Decimal

    def change_isolated_margin(
        self,
        symbol_name: str,
        position_side: str | None,
        amount: Decimal,
        prices: PriceBook,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self._require_unlocked("moving isolated margin")
        slot = self._slot(position_side, "an isolated margin move")
        position = self.positions.get(symbol_name, {}).get(slot.value)
        if position is None:
            leg = "" if slot is Slot.BOTH else f"{slot} "
            raise Rejected(f"account {self.name} has no {leg}position in {symbol_name}")
        leverage, margin_type = self.setting(symbol_name)
        if margin_type is not MarginType.ISOLATED:
            raise Rejected(f"the {symbol_name} position of {self.name} is cross, not isolated")
        if self.isolated_lock(symbol_name, slot) is not None:
            raise Rejected(f"the {slot} position of {symbol_name} is being liquidated")
        after = decimal_sum(position["isolated_margin"], amount)
        figures = self.figures(prices)
        if amount > 0:
            if amount > figures.available_balance:
                raise Rejected(
                    f"adding {amount} {self.asset} of isolated margin exceeds the available balance "
                    f"{self.shown(figures.available_balance, prices.parameters)} {self.asset}"
                )
        else:
            mine = next(f for f in figures.isolated if (f.held.symbol, f.held.slot) == (symbol_name, slot))
            if not isolated_margin_removal_allowed(after, mine.unrealized_pnl, mine.notional, leverage):
                initial_margin = self.shown(mine.initial_margin, prices.parameters)
                raise Rejected(
                    f"removing {amount.copy_abs()} {self.asset} would leave the isolated margin of {symbol_name} "
                    f"at {normalized(after)}, below its initial margin {initial_margin} after unrealized losses "
                    "(unrealized profit does not count)"
                )
        self._isolated_margin_changed(
            account=self.name,
            symbol=symbol_name,
            slot=slot.value,
            amount=amount,
            isolated_margin_after=after,
            at=at,
            cause=cause,
        )

    @event(IsolatedMarginChanged)
    def _isolated_margin_changed(
        self,
        account: str,
        symbol: str,
        slot: str,
        amount: Decimal,
        isolated_margin_after: Decimal,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self.cross_wallet = decimal_difference(self.cross_wallet, amount)
        self.positions[symbol][slot]["isolated_margin"] = isolated_margin_after

    # --- funding ----------------------------------------------------------------------------------

    class FundingSettled(Event):
        """What one position received (negative: paid) at a funding of its symbol."""

        symbol: str
        slot: str
        sequence: int
        rate: Decimal
        mark: Decimal
        notional: Fraction
        amount: Decimal
        wallet_asset: str

        def entries(self) -> list[Entry]:
            return move(MARKET, self.account, self.wallet_asset, self.amount)

    def settle_funding(
        self,
        symbol_name: str,
        sequence: int,
        rate: Decimal,
        mark: Decimal,
        parameters: RiskParameters,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        """Every open position of the symbol settles `notional at the mark x rate` (once per
        funding: a settlement already recorded is not recorded again)."""
        if self.fundings_settled.get(symbol_name, 0) >= sequence:
            return
        precision = self.precision(parameters)
        for held in self.held_positions(parameters):
            if held.symbol != symbol_name:
                continue
            self._funding_settled(
                account=self.name,
                symbol=symbol_name,
                slot=held.slot.value,
                sequence=sequence,
                rate=rate,
                mark=mark,
                notional=held.position.notional(mark),
                amount=funding_payment(held.position, mark, rate, precision),
                wallet_asset=self.asset,
                at=at,
                cause=cause,
            )

    @event(FundingSettled)
    def _funding_settled(
        self,
        account: str,
        symbol: str,
        slot: str,
        sequence: int,
        rate: Decimal,
        mark: Decimal,
        notional: Fraction,
        amount: Decimal,
        wallet_asset: str,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        position = self.positions[symbol][slot]
        if self.setting(symbol)[1] is MarginType.ISOLATED:
            position["isolated_margin"] = decimal_sum(position["isolated_margin"], amount)
        else:
            self.cross_wallet = decimal_sum(self.cross_wallet, amount)
        self.fundings_settled[symbol] = sequence
        self._add_to_total("funding", amount)

    # --- liquidation --------------------------------------------------------------------------

    class LiquidationStarted(Event):
        """The wallet (or one isolated position) is locked for a liquidation."""

        liquidation_id: uuid.UUID
        sequence: int
        symbol: str | None
        slot: str | None

    def start_liquidation(self, symbol: str | None, slot: str | None, at: datetime, cause: dict[str, Any]) -> uuid.UUID:
        sequence = self.liquidations_started + 1
        liquidation_id = futures_liquidation_id(self.name, sequence)
        if symbol is None:
            assert not self.is_locked, "the cross positions are being liquidated already"
        else:
            assert slot is not None and self.isolated_lock(symbol, Slot(slot)) is None, "being liquidated already"
        self._liquidation_started(
            account=self.name,
            liquidation_id=liquidation_id,
            sequence=sequence,
            symbol=symbol,
            slot=slot,
            at=at,
            cause=cause,
        )
        return liquidation_id

    @event(LiquidationStarted)
    def _liquidation_started(
        self,
        account: str,
        liquidation_id: uuid.UUID,
        sequence: int,
        symbol: str | None,
        slot: str | None,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self.liquidations_started = sequence
        if symbol is None:
            self.liquidation_id = liquidation_id
            self.status = FuturesStatus.LIQUIDATING
        else:
            self.positions[symbol][slot or ""]["liquidation_id"] = str(liquidation_id)

    class PositionLiquidated(Event):
        """A position closed at the mark by a liquidation, its PnL realized (for an isolated
        position, into the margin being settled; for a cross one, into the cross wallet)."""

        liquidation_id: uuid.UUID
        symbol: str
        slot: str
        side: str
        quantity: Decimal
        entry_price: Fraction
        mark: Decimal
        notional: Fraction
        realized_pnl: Decimal
        isolated_margin: Decimal
        wallet_asset: str

        def entries(self) -> list[Entry]:
            return move(MARKET, self.account, self.wallet_asset, self.realized_pnl)

    def close_at_mark(
        self, liquidation_id: uuid.UUID, figures: PositionFigures, precision: int, at: datetime, cause: dict[str, Any]
    ) -> None:
        """Closes one position at its mark (`figures`: the position there)."""
        held, position = figures.held, figures.held.position
        self._position_liquidated(
            account=self.name,
            liquidation_id=liquidation_id,
            symbol=held.symbol,
            slot=held.slot.value,
            side=position.side.name.lower(),
            quantity=position.quantity,
            entry_price=position.entry_price,
            mark=figures.mark,
            notional=figures.notional,
            realized_pnl=rounded(figures.unrealized_pnl, precision),
            isolated_margin=held.isolated_margin,
            wallet_asset=self.asset,
            at=at,
            cause=cause,
        )

    @event(PositionLiquidated)
    def _position_liquidated(
        self,
        account: str,
        liquidation_id: uuid.UUID,
        symbol: str,
        slot: str,
        side: str,
        quantity: Decimal,
        entry_price: Fraction,
        mark: Decimal,
        notional: Fraction,
        realized_pnl: Decimal,
        isolated_margin: Decimal,
        wallet_asset: str,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self._put_position(symbol, slot, None)
        if self.liquidation_id == liquidation_id:
            self.cross_wallet = decimal_sum(self.cross_wallet, realized_pnl)
        else:
            self.settling[str(liquidation_id)] = decimal_sum(isolated_margin, realized_pnl)
        self._add_to_total("realized_pnl", realized_pnl)

    def remaining_after_close(self, liquidation_id: uuid.UUID) -> Decimal:
        """What the liquidated scope holds once its positions are closed: the cross wallet
        (but what arrived since the trigger, which stays the user's), or the isolated
        position's margin being settled."""
        if self.liquidation_id == liquidation_id:
            return decimal_difference(self.cross_wallet, self.arrived_while_liquidating)
        return self.settling[str(liquidation_id)]

    class ClearanceFeeCharged(Event):
        liquidation_id: uuid.UUID
        amount: Decimal
        rate_notional: Fraction  # sum of each closed position's clearance rate x notional, exact
        wallet_asset: str

        def entries(self) -> list[Entry]:
            return move(self.account, INSURANCE_FUND, self.wallet_asset, self.amount)

    def charge_clearance_fee(
        self, liquidation_id: uuid.UUID, fee_due: Fraction, precision: int, at: datetime, cause: dict[str, Any]
    ) -> Decimal:
        """The fee due, rounded down, capped at what remains positive; returns it."""
        amount = min(rounded(fee_due, precision, ROUND_FLOOR), max(ZERO, self.remaining_after_close(liquidation_id)))
        if amount > 0:
            self._clearance_fee_charged(
                account=self.name,
                liquidation_id=liquidation_id,
                amount=amount,
                rate_notional=fee_due,
                wallet_asset=self.asset,
                at=at,
                cause=cause,
            )
        return amount

    @event(ClearanceFeeCharged)
    def _clearance_fee_charged(
        self,
        account: str,
        liquidation_id: uuid.UUID,
        amount: Decimal,
        rate_notional: Fraction,
        wallet_asset: str,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self._settle(liquidation_id, amount.copy_negate())
        self._add_to_total("clearance_fees", amount)

    class ShortfallCovered(Event):
        """`insurance-fund` brings what the liquidated scope holds back to zero."""

        liquidation_id: uuid.UUID
        amount: Decimal
        wallet_asset: str

        def entries(self) -> list[Entry]:
            return move(INSURANCE_FUND, self.account, self.wallet_asset, self.amount)

    def cover_shortfall(self, liquidation_id: uuid.UUID, at: datetime, cause: dict[str, Any]) -> Decimal:
        remaining = self.remaining_after_close(liquidation_id)
        if remaining >= 0:
            return ZERO
        amount = remaining.copy_negate()
        self._shortfall_covered(
            account=self.name, liquidation_id=liquidation_id, amount=amount, wallet_asset=self.asset, at=at, cause=cause
        )
        return amount

    @event(ShortfallCovered)
    def _shortfall_covered(
        self,
        account: str,
        liquidation_id: uuid.UUID,
        amount: Decimal,
        wallet_asset: str,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self._settle(liquidation_id, amount)
        self._add_to_total("shortfalls_covered", amount)

    def _settle(self, liquidation_id: uuid.UUID, amount: Decimal) -> None:
        if self.liquidation_id == liquidation_id:
            self.cross_wallet = decimal_sum(self.cross_wallet, amount)
        else:
            key = str(liquidation_id)
            self.settling[key] = decimal_sum(self.settling[key], amount)

    class LiquidationEnded(Event):
        """Unlocked; for an isolated position, what remains of its margin returns to the
        cross wallet (no entry: both are this wallet's)."""

        liquidation_id: uuid.UUID
        returned_to_cross_wallet: Decimal

    def end_liquidation(self, liquidation_id: uuid.UUID, at: datetime, cause: dict[str, Any]) -> Decimal:
        returned = ZERO if self.liquidation_id == liquidation_id else self.settling[str(liquidation_id)]
        assert returned >= 0, "a shortfall is covered before the liquidation ends"
        self._liquidation_ended(
            account=self.name, liquidation_id=liquidation_id, returned_to_cross_wallet=returned, at=at, cause=cause
        )
        return returned

    @event(LiquidationEnded)
    def _liquidation_ended(
        self,
        account: str,
        liquidation_id: uuid.UUID,
        returned_to_cross_wallet: Decimal,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        if self.liquidation_id == liquidation_id:
            self.liquidation_id = None
            self.arrived_while_liquidating = ZERO
            self.status = FuturesStatus.NORMAL
        else:
            self.settling.pop(str(liquidation_id))
            self.cross_wallet = decimal_sum(self.cross_wallet, returned_to_cross_wallet)


def clearance_fee_due(closed: list[PositionFigures]) -> Fraction:
    """Each closed position's symbol rate x its notional at the mark, exact."""
    return exact_sum(*(exact(f.held.position.symbol.clearance_fee_rate) * f.notional for f in closed))


def fee_value(fee: Decimal, closed: list[PositionFigures]) -> Decimal:
    """The fee in the quote currency: USDⓈ-M the wallet asset itself; COIN-M USD at the marks
    of the closed positions (their contract value over their coin notional), to 8 places."""
    if fee == 0 or not closed[0].held.position.symbol.is_inverse:
        return fee
    usd = exact_sum(*(exact(f.held.position.quantity) * exact(f.held.position.symbol.contract_size) for f in closed))
    return rounded(exact(fee) * usd / exact_sum(*(f.notional for f in closed)), 8)
