"""`ledger postmortem` as rich tables: the sheets of the liquidated account's product
(`POSTMORTEM_SHEETS`, chosen by the account's mode; the spot-margin ones are
`projections.presentation.margin.postmortem`), and the sheet every product shares:
the input that set the liquidation off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console

from projections.presentation.tables import Sheet, facts_text, print_sheet
from projections.products import ByProduct

# (the postmortem, as `projections.postmortem` builds it) -> its sheets, in order
PostmortemSheets = Callable[[dict[str, Any]], list[Sheet]]
POSTMORTEM_SHEETS: ByProduct[PostmortemSheets] = ByProduct("postmortem sheets")


def render_table(postmortem: dict[str, Any], console: Console) -> None:
    for sheet in POSTMORTEM_SHEETS.for_mode(postmortem["account"]["mode"])(postmortem):
        print_sheet(console, sheet)


def inputs_sheet(postmortem: dict[str, Any]) -> Sheet:
    via = " <- ".join(f"{link['event']} #{link['notification_id']}" for link in postmortem["cause_chain"])
    sheet = Sheet(
        "The input that set it off",
        ("source", "line", "op", "event", "notification", "what it said"),
        caption=f"trigger <- {via}" if via else None,
    )
    for found in postmortem["trigger_inputs"]:
        sheet.add_row(
            str(found["source"]),
            str(found["line"]),
            str(found["op"]),
            found["event"],
            str(found["notification_id"]),
            what_it_said(found),
        )
    return sheet


def what_it_said(found: dict[str, Any]) -> str:
    """The input as it was given, or the facts of its event when the record is not found."""
    return facts_text(found["input"] if found["input"] is not None else found["facts"])
