"""One liquidation told step by step: what every product's postmortem shares.

This module finds the liquidation (by its id or the start of one), follows the
trigger's causes back to the input that set it off, and gives the product of the
liquidated account (`POSTMORTEMS`, chosen by the account's mode) the rest: its
steps, its parameters and its chart (the spot-margin one is
`projections.margin.postmortem`). Shared here too: the account's events before the
trigger and the liquidation's own (`told_event`), each with the actor behind it
(`ledger.causes.actor_of`: None for a store written before actors). The postmortem is
data; `projections.presentation` prints it as tables or an HTML page.

Every amount is a decimal string.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from ledger.application import Ledger
from ledger.causes import actor_of
from ledger.log import causing_event
from projections.history import BOOKKEEPING, HistoryError, iso
from projections.products import ByProduct
from projections.queries import Row, ViewReader, as_utc
from projections.values import json_safe

CANDIDATES_NAMED = 10  # an ambiguous id prefix names this many of the liquidations it starts
ID_PREFIX = re.compile(r"[0-9a-f-]{1,36}")  # the start of a UUID as printed (lower case)
CAUSE_CHAIN_LIMIT = 50  # a cause chain longer than this is a bug in the processes, not a history
EVENTS_BEFORE_LIMIT = 50  # the account's most recent events before the trigger that are told
# Facts every event carries that a step does not need to repeat.
SHARED_FACTS = {"account", "at", "cause", "liquidation_id"}

# (app, views, the liquidation's row in view_liquidations, its account's in view_accounts) -> the postmortem
Postmortem = Callable[[Ledger, ViewReader, Row, Row], dict[str, Any]]
POSTMORTEMS: ByProduct[Postmortem] = ByProduct("postmortem")


def build_postmortem(app: Ledger, reader: ViewReader, liquidation_id: str) -> dict[str, Any]:
    """The liquidation `liquidation_id` as its account's product tells it."""
    row = liquidation_row(reader, liquidation_id)
    account = reader.account(row["account"])
    assert account is not None, f"liquidation {row['liquidation_id']} names unknown account {row['account']}"
    return POSTMORTEMS.for_mode(account["mode"])(app, reader, row, account)


class UnknownLiquidation(HistoryError):
    """No liquidation has the id given, or the text given is no id."""


class AmbiguousLiquidation(HistoryError):
    """The start of an id that several liquidations share; `candidates` names some."""

    def __init__(self, message: str, candidates: list[str]):
        super().__init__(message)
        self.candidates = candidates


def liquidation_row(reader: ViewReader, given: str) -> Row:
    """The liquidation whose id is `given`, or the one whose id starts with it (`ledger
    postmortem` and the API alike)."""
    prefix = _id_prefix(given)
    rows, count = reader.liquidations_with_id_prefix(prefix, limit=CANDIDATES_NAMED)
    if count == 0:
        raise UnknownLiquidation(
            f"no liquidation in this store has an id starting with {prefix} (`ledger liquidations` lists them)"
        )
    if count > 1:
        named = "; ".join(
            f"{row['liquidation_id']} ({row['account']}, {iso(as_utc(row['triggered_at']))})" for row in rows
        )
        more = f"; and {count - len(rows)} more" if count > len(rows) else ""
        raise AmbiguousLiquidation(
            f"{prefix} starts {count} liquidation ids: {named}{more}; give more of the id",
            [str(row["liquidation_id"]) for row in rows],
        )
    return rows[0]


def _id_prefix(given: str) -> str:
    """A whole id in any form a UUID is written (canonical, without hyphens, braced), or
    the start of one as the report prints it."""
    text = given.strip().lower()
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    if not ID_PREFIX.fullmatch(text):
        raise UnknownLiquidation(
            f"{given!r} is not a liquidation id (a UUID, or the start of one: `ledger liquidations` lists them)"
        )
    return text


def stored_event(app: Ledger, index_row: Row) -> Any:
    """The domain event an index row points at, from the event store."""
    version = index_row["originator_version"]
    found = list(app.events.get(uuid.UUID(index_row["originator_id"]), gt=version - 1, lte=version))
    assert len(found) == 1, f"notification {index_row['notification_id']} is not in the event store"
    return found[0]


def _event_at(app: Ledger, notification_id: int) -> Any | None:
    """The domain event of one notification id, from the store's own log (None for an id
    the store never committed: PostgreSQL leaves such gaps)."""
    try:
        return causing_event(app, notification_id)
    except LookupError:
        return None


def event_facts(event: Any, leave_out: set[str] = SHARED_FACTS) -> dict[str, Any]:
    return json_safe(
        {name: value for name, value in event.__dict__.items() if name not in BOOKKEEPING and name not in leave_out}
    )


# --- what set it off -------------------------------------------------------------------


def cause_chain(app: Ledger, cause: dict[str, Any]) -> list[tuple[int, Any]]:
    """(notification id, event) from the trigger's cause back to the input that started it:
    each process step names the notification it reacted to."""
    chain: list[tuple[int, Any]] = []
    while cause.get("kind") == "process":
        assert len(chain) < CAUSE_CHAIN_LIMIT, "a cause chain without an input at its end"
        notification_id = cause["notification_id"]
        event = _event_at(app, notification_id)
        assert event is not None, f"a cause names notification {notification_id}, which the store does not hold"
        chain.append((notification_id, event))
        cause = cause_of(event)
    return chain


def chain_link(link: tuple[int, Any]) -> dict[str, Any]:
    notification_id, event = link
    return {
        "notification_id": notification_id,
        "event": type(event).__qualname__,
        "at": iso(getattr(event, "at", None)),
        "actor": actor_of(cause_of(event)),
        "cause": json_safe(getattr(event, "cause", None)),
    }


def trigger_inputs(app: Ledger, reader: ViewReader, chain: list[tuple[int, Any]]) -> list[dict[str, Any]]:
    """The input at the end of the chain: where it was read, its op and what it said."""
    if not chain:
        return []
    notification_id, event = chain[-1]
    cause = cause_of(event)
    if cause.get("kind") != "input":
        return []
    return [
        {
            "source": cause.get("source"),
            "line": cause.get("line"),
            "op": cause.get("op"),
            "input_id": cause.get("input_id"),
            "actor": actor_of(cause),
            "notification_id": notification_id,
            "event": type(event).__qualname__,
            "at": iso(getattr(event, "at", None)),
            "facts": event_facts(event),
            "input": _recorded_input(app, reader, notification_id, cause),
        }
    ]


def _recorded_input(
    app: Ledger, reader: ViewReader, notification_id: int, cause: dict[str, Any]
) -> dict[str, Any] | None:
    """The input as it was given: inputs are recorded (`InputsSaved`, or `InputsRecorded` in
    stores written before) in the save that applies them, so the record is among the last
    few at or before its events."""
    rows = [
        *reader.events_named_before("InputsSaved", notification_id, limit=3),
        *reader.events_named_before("InputsRecorded", notification_id, limit=3),
    ]
    for row in sorted(rows, key=lambda row: row["notification_id"], reverse=True)[:3]:
        for record in app.inputs_of(stored_event(app, row)):
            if record.get("source") == cause.get("source") and record.get("line") == cause.get("line"):
                return json_safe(record.get("input"))
    return None


def point_before_input(app: Ledger, chain: list[tuple[int, Any]], trigger_at: int) -> int:
    """The last notification before the triggering input's first event: the position
    as it stood when the input came."""
    if not chain:
        return trigger_at - 1
    first, event = chain[-1]
    cause = cause_of(event)
    while first > 1 and _same_input(cause_of(_event_at(app, first - 1)), cause):
        first -= 1
    return first - 1


def cause_of(event: Any | None) -> dict[str, Any]:
    """An event's cause; none for a missing event or one that records none (directory logs)."""
    return getattr(event, "cause", None) or {}


def _same_input(cause: dict[str, Any], other: dict[str, Any]) -> bool:
    return (
        cause.get("kind") == other.get("kind") == "input"
        and cause.get("source") == other.get("source")
        and cause.get("line") == other.get("line")
    )


# --- the events around it -----------------------------------------------------------------


def told_event(app: Ledger, index_row: Row, step: str | None = None) -> dict[str, Any]:
    """One event as the postmortem's event tables tell it: when, what, who (None: a store
    written before actors), its facts, and the step of the liquidation it belongs to."""
    event = stored_event(app, index_row)
    return {
        "notification_id": index_row["notification_id"],
        "at": iso(as_utc(index_row["at"])),
        "event": index_row["event"],
        "actor": actor_of(cause_of(event)),
        "step": step,
        "facts": event_facts(event),
    }


def events_before(app: Ledger, reader: ViewReader, account: str, trigger_at: int) -> dict[str, Any]:
    """The account's own events before the trigger, the most recent `EVENTS_BEFORE_LIMIT`
    of them (how the account came to it), and how many earlier ones are left out."""
    rows = [row for row in reader.account_events(account, trigger_at) if row["notification_id"] < trigger_at]
    kept = rows[-EVENTS_BEFORE_LIMIT:]
    return {"events": [told_event(app, row) for row in kept], "earlier": len(rows) - len(kept)}


def last_account_event(reader: ViewReader, account: str, through: int) -> Row | None:
    """The account's own latest event at or before notification `through`."""
    rows = reader.account_events(account, through)
    return rows[-1] if rows else None
