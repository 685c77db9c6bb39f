"""`ledger history` as rich tables: the account's events, then its state as its
product tells it (`STATE_SHEETS`, chosen by the account's mode; the spot-margin
one is `projections.presentation.margin.report`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console

from ledger.causes import NOT_RECORDED
from projections.presentation.tables import Sheet, facts_text, output_console, print_sheet
from projections.products import ByProduct

HISTORY_FACTS_LEFT_OUT = ("account", "at", "cause")  # the table's title and columns say them

# (the account's state then, as `projections.history` gives it) -> its sheet
StateSheet = Callable[[dict[str, Any]], Sheet]
STATE_SHEETS: ByProduct[StateSheet] = ByProduct("history state sheet")


def print_history(result: dict[str, Any], console: Console | None = None) -> None:
    console = console or output_console()
    through = result["through"]
    # "#" (the notification id), not "notification": a narrower first column leaves the
    # facts room enough that an 80-column terminal still shows the events as one table
    events = Sheet(
        f"Account {result['account']}: events through notification {through['notification_id']} ({through['at']})",
        ("#", "event", "facts"),
    )
    for record in result["events"]:
        facts = {name: value for name, value in record["facts"].items() if name not in HISTORY_FACTS_LEFT_OUT}
        events.add_row(
            str(record["notification_id"]),
            f"{record['event']}\nversion {record['version']}\n{record['at'] or '-'}\n"
            f"by {record['actor'] or NOT_RECORDED}",
            facts_text(facts),
        )
    print_sheet(console, events)
    state = result["state"]
    print_sheet(console, STATE_SHEETS.for_mode(state["mode"])(state))
