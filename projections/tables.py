"""The read models: SQLAlchemy tables beside the event store's own.

Every row is derived from events by `projections.views`; nothing else writes
here except the runner's tracking position. Amounts are exact: NUMERIC on
PostgreSQL, decimal text on SQLite (whose NUMERIC would turn them into floats).
The schema is created and changed by the Alembic migrations in
`projections/migrations`, never by `metadata.create_all`.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import NUMERIC, TypeDecorator, TypeEngine


class Amount(TypeDecorator[Decimal]):
    """An exact decimal: NUMERIC on PostgreSQL, its text on SQLite."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(NUMERIC())
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        assert isinstance(value, Decimal), f"an amount must be a Decimal, not {type(value).__name__}"
        return value if dialect.name == "postgresql" else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


metadata = MetaData()

tracking = Table(
    "view_tracking",
    metadata,
    Column("application_name", String(), primary_key=True),
    Column("notification_id", BigInteger, nullable=False),
)

# Notification ids the store never committed (aborted inserts use sequence values),
# recorded once the runner has seen that no transaction could still commit them.
settled_gaps = Table(
    "view_settled_gaps",
    metadata,
    Column("notification_id", BigInteger, primary_key=True),
    Column("settled_below", BigInteger, nullable=False),  # the committed notification seen after it
)

# (account, version, time, notification id): the index of point-in-time queries.
events = Table(
    "view_events",
    metadata,
    Column("notification_id", BigInteger, primary_key=True),
    Column("originator_id", String(), nullable=False),
    Column("originator_version", Integer, nullable=False),
    Column("event", String(), nullable=False),  # e.g. "Account.Deposited"
    Column("at", DateTime(timezone=True)),
    Column("account", String()),
    Column("liquidation_id", String()),
    Column("actor", String()),  # `ledger.causes.actor_of` its cause; NULL when not recorded
    Index("ix_view_events_account", "account", "originator_version"),
    Index("ix_view_events_liquidation", "liquidation_id"),
    Index("ix_view_events_at", "at"),
    Index("ix_view_events_originator", "originator_id", "originator_version"),
)

accounts = Table(
    "view_accounts",
    metadata,
    Column("account", String(), primary_key=True),
    Column("account_id", String(), nullable=False),
    Column("mode", String(), nullable=False),
    Column("leverage", Integer),
    Column("pair", JSON),
    Column("status", String(), nullable=False),
    Column("auto_topup", JSON),
    Column("liquidation_id", String()),
    Column("liquidations", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("notification_id", BigInteger, nullable=False),
    Column("at", DateTime(timezone=True)),
)

# Per user account and asset: wallet balance, debt principal, accrued unpaid interest.
account_assets = Table(
    "view_account_assets",
    metadata,
    Column("account", String(), primary_key=True),
    Column("asset", String(), primary_key=True),
    Column("balance", Amount),
    Column("principal", Amount),
    Column("interest", Amount),
)

# The double-entry books: every entry of every event summed per holder (system
# accounts included), asset and book ("balance" or "debt").
book_totals = Table(
    "view_book_totals",
    metadata,
    Column("holder", String(), primary_key=True),
    Column("asset", String(), primary_key=True),
    Column("book", String(), primary_key=True),
    Column("amount", Amount, nullable=False),
)

liquidations = Table(
    "view_liquidations",
    metadata,
    Column("liquidation_id", String(), primary_key=True),
    Column("account", String(), nullable=False, index=True),
    Column("sequence", Integer, nullable=False),
    Column("kind", String(), nullable=False),
    Column("status", String(), nullable=False),
    Column("triggered_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("notification_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("summary", JSON, nullable=False),  # the liquidation as the report shows it
)

rejections = Table(
    "view_rejections",
    metadata,
    Column("notification_id", BigInteger, primary_key=True),
    Column("line", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("op", String(), nullable=False),
    Column("input_id", String()),
    Column("account", String()),
    Column("error", Text, nullable=False),
    Column("at", DateTime(timezone=True)),
)

marks = Table(
    "view_marks",
    metadata,
    Column("asset", String(), primary_key=True),
    Column("notification_id", BigInteger, primary_key=True),
    Column("price", Amount, nullable=False),
    Column("quote", String(), nullable=False),
    Column("at", DateTime(timezone=True)),
)

parameter_versions = Table(
    "view_parameter_versions",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("notification_id", BigInteger, nullable=False),
    Column("at", DateTime(timezone=True)),
    Column("data", JSON, nullable=False),
    Column("cause", JSON, nullable=False),
)

# --- futures (USDⓈ-M and COIN-M wallets): `projections/futures/views.py` ---

# A futures wallet beside its row in view_accounts: its asset, position mode and cross
# wallet; `settling` is the isolated margin of positions a liquidation is settling.
futures_wallets = Table(
    "view_futures_wallets",
    metadata,
    Column("account", String(), primary_key=True),
    Column("mode", String(), nullable=False),
    Column("asset", String(), nullable=False),
    Column("position_mode", String(), nullable=False),
    Column("cross_wallet_balance", Amount, nullable=False),
    Column("settling", Amount, nullable=False),
    # Since the wallet opened (`FuturesAccount.totals`).
    Column("realized_pnl", Amount, nullable=False),
    Column("funding", Amount, nullable=False),
    Column("commissions", Amount, nullable=False),
    Column("clearance_fees", Amount, nullable=False),
    Column("shortfalls_covered", Amount, nullable=False),
    Column("status", String(), nullable=False),
    Column("liquidation_id", String()),  # of the cross positions
)

# Each open position (slot "both" in one-way mode, "long"/"short" in hedge mode).
futures_positions = Table(
    "view_futures_positions",
    metadata,
    Column("account", String(), primary_key=True),
    Column("symbol", String(), primary_key=True),
    Column("slot", String(), primary_key=True),
    Column("side", String(), nullable=False),
    Column("quantity", Amount, nullable=False),
    Column("entry_price", String(), nullable=False),  # exact: `100/3` (an average of prices)
    Column("isolated_margin", Amount, nullable=False),
    Column("liquidation_id", String()),  # of this isolated position
)

# A wallet's leverage and margin type per symbol, as `leverage` inputs set them.
futures_settings = Table(
    "view_futures_settings",
    metadata,
    Column("account", String(), primary_key=True),
    Column("symbol", String(), primary_key=True),
    Column("leverage", Integer, nullable=False),
    Column("margin_type", String(), nullable=False),
)

# Every mark of a futures symbol (the latest, or the latest up to a point, is the mark then).
symbol_marks = Table(
    "view_symbol_marks",
    metadata,
    Column("symbol", String(), primary_key=True),
    Column("notification_id", BigInteger, primary_key=True),
    Column("price", Amount, nullable=False),
    Column("at", DateTime(timezone=True)),
)

# Each accepted trade that opened or increased a position: its cost to open, as recorded.
futures_trades = Table(
    "view_futures_trades",
    metadata,
    Column("notification_id", BigInteger, primary_key=True),
    Column("source", Text),
    Column("line", Integer),
    Column("account", String(), nullable=False, index=True),
    Column("symbol", String(), nullable=False),
    Column("opened_quantity", Amount, nullable=False),
    Column("initial_margin", Amount, nullable=False),
    Column("open_loss", Amount, nullable=False),
    Column("cost", Amount, nullable=False),
    Column("at", DateTime(timezone=True)),
)

# Running counts for `/metrics`, kept by the views as they pass events, so that a scrape reads
# a few rows and never counts the store: `inputs_applied`, `rejections`, and
# `liquidations` labelled `kind=...,status=...`.
counters = Table(
    "view_counters",
    metadata,
    Column("name", String(), primary_key=True),
    Column("labels", String(), primary_key=True),  # "" or "key=value,key=value", keys sorted
    Column("value", BigInteger, nullable=False),
)

# The views a rebuild empties and a reconciliation compares, with their keys.
VIEW_TABLES: tuple[Table, ...] = (
    events,
    accounts,
    account_assets,
    book_totals,
    liquidations,
    rejections,
    marks,
    parameter_versions,
    futures_wallets,
    futures_positions,
    futures_settings,
    symbol_marks,
    futures_trades,
    counters,
)

# Beside the views, not derived from events (a rebuild leaves them alone):

# The HTTP API's keys: only a digest of each is kept (the key is shown once, at creation).
api_keys = Table(
    "api_keys",
    metadata,
    Column("name", String(), primary_key=True),
    Column("role", String(), nullable=False),  # viewer, operator, admin
    Column("key_digest", String(), nullable=False, unique=True),  # sha256 hex of the key
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_by", String()),
)

# The HTTP API's long-running jobs (a replay): asked for, then run, then done or failed.
api_jobs = Table(
    "api_jobs",
    metadata,
    Column("job_id", String(), primary_key=True),
    Column("kind", String(), nullable=False),  # replay
    Column("status", String(), nullable=False),  # queued, running, done, failed
    Column("requested_by", String(), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("request", JSON, nullable=False),
    Column("result", JSON),
    Column("error", Text),
)


@functools.cache
def key_columns(table: Table) -> tuple[str, ...]:
    return tuple(column.name for column in table.primary_key.columns)
