"""`ledger postmortem` as rich tables: the sheets of the liquidated account's product
(`POSTMORTEM_SHEETS`, chosen by the account's mode; the spot-margin ones are
`projections.presentation.margin.postmortem`), and the sheets every product shares:
the input that set the liquidation off, the account's events before the trigger and the
liquidation's own, each with its actor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console

from ledger.causes import NOT_RECORDED
from projections.presentation.tables import Sheet, facts_text, print_sheet
from projections.products import ByProduct

# (the postmortem, as `projections.postmortem` builds it) -> its sheets, in order
PostmortemSheets = Callable[[dict[str, Any]], list[Sheet]]
POSTMORTEM_SHEETS: ByProduct[PostmortemSheets] = ByProduct("postmortem sheets")


INPUT_COLUMNS = ("source", "line", "op", "event", "notification", "actor", "what it said")
EVENT_COLUMNS = ("notification", "at", "event", "actor", "what it did")
LIQUIDATION_EVENT_COLUMNS = ("notification", "at", "step", "event", "actor", "what it did")


def render_table(postmortem: dict[str, Any], console: Console) -> None:
    sheets = POSTMORTEM_SHEETS.for_mode(postmortem["account"]["mode"])(postmortem)
    for sheet in [*sheets, events_before_sheet(postmortem), liquidation_events_sheet(postmortem)]:
        print_sheet(console, sheet)


def inputs_sheet(postmortem: dict[str, Any]) -> Sheet:
    via = " <- ".join(f"{link['event']} #{link['notification_id']}" for link in postmortem["cause_chain"])
    sheet = Sheet("The input that set it off", INPUT_COLUMNS, caption=f"trigger <- {via}" if via else None)
    for row in input_rows(postmortem):
        sheet.add_row(*row)
    return sheet


def input_rows(postmortem: dict[str, Any]) -> list[tuple[str, ...]]:
    return [
        (
            str(found["source"]),
            str(found["line"]),
            str(found["op"]),
            found["event"],
            str(found["notification_id"]),
            actor_text(found.get("actor")),
            what_it_said(found),
        )
        for found in postmortem["trigger_inputs"]
    ]


def events_before_sheet(postmortem: dict[str, Any]) -> Sheet:
    before = postmortem["events_before"]
    sheet = Sheet("The account's events before the trigger", EVENT_COLUMNS, caption=earlier_text(before))
    for row in event_rows(before["events"]):
        sheet.add_row(*row)
    return sheet


def liquidation_events_sheet(postmortem: dict[str, Any]) -> Sheet:
    sheet = Sheet("The liquidation's events", LIQUIDATION_EVENT_COLUMNS)
    for row in liquidation_event_rows(postmortem["events"]):
        sheet.add_row(*row)
    return sheet


def event_rows(events: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (
            str(event["notification_id"]),
            event["at"] or "-",
            event["event"],
            actor_text(event["actor"]),
            event_summary(event),
        )
        for event in events
    ]


def liquidation_event_rows(events: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (
            str(event["notification_id"]),
            event["at"] or "-",
            event["step"] or "-",
            event["event"],
            actor_text(event["actor"]),
            event_summary(event),
        )
        for event in events
    ]


def earlier_text(before: dict[str, Any]) -> str | None:
    if not before["events"]:
        return "none"
    return f"{before['earlier']} earlier events not shown" if before["earlier"] else None


def actor_text(actor: str | None) -> str:
    """Who is behind an event; a store written before actors did not record one."""
    return NOT_RECORDED if actor is None else actor


def event_summary(event: dict[str, Any]) -> str:
    """What an event did, in one line: its facts, `name value; ...`, a book `asset amount, ...`."""
    return "; ".join(f"{name.replace('_', ' ')} {_fact_text(value)}" for name, value in event["facts"].items()) or "-"


def _fact_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{name} {_fact_text(inner)}" for name, inner in value.items()) or "-"
    if isinstance(value, list):
        return "[" + "; ".join(_fact_text(inner) for inner in value) + "]"
    return "-" if value is None else str(value)


def what_it_said(found: dict[str, Any]) -> str:
    """The input as it was given, or the facts of its event when the record is not found."""
    return facts_text(found["input"] if found["input"] is not None else found["facts"])
