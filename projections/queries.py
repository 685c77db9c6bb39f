"""What the report, history, postmortem and reconciliation read from the views."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from ledger.domain.parameters import RiskParameters, first_version_data
from ledger.domain.prices import Mark, PriceBook
from projections import tables

Row = dict[str, Any]


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite gives times back without their zone; every time here is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


class ViewReader:
    def __init__(self, engine: Engine):
        self.engine = engine

    def _rows(self, statement: Any) -> list[Row]:
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(statement).mappings()]

    def _one(self, statement: Any) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(statement).scalar()

    # --- current state ------------------------------------------------------------------

    def accounts(self) -> list[Row]:
        return self._rows(select(tables.accounts).order_by(tables.accounts.c.account))

    def account(self, name: str) -> Row | None:
        rows = self._rows(select(tables.accounts).where(tables.accounts.c.account == name))
        return rows[0] if rows else None

    def account_assets(self, name: str) -> list[Row]:
        table = tables.account_assets
        return self._rows(select(table).where(table.c.account == name).order_by(table.c.asset))

    def book_totals(self) -> list[Row]:
        table = tables.book_totals
        return self._rows(select(table).order_by(table.c.holder, table.c.asset, table.c.book))

    def liquidations(
        self,
        account: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        kind: str | None = None,
        status: str | None = None,
    ) -> list[Row]:
        """Oldest first (`liquidation_order`), narrowed by each filter given (`liquidations_query`)."""
        return self._rows(liquidations_query(account, since, until, kind, status))

    def liquidations_with_id_prefix(self, prefix: str, limit: int) -> tuple[list[Row], int]:
        """The first `limit` liquidations (oldest first) whose id starts with `prefix`, and
        how many there are in all."""
        liquidation = tables.liquidations
        matching = liquidation.c.liquidation_id.startswith(prefix, autoescape=True)
        rows = self._rows(
            select(liquidation)
            .where(matching)
            .order_by(liquidation.c.triggered_at, liquidation.c.account, liquidation.c.sequence)
            .limit(limit)
        )
        return rows, self._one(select(func.count()).select_from(liquidation).where(matching))

    def rejections(self) -> list[Row]:
        return self._rows(select(tables.rejections).order_by(tables.rejections.c.notification_id))

    def prices(self, through: int | None = None) -> PriceBook:
        """The marks (of assets and of futures symbols) and parameters in force after
        notification `through` (default: now)."""
        return PriceBook(self.marks(through), self.parameters(through), self.symbol_marks(through))

    def marks(self, through: int | None = None) -> dict[str, Mark]:
        table = tables.marks
        latest = select(table.c.asset, func.max(table.c.notification_id).label("notification_id"))
        if through is not None:
            latest = latest.where(table.c.notification_id <= through)
        latest = latest.group_by(table.c.asset).subquery()
        rows = self._rows(
            select(table).join(
                latest, (table.c.asset == latest.c.asset) & (table.c.notification_id == latest.c.notification_id)
            )
        )
        return {row["asset"]: Mark(price=row["price"], quote=row["quote"]) for row in rows}

    def symbol_marks(self, through: int | None = None) -> dict[str, Mark]:
        """The latest mark of each futures symbol (quoted in itself, as `SymbolMarket.mark` is)."""
        table = tables.symbol_marks
        latest = select(table.c.symbol, func.max(table.c.notification_id).label("notification_id"))
        if through is not None:
            latest = latest.where(table.c.notification_id <= through)
        latest = latest.group_by(table.c.symbol).subquery()
        rows = self._rows(
            select(table).join(
                latest, (table.c.symbol == latest.c.symbol) & (table.c.notification_id == latest.c.notification_id)
            )
        )
        return {row["symbol"]: Mark(price=row["price"], quote=row["symbol"], at=as_utc(row["at"])) for row in rows}

    def parameters(self, through: int | None = None) -> RiskParameters:
        row = self.parameter_version(through)
        if row is None:
            return RiskParameters(first_version_data({}), 0)
        return RiskParameters(row["data"], row["version"])

    def parameter_version(self, through: int | None = None) -> Row | None:
        table = tables.parameter_versions
        statement = select(table).order_by(table.c.notification_id.desc()).limit(1)
        if through is not None:
            statement = statement.where(table.c.notification_id <= through)
        rows = self._rows(statement)
        return rows[0] if rows else None

    # --- the event index ------------------------------------------------------------------

    def last_notification_as_of(self, moment: datetime) -> int | None:
        """The end of the history's prefix up to `moment`: the notification before the first
        event whose ledger time is later (a later run may start at an earlier time, so
        "the last event at or before" would reach past events that came after `moment`)."""
        table = tables.events
        first_later = self._one(select(func.min(table.c.notification_id)).where(table.c.at > moment))
        through = self.position() if first_later is None else first_later - 1
        any_before = self._one(
            select(func.max(table.c.notification_id)).where(table.c.at <= moment, table.c.notification_id <= through)
        )
        return None if any_before is None else through

    def event_time(self, notification_id: int) -> datetime | None:
        """The ledger time at that point: of the latest event up to it that has one (an id
        may be a settled gap, or an event without a ledger time, such as a directory log)."""
        table = tables.events
        return as_utc(
            self._one(
                select(table.c.at)
                .where(table.c.notification_id <= notification_id, table.c.at.is_not(None))
                .order_by(table.c.notification_id.desc())
                .limit(1)
            )
        )

    def events_named(self, name: str) -> list[Row]:
        table = tables.events
        return self._rows(select(table).where(table.c.event == name).order_by(table.c.notification_id))

    def events_named_before(self, name: str, notification_id: int, limit: int) -> list[Row]:
        """The last `limit` events of that name at or before `notification_id`, latest first."""
        table = tables.events
        return self._rows(
            select(table)
            .where(table.c.event == name, table.c.notification_id <= notification_id)
            .order_by(table.c.notification_id.desc())
            .limit(limit)
        )

    def mark_notifications(self, assets: set[str], start: int, end: int) -> list[int]:
        table = tables.marks
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(table.c.notification_id).where(
                        table.c.asset.in_(sorted(assets)), table.c.notification_id.between(start, end)
                    )
                ).scalars()
            )

    def account_events(self, name: str, through: int | None = None) -> list[Row]:
        """The events of the account's own aggregate (not its liquidations'), whatever its product."""
        table = tables.events
        account_id = select(tables.accounts.c.account_id).where(tables.accounts.c.account == name).scalar_subquery()
        statement = select(table).where(table.c.account == name, table.c.originator_id == account_id)
        if through is not None:
            statement = statement.where(table.c.notification_id <= through)
        return self._rows(statement.order_by(table.c.notification_id))

    def liquidation_events(self, liquidation_id: str) -> list[Row]:
        table = tables.events
        return self._rows(
            select(table).where(table.c.liquidation_id == liquidation_id).order_by(table.c.notification_id)
        )

    def aggregate_version_at(self, originator_id: str, through: int) -> int | None:
        table = tables.events
        return self._one(
            select(func.max(table.c.originator_version)).where(
                table.c.originator_id == originator_id, table.c.notification_id <= through
            )
        )

    def position(self) -> int:
        return self._one(select(func.max(tables.tracking.c.notification_id))) or 0


def liquidation_order() -> tuple[Any, ...]:
    """Oldest first: by trigger time, then account (as the takeover desk serves them,
    `ledger.domain.margin.decisions.takeover_order`), whichever worker happened to save first."""
    liquidation = tables.liquidations
    return (liquidation.c.triggered_at, liquidation.c.account, liquidation.c.sequence)


def liquidations_query(
    account: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    kind: str | None = None,
    status: str | None = None,
) -> Any:
    """The liquidations in `liquidation_order`; each filter given narrows the list, `since`
    and `until` include their moment."""
    liquidation = tables.liquidations
    statement = select(liquidation).order_by(*liquidation_order())
    for column, wanted in (
        (liquidation.c.account, account),
        (liquidation.c.kind, kind),
        (liquidation.c.status, status),
    ):
        if wanted is not None:
            statement = statement.where(column == wanted)
    if since is not None:
        statement = statement.where(liquidation.c.triggered_at >= since)
    if until is not None:
        statement = statement.where(liquidation.c.triggered_at <= until)
    return statement
