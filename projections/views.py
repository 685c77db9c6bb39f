"""Events -> view rows: the one place the read models are derived.

Aggregates are followed with their own mutators (`event.mutate`), so a view row
says exactly what the aggregate says: the rules live in the domain, not here.
The double-entry books are the sum of every event's entries, each event's
entries asserted to net to zero as they are read. The running counters of
`/metrics` (view_counters: inputs recorded, rejections, liquidations by kind and
status) move with the events that change them, in the same batch as the rows.

`LedgerViews` turns each event into row changes kept in memory; the runner
(`projections.runner`) writes a batch's changes and its tracking position in
one transaction. A full replay for reconciliation runs the same code into
memory only. A row that many events of a batch change (an account's, a book
total, a counter) is built once, when the batch's changes are taken, from the
state its last event left: the rows written are the same as if each event had
built it, at a fraction of the cost (7.8 row updates an event for 1.4 rows written).

What an event changes beyond the event index and the books is looked up by its
class (`LedgerViews.update`, a `singledispatchmethod` as the library's own
`Projection.process_event`). The views every product shares (marks, rejections,
parameter versions) are registered here; a product registers its aggregates'
views from its own module (`projections/margin/views.py`).
"""

from __future__ import annotations

import functools
import operator
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, NamedTuple

import msgspec
from eventsourcing.domain import Aggregate

from ledger.causes import actor_of
from ledger.dispatch import singledispatchmethod
from ledger.domain.entries import AccountingEvent, assert_balanced, imbalances
from ledger.domain.market import AssetMarket, InputRejected, InputsRecorded, InputsSaved, ParameterSet
from ledger.domain.money import ZERO
from projections import tables
from projections.values import event_name, json_safe

Key = tuple[Any, ...]
Row = dict[str, Any]
# (table name, key) -> the row as stored, or None when there is none
RowLoader = Callable[[str, Key], Row | None]
# (aggregate id, version) -> the aggregate as it stood at that version
AggregateLoader = Callable[[uuid.UUID, int], Aggregate]
# (changes, aggregate, its last event, that event's notification id, what the aggregate held
# before the batch's first event of it): puts and deletes the aggregate's rows
AggregateRows = Callable[["RowChanges", Any, Any, int, Any], None]

# The running counters (view_counters' names): each input recorded, each rejection, and
# the liquidations of each kind now in each status.
INPUTS_APPLIED = "inputs_applied"
REJECTIONS = "rejections"
LIQUIDATIONS = "liquidations"

# An event class -> the part of its state the views read, when they read only a part
# (a msgspec.Struct with a method `state()`: the runner decodes that part alone,
# `projections.decoding`). Its handler below reads nothing else of the event.
PARTIAL_STATES: dict[type, type[Any]] = {}


class SubmittedInput(msgspec.Struct):
    """Of an input an InputsRecorded holds, what the views read: whether it is a run's
    --params overlay (its other fields, the inputs log's, are skipped)."""

    overlay: Any = None


class InputsRead(msgspec.Struct):
    """What the views read of an InputsRecorded (`LedgerViews._inputs`), most of a store's
    bytes: each input's overlay mark."""

    inputs: list[SubmittedInput]

    def state(self) -> dict[str, Any]:
        return {"inputs": [{"overlay": record.overlay} for record in self.inputs]}


PARTIAL_STATES[InputsRecorded] = InputsRead


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


@functools.singledispatch
def liquidation_of(event: Any) -> Any:
    """The liquidation an event belongs to, for the event index: the one it names, if any.
    A product's liquidation aggregate registers its events (their originator)."""
    return getattr(event, "liquidation_id", None)


class EventClass(NamedTuple):
    """What the views do with an event of a class, looked up once a class (the single
    dispatches cost a few microseconds an event)."""

    name: str
    liquidation_of: Callable[[Any], Any]
    update: Callable[[LedgerViews, Any, int], None]
    has_entries: bool  # its events post entries to the books
    accounting: bool  # its events are a user account's or its liquidation's (AccountingEvent)


class PendingRows:
    """An aggregate whose rows are built at the batch's end: how, and from what."""

    __slots__ = ("rows", "held_before", "event", "notification_id")

    def __init__(self, rows: AggregateRows, held_before: Any, event: Any, notification_id: int):
        self.rows = rows
        self.held_before = held_before
        self.event = event
        self.notification_id = notification_id


def liquidation_row(liquidation: Any, notification_id: int, summary: dict[str, Any]) -> Row:
    """A liquidation's row in view_liquidations, whichever product's: what every
    liquidation has (account, sequence, kind, status, times, version) and the summary
    its product writes."""
    return {
        "liquidation_id": str(liquidation.id),
        "account": liquidation.account,
        "sequence": liquidation.sequence,
        "kind": str(liquidation.kind),
        "status": liquidation.status,
        "triggered_at": liquidation.triggered_at,
        "completed_at": liquidation.completed_at,
        "notification_id": notification_id,
        "version": liquidation.version,
        "summary": summary,
    }


def liquidation_labels(liquidation: Any) -> str:
    """The labels a liquidation is counted under, as its row says its kind and status."""
    return counter_labels(kind=str(liquidation.kind), status=str(liquidation.status))


def counter_labels(**labels: str) -> str:
    """A counter's labels as view_counters keeps them: "" or "key=value,key=value", keys sorted."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def parse_labels(text: str) -> dict[str, str]:
    """The labels `counter_labels` wrote."""
    return dict(pair.split("=", 1) for pair in text.split(",")) if text else {}


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
        # Held by the id's number: a UUID's == and hash are Python code, run for every event.
        self.aggregates: dict[int, Aggregate] = {}
        self.book_amounts: dict[Key, Decimal] = {}
        self.counter_values: dict[Key, int] = {}  # (name, labels) -> the count
        self.classes: dict[type, EventClass] = {}
        self.id_texts: dict[int, str] = {}  # an aggregate id's number -> its text
        self.changes = RowChanges()
        # What the events since the last `take_changes` changed, its rows not built yet:
        self.pending: dict[int, PendingRows] = {}  # by aggregate id's number
        # (dicts as ordered sets: rows are written in the order the events first moved them)
        self.books_moved: dict[Key, None] = {}
        self.counters_moved: dict[Key, None] = {}

    def take_changes(self) -> RowChanges:
        """The rows the events since the last call set (each row built once, here)."""
        self._build_pending_rows()
        changes, self.changes = self.changes, RowChanges()
        # (id_texts too: an aggregate no view follows, a receipt, has its id's text held)
        if len(self.aggregates) + len(self.book_amounts) + len(self.id_texts) > self.cache_limit:
            self.forget()
        return changes

    def forget(self) -> None:
        """Drops what is held in memory: it is loaded again when next needed."""
        self.aggregates.clear()
        self.id_texts.clear()
        self.book_amounts.clear()
        self.counter_values.clear()
        self.changes = RowChanges()
        self.pending.clear()
        self.books_moved.clear()
        self.counters_moved.clear()

    def _build_pending_rows(self) -> None:
        changes = self.changes
        for aggregate_id, pending in self.pending.items():
            pending.rows(
                changes, self.aggregates[aggregate_id], pending.event, pending.notification_id, pending.held_before
            )
        self.pending.clear()
        amounts = self.book_amounts
        for holder, asset, book in self.books_moved:
            changes.put(
                tables.book_totals,
                {"holder": holder, "asset": asset, "book": book, "amount": amounts[(holder, asset, book)]},
            )
        self.books_moved.clear()
        for name, labels in self.counters_moved:
            changes.put(tables.counters, {"name": name, "labels": labels, "value": self.counter_values[(name, labels)]})
        self.counters_moved.clear()

    # --- one event ------------------------------------------------------------------

    def process(self, notification_id: int, event: Any) -> None:
        described = self.classes.get(event.__class__) or self._described(event)
        self._index(notification_id, event, described)
        if described.has_entries:
            listed = event.entries()
            # The write side asserts it before saving; a store written otherwise is caught here.
            if imbalances([(entry.asset, entry.book, entry.amount) for entry in listed]):
                assert_balanced(event)  # raises, naming the event and what its books net to
            self._post(listed)
        described.update(self, event, notification_id)

    @singledispatchmethod
    def update(self, event: Any, notification_id: int) -> None:
        """The rows an event of this class sets beyond the index and the books: none,
        unless a view registers its class."""

    @update.register
    def _mark(self, event: AssetMarket.MarkRecorded, notification_id: int) -> None:
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

    @update.register
    def _inputs(self, event: InputsRecorded, notification_id: int) -> None:
        # A run's --params overlay is kept as a record among them, but nobody submitted it.
        # (The runner decodes only `InputsRead` of these events: what is read here.)
        submitted = sum(1 for record in event.inputs if not record.get("overlay"))
        if submitted:
            self.count(INPUTS_APPLIED, by=submitted)

    @update.register
    def _inputs_apart(self, event: InputsSaved, notification_id: int) -> None:
        # The inputs themselves are kept apart (`ledger.recorders`); the event counts them.
        if event.submitted:
            self.count(INPUTS_APPLIED, by=event.submitted)

    @update.register
    def _rejection(self, event: InputRejected, notification_id: int) -> None:
        self.count(REJECTIONS)
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

    @update.register
    def _parameters(self, event: ParameterSet.Event, notification_id: int) -> None:
        parameter_set: ParameterSet = self.follow(event)
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

    def _described(self, event: Any) -> EventClass:
        kind = event.__class__
        described = self.classes.get(kind)
        if described is None:
            described = self.classes[kind] = EventClass(
                event_name(event),
                liquidation_of.dispatch(kind),
                LedgerViews.__dict__["update"].dispatcher.dispatch(kind),  # the function `update` calls
                callable(getattr(kind, "entries", None)),
                issubclass(kind, AccountingEvent),
            )
        return described

    def _index(self, notification_id: int, event: Any, described: EventClass) -> None:
        liquidation_id = described.liquidation_of(event)
        self.changes.by_table[tables.events.name][(notification_id,)] = {
            "notification_id": notification_id,
            "originator_id": self._id_text(event.originator_id),
            "originator_version": event.originator_version,
            "event": described.name,
            "at": getattr(event, "at", None),  # ledger time; directory logs have none
            # The user account an event is about: an account's or its liquidation's event names
            # it (a rejection names one too, but is not its event).
            "account": event.account if described.accounting else None,
            "liquidation_id": None if liquidation_id is None else str(liquidation_id),
            "actor": actor_of(getattr(event, "cause", None)),
        }

    def _id_text(self, aggregate_id: uuid.UUID) -> str:
        """An id's text, made once an id (its events are indexed by it, each)."""
        text = self.id_texts.get(aggregate_id.int)
        if text is None:
            text = self.id_texts[aggregate_id.int] = str(aggregate_id)
        return text

    # --- what a registered view reads -------------------------------------------------

    def state_before(self, event: Any) -> Any:
        """The event's aggregate as it stood before the event (None before its first)."""
        aggregate = self.aggregates.get(event.originator_id.int)
        if aggregate is None and event.originator_version > 1:
            assert self.load_aggregate is not None, f"no state for {event.originator_id} before its event"
            aggregate = self.aggregates[event.originator_id.int] = self.load_aggregate(
                event.originator_id, event.originator_version - 1
            )
        return aggregate

    def follow(self, event: Any) -> Any:
        """The event's aggregate after the event, held for the next one."""
        aggregate = event.mutate(self.state_before(event))
        self.aggregates[event.originator_id.int] = aggregate
        return aggregate

    def follow_rows(self, event: Any, notification_id: int, rows: AggregateRows, held: Callable[[Any], Any]) -> Any:
        """`follow`, with the aggregate's rows built once at the batch's end by `rows`, from
        its state then and what `held` (of the aggregate, or of None before its first
        event) says it held before the batch's first event of it: the rows it had then."""
        pending = self.pending.get(event.originator_id.int)
        if pending is None:
            held_before = held(self.state_before(event))
            aggregate = self.follow(event)
            self.pending[event.originator_id.int] = PendingRows(rows, held_before, event, notification_id)
            return aggregate
        pending.event, pending.notification_id = event, notification_id
        return self.follow(event)

    def follow_liquidation(self, event: Any, notification_id: int, summary: Callable[[Any], dict[str, Any]]) -> None:
        """A liquidation's row after its event, whichever product's (`summary` is its
        product's), and its count moved from the status it left to the one it is in."""
        before = self.state_before(event)
        counted_before = None if before is None else liquidation_labels(before)  # follow changes it in place
        liquidation = self.follow(event)
        self.changes.put(tables.liquidations, liquidation_row(liquidation, notification_id, summary(liquidation)))
        counted = liquidation_labels(liquidation)
        if counted != counted_before:
            if counted_before is not None:
                self.count(LIQUIDATIONS, counted_before, by=-1)
            self.count(LIQUIDATIONS, counted)

    def count(self, name: str, labels: str = "", by: int = 1) -> None:
        """Moves a running counter (`/metrics`), loading it once from its row."""
        key = (name, labels)
        if key not in self.counter_values:
            stored = self._load(tables.counters.name, key)
            self.counter_values[key] = 0 if stored is None else stored["value"]
        self.counter_values[key] += by
        self.counters_moved[key] = None

    def _post(self, entries: Iterable[Any]) -> None:
        """Each entry added to its book's total, loading the total once from its row."""
        amounts, moved = self.book_amounts, self.books_moved
        for entry in entries:
            key = (entry.account, entry.asset, entry.book)
            total = amounts.get(key)
            if total is None:
                stored = self._load(tables.book_totals.name, key)
                total = ZERO if stored is None else stored["amount"]
            amounts[key] = total + entry.amount
            moved[key] = None

    def _load(self, table_name: str, key: Key) -> Row | None:
        return None if self.load_row is None else self.load_row(table_name, key)


def replay_rows(events: Iterable[tuple[int, Any]]) -> RowChanges:
    """Every view row, from event 1, in memory: what the tables must hold."""
    views = LedgerViews()
    for notification_id, event in events:
        views.process(notification_id, event)
    return views.take_changes()
