"""A futures liquidation's record: what triggered it (the positions at their marks, the
margin balance against the maintenance margin, the parameter version) and how it ended
(positions closed at the mark, clearance fee, shortfall, what returned to the cross
wallet). The money moves on the account's stream (`FuturesAccount.PositionLiquidated`,
`ClearanceFeeCharged`, `ShortfallCovered`, `LiquidationEnded`); this stream explains them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from ledger.domain.entries import AccountingEvent
from ledger.domain.futures.account import futures_liquidation_id
from ledger.domain.liquidations import LiquidationStatus

LIQUIDATION_THRESHOLD = Decimal(1)  # margin ratio: margin balance <= maintenance margin


class FuturesLiquidationKind(StrEnum):
    FUTURES = "futures"  # positions closed at the mark (no takeover in futures)


class FuturesLiquidation(Aggregate):
    """One liquidation of a futures wallet's cross positions, or of one isolated position."""

    class Event(AccountingEvent):
        pass

    class Triggered(Aggregate.Created, Event):
        sequence: int
        mode: str
        asset: str
        symbol: str | None  # None: the cross positions
        slot: str | None
        positions: list[dict[str, Any]]  # each at its mark: figures as the trigger saw them
        prices: dict[str, Decimal]  # symbol -> mark
        wallet_balance: Decimal  # the cross wallet, or the isolated margin
        margin_balance: Decimal
        maintenance_margin: Decimal
        margin_ratio: Decimal | None
        threshold: Decimal
        parameters_version: int

    @staticmethod
    def create_id(account: str, sequence: int, **_: Any) -> uuid.UUID:
        return futures_liquidation_id(account, sequence)

    @event(Triggered)
    def __init__(
        self,
        account: str,
        sequence: int,
        mode: str,
        asset: str,
        symbol: str | None,
        slot: str | None,
        positions: list[dict[str, Any]],
        prices: dict[str, Decimal],
        wallet_balance: Decimal,
        margin_balance: Decimal,
        maintenance_margin: Decimal,
        margin_ratio: Decimal | None,
        threshold: Decimal,
        parameters_version: int,
        at: datetime,
        cause: dict[str, Any],
    ):
        self.account = account
        self.sequence = sequence
        self.asset = asset
        self.symbol = symbol
        self.slot = slot
        self.trigger = {
            "margin_balance": margin_balance,
            "maintenance_margin": maintenance_margin,
            "margin_ratio": margin_ratio,
            "threshold": threshold,
            "prices": dict(prices),
            "parameters_version": parameters_version,
            "at": at,
        }
        self.positions_at_trigger = [dict(position) for position in positions]
        self.status: str = LiquidationStatus.IN_PROGRESS
        self.fee = Decimal(0)
        self.fee_value = Decimal(0)
        self.shortfall = Decimal(0)
        self.closed: list[dict[str, Any]] = []
        self.triggered_at = at
        self.completed_at: datetime | None = None

    @property
    def kind(self) -> FuturesLiquidationKind:
        return FuturesLiquidationKind.FUTURES

    @property
    def is_cross(self) -> bool:
        return self.symbol is None

    class Completed(Event):
        closed: list[dict[str, Any]]  # each position closed: symbol, slot, side, quantity, mark, notional, PnL
        fee: Decimal
        fee_value: Decimal
        shortfall: Decimal
        returned_to_cross_wallet: Decimal

    def complete(
        self,
        closed: list[dict[str, Any]],
        fee: Decimal,
        fee_value: Decimal,
        shortfall: Decimal,
        returned_to_cross_wallet: Decimal,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        assert self.status == LiquidationStatus.IN_PROGRESS, "a liquidation completes once"
        self._completed(
            account=self.account,
            closed=closed,
            fee=fee,
            fee_value=fee_value,
            shortfall=shortfall,
            returned_to_cross_wallet=returned_to_cross_wallet,
            at=at,
            cause=cause,
        )

    @event(Completed)
    def _completed(
        self,
        account: str,
        closed: list[dict[str, Any]],
        fee: Decimal,
        fee_value: Decimal,
        shortfall: Decimal,
        returned_to_cross_wallet: Decimal,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self.closed = [dict(position) for position in closed]
        self.fee = fee
        self.fee_value = fee_value
        self.shortfall = shortfall
        self.status = LiquidationStatus.COMPLETED
        self.completed_at = at
