"""The rows of the exports an accountant takes away: the journal, the balances as of a
time, the liquidations with their figures. What they hold, not how a file encodes them
(`projections.presentation.exports`).

- The journal is the store's notification log read in pages, so memory stays the same
  however long it is: for every event that moves value, the entries it lists
  (`ledger.domain.entries`, the same entries `view_book_totals` sums), both sides of
  each posting as two signed rows naming each other.
- The balances as of a time are those rows summed per (account, asset, book) over the
  history's prefix up to that time, the prefix `ledger history --as-of` reads
  (`ViewReader.last_notification_as_of`): memory grows with the keys, not the journal.
- The liquidations are `view_liquidations`' rows, each summary's figures one row each,
  whatever its product: the summary is walked, never asked which product wrote it.

Times filter inclusively at both ends (`--since` at or after, `--until` at or before),
as `ledger liquidations` and `ledger history --as-of` read them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine, select

from ledger.application import Ledger
from ledger.causes import actor_of
from ledger.domain.entries import SYSTEM_ACCOUNTS, Entry
from ledger.domain.money import ZERO
from projections import tables
from projections.queries import ViewReader, as_utc
from projections.values import event_name

Row = dict[str, Any]
KINDS = ("journal", "balances", "liquidations")
PAGE = 1000  # notifications read at a time
# What a liquidation's row is, beside its figures: these summary fields are columns of their own.
LIQUIDATION_IDENTITY = ("id", "account", "kind", "status")


class ExportError(ValueError):
    """An export that cannot be made as asked: the message names the argument at fault,
    and `argument` is its name (None for a fault of the data)."""

    def __init__(self, message: str, argument: str | None = None):
        super().__init__(message)
        self.argument = argument


@dataclass(frozen=True)
class ExportQuery:
    kind: str
    since: datetime | None = None
    until: datetime | None = None
    account: str | None = None


def check_query(reader: ViewReader, query: ExportQuery) -> None:
    """Raises ExportError naming the argument at fault, before anything is read or written."""
    if query.kind not in KINDS:
        raise ExportError(f"kind {query.kind!r}: use {', '.join(KINDS[:-1])} or {KINDS[-1]}", "kind")
    if query.since is not None and query.until is not None and query.since > query.until:
        raise ExportError(f"--since {_iso(query.since)} is after --until {_iso(query.until)}", "since")
    if query.kind == "balances" and query.since is not None:
        raise ExportError("--since: balances are as of one time; give --until (default: now)", "since")
    if query.account is not None and query.account not in SYSTEM_ACCOUNTS and reader.account(query.account) is None:
        raise ExportError(f"--account {query.account!r}: no such account in the store", "account")


def export_rows(app: Ledger, engine: Engine, query: ExportQuery, page: int = PAGE) -> Iterator[Row]:
    """The rows of a checked query, read as they are asked for, up to the views' position
    (bring the views up to date first: the journal then agrees with `history`)."""
    reader = ViewReader(engine)
    if query.kind == "journal":
        return journal_rows(app, reader.position(), query.since, query.until, query.account, page)
    if query.kind == "balances":
        return balance_rows(app, reader, query.until, query.account, page)
    return liquidation_rows(engine, query.since, query.until, query.account)


# --- the journal ------------------------------------------------------------------------------


def journal_rows(
    app: Ledger,
    through: int,
    since: datetime | None = None,
    until: datetime | None = None,
    account: str | None = None,
    page: int = PAGE,
) -> Iterator[Row]:
    """Both sides of every posting of events 1 to `through`, in the log's order, as two
    signed rows; with `since`/`until`, the events whose ledger time is within them; with
    `account`, the rows whose account it is."""
    for notification_id, event in logged_events(app, through, page):
        moment = as_utc(getattr(event, "at", None))
        if moment is None or (since is not None and moment < since) or (until is not None and moment > until):
            continue
        for row in event_rows(notification_id, event, moment):
            if account is None or row["account"] == account:
                yield row


def logged_events(app: Ledger, through: int, page: int = PAGE) -> Iterator[tuple[int, Any]]:
    """(notification id, event) of events 1 to `through`, read `page` at a time."""
    start = 1
    while start <= through:
        notifications = app.recorder.select_notifications(start=start, limit=page, stop=through)
        if not notifications:
            return
        for notification in notifications:
            yield notification.id, app.mapper.to_domain_event(notification)
        start = notifications[-1].id + 1


def event_rows(notification_id: int, event: Any, moment: datetime) -> Iterator[Row]:
    entries = getattr(event, "entries", None)
    if entries is None:
        return
    facts = {
        "notification_id": notification_id,
        "event": event_name(event),
        "at": moment,
        "actor": actor_of(getattr(event, "cause", None)),
    }
    for debit, credit in postings(entries()):
        for side, other in ((debit, credit), (credit, debit)):
            yield {
                **facts,
                "account": side.account,
                "counter_account": other.account,
                "asset": side.asset,
                "amount": side.amount,
                "book": side.book,
            }


def postings(entries: list[Entry]) -> Iterator[tuple[Entry, Entry]]:
    """An event's entries as the postings they were made of: every entry list is built of
    `move`s, each the source's entry followed by the destination's (ledger.domain.entries).
    A pair that does not mirror itself would be a posting this reading cannot name: it
    stops the export rather than name a wrong counter-account."""
    if len(entries) % 2:
        raise ValueError(f"an odd number of entries ({len(entries)}) cannot be paired into postings")
    for source, destination in zip(entries[::2], entries[1::2]):
        if (source.asset, source.book) != (destination.asset, destination.book) or source.amount != -destination.amount:
            raise ValueError(f"entries {source} and {destination} are not the two sides of one posting")
        yield source, destination


# --- the balances ---------------------------------------------------------------------------


def balance_rows(
    app: Ledger, reader: ViewReader, until: datetime | None = None, account: str | None = None, page: int = PAGE
) -> Iterator[Row]:
    """Per account, asset and book, the journal summed over the history up to `until` (or
    all of it): the prefix `ledger history --as-of` reads, ending before the first event
    later than `until`. Rows in account, asset, book order."""
    through = reader.position() if until is None else reader.last_notification_as_of(until) or 0
    totals: dict[tuple[str, str, str], Decimal] = {}
    for row in journal_rows(app, through, account=account, page=page):
        key = (row["account"], row["asset"], row["book"])
        totals[key] = totals.get(key, ZERO) + row["amount"]
    as_of = until if until is not None else as_utc(reader.event_time(through)) if through else None
    for (holder, asset, book), amount in sorted(totals.items()):
        yield {
            "as_of": as_of,
            "notification_id": through,
            "account": holder,
            "asset": asset,
            "book": book,
            "amount": amount,
        }


# --- the liquidations -----------------------------------------------------------------------


def liquidation_rows(
    engine: Engine, since: datetime | None = None, until: datetime | None = None, account: str | None = None
) -> Iterator[Row]:
    """Every figure of every liquidation (margin and futures), oldest trigger first, as
    `ledger liquidations` lists them; `since`/`until` bound the trigger time."""
    for liquidation in liquidations(engine, since, until, account):
        identity = {
            "liquidation_id": liquidation["liquidation_id"],
            "account": liquidation["account"],
            "kind": liquidation["kind"],
            "status": liquidation["status"],
            "triggered_at": as_utc(liquidation["triggered_at"]),
            "completed_at": as_utc(liquidation["completed_at"]),
        }
        summary = {key: value for key, value in liquidation["summary"].items() if key not in LIQUIDATION_IDENTITY}
        for figure, value, text in summary_figures(summary):
            yield {**identity, "figure": figure, "value": value, "text": text}


def liquidations(
    engine: Engine, since: datetime | None, until: datetime | None, account: str | None, page: int = PAGE
) -> Iterator[Row]:
    """view_liquidations' rows, streamed (`ViewReader.liquidations` holds them all)."""
    table = tables.liquidations
    statement = select(table).order_by(table.c.triggered_at, table.c.account, table.c.sequence)
    if account is not None:
        statement = statement.where(table.c.account == account)
    if since is not None:
        statement = statement.where(table.c.triggered_at >= since)
    if until is not None:
        statement = statement.where(table.c.triggered_at <= until)
    with engine.connect() as connection:
        for found in connection.execution_options(yield_per=page).execute(statement).mappings():
            yield dict(found)


def summary_figures(value: Any, path: str = "") -> Iterator[tuple[str, Decimal | None, str | None]]:
    """(figure, value, text) for every leaf of a summary: its dotted path (a list's items
    by their index), and the leaf as an exact decimal when it is one (an amount, a price,
    a level, a version), else as its text (a side, an asset, a time, an exact fraction)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from summary_figures(item, f"{path}.{key}" if path else str(key))
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from summary_figures(item, f"{path}.{index}")
        return
    if value is None:
        yield path, None, None
        return
    number = exact_decimal(value)
    yield path, number, None if number is not None else str(value)


def exact_decimal(value: Any) -> Decimal | None:
    """The value as a finite decimal, if it is one written as the read models write them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    # Only plain decimal text: "Infinity", "NaN" or "1E+5" are not amounts the views write.
    return number if number.is_finite() and value.lstrip("-").replace(".", "", 1).isdigit() else None


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
