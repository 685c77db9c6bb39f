"""A futures symbol's market data: its marks and funding settlements, in one stream
per symbol (as an asset's marks are in `ledger.domain.market.AssetMarket`)."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Aggregate, event

from ledger.domain.identity import NAMESPACE
from ledger.domain.prices import Mark
from ledger.domain.timestamps import OrderedTimestamps


@functools.lru_cache(maxsize=10_000)
def symbol_market_id(symbol: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"futures-symbol:{symbol}")


class SymbolMarket(Aggregate):
    """Marks and funding settlements of one futures symbol."""

    class Event(OrderedTimestamps, Aggregate.Event):
        at: datetime
        cause: dict[str, Any]

    class Listed(Aggregate.Created, Event):
        symbol: str

    @staticmethod
    def create_id(symbol: str, **_: Any) -> uuid.UUID:
        return symbol_market_id(symbol)

    @event(Listed)
    def __init__(self, symbol: str, at: datetime, cause: dict[str, Any]):
        self.symbol = symbol
        self.mark_price: Decimal | None = None
        self.marked_at: datetime | None = None
        self.fundings = 0

    @property
    def mark(self) -> Mark | None:
        if self.mark_price is None:
            return None
        return Mark(self.mark_price, quote=self.symbol, at=self.marked_at)

    class MarkRecorded(Event):
        symbol: str
        price: Decimal

    @event(MarkRecorded)
    def record_mark(self, symbol: str, price: Decimal, at: datetime, cause: dict[str, Any]) -> None:
        self.mark_price = price
        self.marked_at = at

    class FundingAnnounced(Event):
        """A funding settlement at `at`: every open position of the symbol settles
        `notional at the mark x rate` (the accounts record each payment)."""

        symbol: str
        rate: Decimal
        mark: Decimal
        sequence: int
        parameters_version: int

    def announce_funding(self, rate: Decimal, parameters_version: int, at: datetime, cause: dict[str, Any]) -> None:
        assert self.mark_price is not None, "funding needs a mark (the command refuses it before)"
        self._funding_announced(
            symbol=self.symbol,
            rate=rate,
            mark=self.mark_price,
            sequence=self.fundings + 1,
            parameters_version=parameters_version,
            at=at,
            cause=cause,
        )

    @event(FundingAnnounced)
    def _funding_announced(
        self,
        symbol: str,
        rate: Decimal,
        mark: Decimal,
        sequence: int,
        parameters_version: int,
        at: datetime,
        cause: dict[str, Any],
    ) -> None:
        self.fundings = sequence
