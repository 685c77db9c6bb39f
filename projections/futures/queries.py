"""What the futures read side reads from its views: a wallet's row, its open positions
and per-symbol settings, the trades that opened or increased positions, and when the
symbols were marked."""

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

    def opening_trades(self, account: str, after: int, before: int) -> list[Row]:
        """The account's trades that opened or increased a position, strictly between
        notifications `after` and `before`, in order: where and in which symbol."""
        table = tables.futures_trades
        statement = select(table.c.notification_id, table.c.symbol).where(
            table.c.account == account, table.c.notification_id > after, table.c.notification_id < before
        )
        return self._rows(statement.order_by(table.c.notification_id))

    def symbol_mark_notifications(self, symbols: set[str], start: int, end: int) -> list[int]:
        """The notifications, `start` to `end`, of the marks of `symbols`."""
        table = tables.symbol_marks
        statement = select(table.c.notification_id).where(
            table.c.symbol.in_(sorted(symbols)), table.c.notification_id.between(start, end)
        )
        return [row["notification_id"] for row in self._rows(statement.order_by(table.c.notification_id))]
