"""An account as it stood at any point of the store's history.

The point is a notification id: the last event to count. The event index
(`view_events`) turns a time into that id and the id into the account's version;
the account's events come from the event store, and its state then is its
product's (`ACCOUNT_STATES`, chosen by the account's mode; the spot-margin one is
`projections.margin.history`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ledger.application import Ledger
from projections.products import ByProduct
from projections.queries import Row, ViewReader, as_utc
from projections.values import event_name, json_safe

BOOKKEEPING = ("originator_id", "originator_version", "originator_topic", "timestamp")

# (app, views, the account's id, its version then, the notification id then) -> its state then
AccountState = Callable[[Ledger, ViewReader, uuid.UUID, int, int], dict[str, Any]]
ACCOUNT_STATES: ByProduct[AccountState] = ByProduct("account state")


class HistoryError(ValueError):
    """A question the store cannot answer: an unknown account, a point before it existed."""


def resolve_point(reader: ViewReader, as_of: datetime | None = None, at_event: int | None = None) -> int:
    """The notification id of the last event that counts: `at_event`, the end of the
    history up to `as_of`, or the latest the views have seen."""
    latest = reader.position()
    if at_event is not None:
        if not 1 <= at_event <= latest:
            raise HistoryError(f"--at-event {at_event}: the store's events run from 1 to {latest}")
        return at_event
    if as_of is not None:
        found = reader.last_notification_as_of(as_of)
        if found is None:
            raise HistoryError(f"--as-of {as_of.isoformat()}: the store has no event at or before it")
        return found
    return latest


def account_history(app: Ledger, reader: ViewReader, account: str, through: int) -> dict[str, Any]:
    row = reader.account(account)
    if row is None:
        raise HistoryError(f"unknown account {account!r}")
    indexed = reader.account_events(account, through)
    if not indexed:
        raise HistoryError(f"account {account!r} did not exist yet at event {through}")
    version = indexed[-1]["originator_version"]
    events = app.events.get(uuid.UUID(row["account_id"]), lte=version)
    return {
        "account": account,
        "through": {"notification_id": through, "at": iso(as_utc(reader.event_time(through)))},
        "events": [event_record(index_row, domain_event) for index_row, domain_event in zip(indexed, events)],
        "state": account_state(app, reader, row, version, through),
    }


def account_state(app: Ledger, reader: ViewReader, row: Row, version: int, through: int) -> dict[str, Any]:
    """The account of view row `row` at `version`, after event `through`, as its product tells it."""
    state = ACCOUNT_STATES.for_mode(row["mode"])
    return state(app, reader, uuid.UUID(row["account_id"]), version, through)


def event_record(index_row: Row, domain_event: Any) -> dict[str, Any]:
    assert index_row["originator_version"] == domain_event.originator_version, "index and stream disagree"
    facts = {name: value for name, value in domain_event.__dict__.items() if name not in BOOKKEEPING}
    return {
        "notification_id": index_row["notification_id"],
        "version": domain_event.originator_version,
        "event": event_name(domain_event),
        "at": iso(as_utc(index_row["at"])),
        "actor": index_row["actor"],  # who is behind it (`ledger.causes.actor_of`); None: not recorded
        "facts": json_safe(facts),
    }


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
