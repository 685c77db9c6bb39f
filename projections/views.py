"""Events -> view rows: the one place the read models are derived.

Accounts, liquidations and the parameter set are followed with their own
aggregates' mutators (`event.mutate`), so a view row says exactly what the
aggregate says: the rules live in the domain, not here. The double-entry
books are the sum of every event's entries.

`LedgerViews` turns each event into row changes kept in memory; the runner
(`projections.runner`) writes a batch's changes and its tracking position in
one transaction. A full replay for reconciliation runs the same code into
memory only.
"""

from __future__ import annotations

import functools
import operator
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Aggregate

from ledger.domain.margin.account import Account
from ledger.domain.margin.liquidation import Liquidation
from ledger.domain.market import AssetMarket, InputRejected, ParameterSet
from ledger.domain.money import ZERO, normalized
from projections import tables

Key = tuple[Any, ...]
Row = dict[str, Any]
# (table name, key) -> the row as stored, or None when there is none
RowLoader = Callable[[str, Key], Row | None]
# (aggregate id, version) -> the aggregate as it stood at that version
AggregateLoader = Callable[[uuid.UUID, int], Aggregate]

FOLLOWED = (Account, Liquidation, ParameterSet)


def amounts_text(book: dict[str, Decimal]) -> dict[str, str]:
    return {asset: normalized(amount) for asset, amount in sorted(book.items())}


def book_text(book: dict[str, Any]) -> str:
    """A book of amounts as a table cell: "0.5 BTC, 100 USDC", or "-" when empty."""
    return ", ".join(f"{amount} {asset}" for asset, amount in book.items()) or "-"


def event_name(event: Any) -> str:
    return type(event).__qualname__


def liquidation_summary(liquidation: Liquidation) -> dict[str, Any]:
    """The liquidation as the report shows it."""
    trigger = liquidation.trigger
    return {
        "id": str(liquidation.id),
        "account": liquidation.account,
        "kind": liquidation.kind,
        "status": liquidation.status,
        "trigger": {
            "margin_level": normalized(trigger["margin_level"]),
            "threshold": normalized(trigger["threshold"]),
            "prices": amounts_text(trigger["prices"]),
            "parameters_version": trigger["parameters_version"],
            "at": trigger["at"].isoformat().replace("+00:00", "Z"),
        },
        "liabilities": amounts_text(liquidation.liabilities_at_trigger),
        "fee": {"amounts": amounts_text(liquidation.fee_amounts or {}), "value": normalized(liquidation.fee_value)},
        "returned": amounts_text(liquidation.returned),
        "shortfall": amounts_text(liquidation.shortfall),
        "desk": {
            "balances": amounts_text(liquidation.desk_balances),
            "liabilities": amounts_text(liquidation.desk_liabilities()),
        },
    }


def json_safe(value: Any) -> Any:
    """Decimals as strings, ids as text, times as ISO text: what a JSON column keeps."""
    if isinstance(value, Decimal):
        return normalized(value)
    if isinstance(value, (uuid.UUID, datetime)):
        return value.isoformat() if isinstance(value, datetime) else str(value)
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


@functools.cache
def row_key(table: Any) -> Callable[[Row], Key]:
    """The function giving a row's primary key as a tuple (called for every row put)."""
    columns = tables.key_columns(table)
    if len(columns) == 1:
        (column,) = columns
        return lambda row: (row[column],)
    return operator.itemgetter(*columns)


class RowChanges:
    """The rows a batch of events sets, per table and key (None: the row is deleted)."""

    def __init__(self) -> None:
        self.by_table: dict[str, dict[Key, Row | None]] = {table.name: {} for table in tables.VIEW_TABLES}

    def put(self, table: Any, row: Row) -> None:
        self.by_table[table.name][row_key(table)(row)] = row

    def delete(self, table: Any, key: Key) -> None:
        self.by_table[table.name][key] = None

    def count(self) -> int:
        return sum(len(rows) for rows in self.by_table.values())


class LedgerViews:
    """Follows the store's events and says which view rows they set.

    It is the views' only writer, so what it has seen is authoritative: rows and
    aggregates it does not hold yet are loaded once (from the view tables and
    the event store) and then followed in memory.
    """

    def __init__(
        self,
        load_row: RowLoader | None = None,
        load_aggregate: AggregateLoader | None = None,
        cache_limit: int = 200_000,
    ):
        self.load_row = load_row
        self.load_aggregate = load_aggregate
        self.cache_limit = cache_limit
        self.aggregates: dict[uuid.UUID, Aggregate] = {}
        self.book_amounts: dict[Key, Decimal] = {}
        self.changes = RowChanges()

    def take_changes(self) -> RowChanges:
        changes, self.changes = self.changes, RowChanges()
        if len(self.aggregates) + len(self.book_amounts) > self.cache_limit:
            self.forget()
        return changes

    def forget(self) -> None:
        """Drops what is held in memory: it is loaded again when next needed."""
        self.aggregates.clear()
        self.book_amounts.clear()
        self.changes = RowChanges()

    # --- one event ------------------------------------------------------------------

    def process(self, notification_id: int, event: Any) -> None:
        self._index(notification_id, event)
        entries = getattr(event, "entries", None)
        if entries is not None:
            for entry in entries():
                self._post(entry.account, entry.asset, entry.book, entry.amount)
        if isinstance(event, Account.Event):
            held_before = account_asset_names(self._state_before(event))
            self._account_row(notification_id, event, self._follow(event), held_before)
        elif isinstance(event, Liquidation.Event):
            self._liquidation_row(notification_id, event, self._follow(event))
        elif isinstance(event, ParameterSet.Event):
            self._parameters_row(notification_id, event, self._follow(event))
        elif isinstance(event, AssetMarket.MarkRecorded):
            self.changes.put(
                tables.marks,
                {
                    "asset": event.asset,
                    "notification_id": notification_id,
                    "price": event.price,
                    "quote": event.quote,
                    "at": event.at,
                },
            )
        elif isinstance(event, InputRejected):
            self.changes.put(
                tables.rejections,
                {
                    "notification_id": notification_id,
                    "line": event.line,
                    "source": event.source,
                    "op": event.op,
                    "input_id": event.input_id,
                    "account": event.account,
                    "error": event.error,
                    "at": event.at,
                },
            )

    def _index(self, notification_id: int, event: Any) -> None:
        if isinstance(event, Liquidation.Event):
            liquidation_id: Any = event.originator_id
        else:
            liquidation_id = getattr(event, "liquidation_id", None)
        self.changes.put(
            tables.events,
            {
                "notification_id": notification_id,
                "originator_id": str(event.originator_id),
                "originator_version": event.originator_version,
                "event": event_name(event),
                "at": getattr(event, "at", None),  # ledger time; directory logs have none
                "account": event.account if isinstance(event, (Account.Event, Liquidation.Event)) else None,
                "liquidation_id": None if liquidation_id is None else str(liquidation_id),
            },
        )

    def _state_before(self, event: Any) -> Any:
        """The event's aggregate as it stood before the event (None before its first)."""
        aggregate = self.aggregates.get(event.originator_id)
        if aggregate is None and event.originator_version > 1:
            assert self.load_aggregate is not None, f"no state for {event.originator_id} before its event"
            aggregate = self.aggregates[event.originator_id] = self.load_aggregate(
                event.originator_id, event.originator_version - 1
            )
        return aggregate

    def _follow(self, event: Any) -> Any:
        aggregate = event.mutate(self._state_before(event))
        self.aggregates[event.originator_id] = aggregate
        return aggregate

    def _post(self, holder: str, asset: str, book: str, amount: Decimal) -> None:
        key = (holder, asset, book)
        if key not in self.book_amounts:
            stored = self._load(tables.book_totals.name, key)
            self.book_amounts[key] = ZERO if stored is None else stored["amount"]
        total = self.book_amounts[key] = self.book_amounts[key] + amount
        self.changes.put(tables.book_totals, {"holder": holder, "asset": asset, "book": book, "amount": total})

    def _load(self, table_name: str, key: Key) -> Row | None:
        return None if self.load_row is None else self.load_row(table_name, key)

    # --- rows from followed aggregates ------------------------------------------------

    def _account_row(self, notification_id: int, event: Any, account: Account, held_before: set[str]) -> None:
        self.changes.put(
            tables.accounts,
            {
                "account": account.name,
                "account_id": str(account.id),
                "mode": account.mode,
                "leverage": account.leverage,
                "pair": account.pair,
                "status": account.status,
                "auto_topup": json_safe(account.auto_topup),
                "liquidation_id": None if account.liquidation_id is None else str(account.liquidation_id),
                "liquidations": account.liquidations_started,
                "version": account.version,
                "notification_id": notification_id,
                "at": event.at,
            },
        )
        held = account_asset_names(account)
        for gone in held_before - held:
            self.changes.delete(tables.account_assets, (account.name, gone))
        for asset in sorted(held):
            self.changes.put(
                tables.account_assets,
                {
                    "account": account.name,
                    "asset": asset,
                    "balance": account.balances.get(asset),
                    "principal": account.principal.get(asset),
                    "interest": account.interest.get(asset),
                },
            )

    def _liquidation_row(self, notification_id: int, event: Any, liquidation: Liquidation) -> None:
        self.changes.put(
            tables.liquidations,
            {
                "liquidation_id": str(liquidation.id),
                "account": liquidation.account,
                "sequence": liquidation.sequence,
                "kind": liquidation.kind,
                "status": liquidation.status,
                "triggered_at": liquidation.triggered_at,
                "completed_at": liquidation.completed_at,
                "notification_id": notification_id,
                "version": liquidation.version,
                "summary": liquidation_summary(liquidation),
            },
        )

    def _parameters_row(self, notification_id: int, event: Any, parameter_set: ParameterSet) -> None:
        self.changes.put(
            tables.parameter_versions,
            {
                "version": parameter_set.parameter_version,
                "notification_id": notification_id,
                "at": event.at,
                "data": json_safe(parameter_set.data),
                "cause": json_safe(event.cause),
            },
        )


def account_asset_names(account: Account | None) -> set[str]:
    """The assets an account has a row for: any it holds, owes or owes interest on."""
    if account is None:
        return set()
    return set(account.balances) | set(account.principal) | set(account.interest)


def replay_rows(events: Iterable[tuple[int, Any]]) -> RowChanges:
    """Every view row, from event 1, in memory: what the tables must hold."""
    views = LedgerViews()
    for notification_id, event in events:
        views.process(notification_id, event)
    return views.changes
