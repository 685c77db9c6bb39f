"""What the futures read side reads from its views: a wallet's row, its open positions
and per-symbol settings, and the trades that opened or increased positions."""

from __future__ import annotations

from sqlalchemy import select

from projections import tables
from projections.queries import Row, ViewReader


class FuturesReader(ViewReader):
    def wallet(self, account: str) -> Row | None:
        table = tables.futures_wallets
        rows = self._rows(select(table).where(table.c.account == account))
        return rows[0] if rows else None

    def positions(self, account: str) -> list[Row]:
        """Ordered by symbol, then slot (as the account lists its held positions)."""
        table = tables.futures_positions
        return self._rows(select(table).where(table.c.account == account).order_by(table.c.symbol, table.c.slot))

    def settings(self, account: str) -> list[Row]:
        table = tables.futures_settings
        return self._rows(select(table).where(table.c.account == account).order_by(table.c.symbol))

    def trades(self) -> list[Row]:
        """In the order they were recorded."""
        table = tables.futures_trades
        return self._rows(select(table).order_by(table.c.notification_id))
