"""`ledger reconcile`: the views and the event store checked against each other.

- conservation: per asset and book, the book totals of every holder (system
  accounts included) net to zero;
- views: every view table equals, row by row and column by column, a full
  replay of the store's events through the views' own code (`replay_rows`),
  and each user account's balances and debts equal its double-entry books;
- gaps: every notification id the views passed is in the store or was settled
  by the runner as never committed, and every aggregate's versions run 1..n.

Everything is compared up to the views' tracking position; events after it
(the lag) are reported, not checked. Each difference says where (table and
row key, asset and book, notification ids, aggregate and versions), what was
expected and what was found, as strings.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import Notification
from sqlalchemy import JSON, Column, Connection, DateTime, Engine, select

from ledger.application import Ledger
from ledger.domain.entries import imbalances
from ledger.domain.money import normalized
from ledger.domain.product import AccountMode, Product
from projections import tables
from projections.products import ByProduct
from projections.queries import as_utc
from projections.report import book_postings, fund_warnings
from projections.runner import APPLICATION_NAME, OnProgress
from projections.views import Key, Row, RowChanges, replay_rows

PAGE = 1000
READ_ATTEMPTS = 5  # a projector moving the views while they are read: read them again
CHECKS = ("conservation", "views", "accounts_match_books", "gaps", "versions")
Difference = dict[str, Any]
Books = dict[tuple[str, str, str], Decimal]  # (holder, asset, book) -> the books' total
# (every view row by table and key, the books, the accounts other products hold) -> differences
BookCheck = Callable[[dict[str, dict[Key, Row]], Books, set[str]], list[Difference]]
BOOK_CHECKS: ByProduct[BookCheck] = ByProduct("check of accounts against the books")


# --- reading ------------------------------------------------------------------------------


@dataclass
class ViewsSnapshot:
    """The views as of one tracking position: every row, keyed as compared."""

    position: int
    rows: dict[str, dict[Key, Row]]
    settled_gaps: dict[int, int]  # notification id -> the committed id seen after it


def read_views(engine: Engine) -> tuple[ViewsSnapshot, Difference | None]:
    """The views, read until the position did not move meanwhile (PostgreSQL reads
    one snapshot anyway; SQLite reads statement by statement)."""
    snapshot = read_views_once(engine)
    for _ in range(READ_ATTEMPTS):
        now = views_position(engine)
        if now == snapshot.position:
            return snapshot, None
        snapshot = read_views_once(engine)
    return snapshot, {
        "check": "views",
        "expected": "the views at one position while read",
        "found": f"moved from {snapshot.position} to {views_position(engine)}",
    }


def read_views_once(engine: Engine) -> ViewsSnapshot:
    with snapshot_connection(engine) as connection:
        position = tracked_position(connection)
        rows = {table.name: table_rows(connection, table) for table in tables.VIEW_TABLES}
        settled = {row.notification_id: row.settled_below for row in connection.execute(select(tables.settled_gaps))}
    return ViewsSnapshot(position, rows, settled)


@contextmanager
def snapshot_connection(engine: Engine) -> Iterator[Connection]:
    """On PostgreSQL one transaction sees one state of every table."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection


def views_position(engine: Engine) -> int:
    with engine.connect() as connection:
        return tracked_position(connection)


def tracked_position(connection: Connection) -> int:
    return (
        connection.execute(
            select(tables.tracking.c.notification_id).where(tables.tracking.c.application_name == APPLICATION_NAME)
        ).scalar()
        or 0
    )


def table_rows(connection: Connection, table: Any) -> dict[Key, Row]:
    rows = [dict(found) for found in connection.execute(select(table)).mappings()]
    return {row_key(table, row): row for row in rows}


@dataclass
class StoreReading:
    """The store's notifications up to the views' position, read once, noting
    which ids and aggregate versions are there."""

    app: Ledger
    through: int
    on_progress: OnProgress | None = None
    ids: list[int] = field(default_factory=list)
    versions: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    current: Notification | None = None

    def notifications(self) -> Iterator[Notification]:
        start = 1
        while start <= self.through:
            page = self.app.recorder.select_notifications(start=start, limit=PAGE, stop=self.through)
            if not page:
                return
            for notification in page:
                self.current = notification
                self.ids.append(notification.id)
                self.versions[str(notification.originator_id)].append(notification.originator_version)
                yield notification
            start = page[-1].id + 1
            if self.on_progress is not None:
                self.on_progress("replaying the store's events", page[-1].id, self.through)


def replay(reading: StoreReading) -> tuple[RowChanges | None, Difference | None]:
    """What every view must hold, from the same code the runner uses.

    A store that cannot be replayed (a deleted or corrupted event breaks an
    aggregate's sequence) is itself a finding: it is reported, and the rest of
    the notifications are still read for the gap and version checks."""
    notifications = reading.notifications()
    events = ((notification.id, reading.app.mapper.to_domain_event(notification)) for notification in notifications)
    try:
        return replay_rows(events), None
    except Exception as error:  # noqa: BLE001 - any failure of the replay is a difference to list
        failed = reading.current
        for _ in notifications:
            pass
        return None, {
            "check": "views",
            "notification_id": None if failed is None else failed.id,
            "originator_id": None if failed is None else str(failed.originator_id),
            "version": None if failed is None else failed.originator_version,
            "expected": "the events replay from event 1",
            "found": f"{type(error).__name__}: {error}",
        }


def events_after(app: Ledger, position: int) -> int:
    """How many committed events the views have not reached yet."""
    count, start = 0, position + 1
    while page := app.recorder.select_notifications(start=start, limit=PAGE):
        count += len(page)
        start = page[-1].id + 1
    return count


# --- comparing values --------------------------------------------------------------------


def comparable(column: Column[Any], value: Any) -> Any:
    """One form of a value however the backend gave it back: amounts compare as
    numbers (1.50 == 1.5), times as UTC instants, JSON as parsed values (tuples
    become lists, as stored)."""
    return None if value is None else comparable_as(column.type, value)


@functools.singledispatch
def comparable_as(column_type: Any, value: Any) -> Any:
    """A value as a column of this type compares it: as given, unless its type is registered."""
    return value


@comparable_as.register
def _amount(column_type: tables.Amount, value: Any) -> Decimal:
    return Decimal(value)


@comparable_as.register
def _time(column_type: DateTime, value: Any) -> Any:
    return as_utc(value)


@comparable_as.register
def _json(column_type: JSON, value: Any) -> Any:
    return json.loads(json.dumps(value))


def row_key(table: Any, row: Row) -> Key:
    return tuple(comparable(table.c[name], row[name]) for name in tables.key_columns(table))


@functools.singledispatch
def text_of(value: Any) -> str:
    return str(value)


@text_of.register(type(None))
def _null(value: None) -> str:
    return "null"


@text_of.register
def _decimal_text(value: Decimal) -> str:
    return normalized(value)


@text_of.register
def _time_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@text_of.register(dict)
@text_of.register(list)
def _json_text(value: dict[str, Any] | list[Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def key_text(table: Any, key: Key) -> dict[str, str]:
    return {name: text_of(value) for name, value in zip(tables.key_columns(table), key)}


def row_text(table: Any, row: Row) -> str:
    """The row's other columns, for a row that is missing or extra."""
    keys = tables.key_columns(table)
    values = {
        column.name: json_value(comparable(column, row.get(column.name)))
        for column in table.columns
        if column.name not in keys
    }
    return json.dumps(values, separators=(",", ":"))


def json_value(value: Any) -> Any:
    """Numbers, texts, JSON and null as they are; amounts and times as their text."""
    if isinstance(value, (Decimal, datetime)):
        return text_of(value)
    return value


def sort_key(key: Key) -> tuple[Any, ...]:
    # key columns hold text or integers; the type name keeps a corrupted value sortable
    return tuple((type(value).__name__, value) for value in key)


# --- the checks --------------------------------------------------------------------------


def conservation_differences(book_rows: Iterable[Row]) -> list[Difference]:
    """Conservation (`ledger.domain.entries.imbalances`) over the views' book totals."""
    return [
        {
            "check": "conservation",
            "asset": imbalance.asset,
            "book": imbalance.book,
            "expected": "0",
            "found": normalized(imbalance.total),
        }
        for imbalance in imbalances(book_postings(book_rows))
    ]


def view_differences(expected: RowChanges, found: dict[str, dict[Key, Row]]) -> list[Difference]:
    differences: list[Difference] = []
    for table in tables.VIEW_TABLES:
        # a key set to None by the replay is a row that must not exist
        wanted = {row_key(table, row): row for row in expected.by_table[table.name].values() if row is not None}
        differences += table_differences(table, wanted, found[table.name])
    return differences


def table_differences(table: Any, expected: dict[Key, Row], found: dict[Key, Row]) -> list[Difference]:
    differences: list[Difference] = []
    for key in sorted(expected.keys() | found.keys(), key=sort_key):
        where = {"check": "views", "table": table.name, "key": key_text(table, key)}
        if key not in found:
            differences.append({**where, "column": None, "expected": row_text(table, expected[key]), "found": "no row"})
        elif key not in expected:
            differences.append({**where, "column": None, "expected": "no row", "found": row_text(table, found[key])})
        else:
            differences += column_differences(table, where, expected[key], found[key])
    return differences


def column_differences(table: Any, where: Difference, expected: Row, found: Row) -> list[Difference]:
    differences: list[Difference] = []
    for column in table.columns:
        wanted = comparable(column, expected.get(column.name))
        stored = comparable(column, found.get(column.name))
        if wanted != stored:
            differences.append({**where, "column": column.name, "expected": text_of(wanted), "found": text_of(stored)})
    return differences


def book_differences(found: dict[str, dict[Key, Row]]) -> list[Difference]:
    """Each user account's own rows against its totals in the double-entry books, as its
    product checks them (`BOOK_CHECKS`; the spot-margin one is `projections.margin.reconcile`).
    Each product is told which accounts are another's; an account whose row names no
    known mode (a corrupted view, which the views check lists) is every product's to check."""
    books = {
        (row["holder"], row["asset"], row["book"]): row["amount"] for row in found[tables.book_totals.name].values()
    }
    products = {row["account"]: product_of(row["mode"]) for row in found[tables.accounts.name].values()}
    differences: list[Difference] = []
    for product, check in BOOK_CHECKS.items():
        others = {account for account, its in products.items() if its not in (product, None)}
        differences += check(found, books, others)
    return differences


def product_of(mode: Any) -> Product | None:
    try:
        return AccountMode(mode).product
    except ValueError:
        return None


def gap_differences(present_ids: list[int], settled: dict[int, int], position: int) -> list[Difference]:
    """Ids missing below the position must be settled (proved never committed);
    a settled id found in the store committed after the views passed it."""
    present = set(present_ids)
    differences: list[Difference] = []
    for missing in runs([number for number in missing_numbers(present, position) if number not in settled]):
        differences.append(
            {
                "check": "gaps",
                "notification_ids": run_text(missing),
                "expected": "committed, or settled as never committed",
                "found": "missing, not settled",
            }
        )
    for number in sorted(settled):
        if number in present:
            differences.append(
                {
                    "check": "gaps",
                    "notification_ids": str(number),
                    "expected": f"never committed (settled below {settled[number]})",
                    "found": "committed after the runner passed it: the views skipped it",
                }
            )
    return differences


def version_differences(versions: dict[str, list[int]]) -> list[Difference]:
    """Every aggregate's versions run 1..n: a hole is a deleted event."""
    differences: list[Difference] = []
    for originator_id, numbers in sorted(versions.items()):
        last = max(numbers)
        for missing in runs(missing_numbers(set(numbers), last)):
            differences.append(
                {
                    "check": "versions",
                    "originator_id": originator_id,
                    "versions": run_text(missing),
                    "expected": f"versions 1 to {last} without a hole",
                    "found": "missing",
                }
            )
    return differences


def missing_numbers(present: set[int], last: int) -> list[int]:
    return [number for number in range(1, last + 1) if number not in present]


def runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Consecutive numbers as (first, last): one difference per hole, not per id."""
    found: list[tuple[int, int]] = []
    for number in sorted(numbers):
        if found and found[-1][1] == number - 1:
            found[-1] = (found[-1][0], number)
        else:
            found.append((number, number))
    return found


def run_text(run: tuple[int, int]) -> str:
    first, last = run
    return str(first) if first == last else f"{first}-{last}"


# --- the command ---------------------------------------------------------------------------


def reconcile_store(app: Ledger, engine: Engine, on_progress: OnProgress | None = None) -> dict[str, Any]:
    views, moved = read_views(engine)
    reading = StoreReading(app, views.position, on_progress)
    expected, replay_failure = replay(reading)
    book_rows = views.rows[tables.book_totals.name].values()
    found_differences: dict[str, list[Difference]] = {
        "conservation": conservation_differences(book_rows),
        "views": ([moved] if moved else [])
        + ([replay_failure] if expected is None else view_differences(expected, views.rows)),
        "accounts_match_books": book_differences(views.rows),
        "gaps": gap_differences(reading.ids, views.settled_gaps, views.position),
        "versions": version_differences(reading.versions),
    }
    differences = [difference for check in CHECKS for difference in found_differences[check]]
    return {
        "ok": not differences,
        # the exchange's loss, shown first; the books still hold, so it fails no check
        "warnings": fund_warnings(book_rows),
        "position": views.position,
        "last_notification_id": app.recorder.max_notification_id() or 0,
        "lag": events_after(app, views.position),
        "events_replayed": len(reading.ids),
        "checks": {check: "failed" if found_differences[check] else "ok" for check in CHECKS},
        "differences": differences,
    }
