"""`ledger replay` as a rich table: what would have differed, account by account."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

from projections.presentation.tables import Sheet, book_text, print_sheet


def print_counterfactual(result: dict[str, Any], console: Console) -> None:
    sheet = Sheet(
        f"Replay of {result['inputs_replayed']} recorded inputs with {json.dumps(result['params'])}",
        ("account", "what", "recorded", "replayed"),
    )
    for difference in result["differences"]:
        sheet.add_row(
            difference["account"],
            difference["what"],
            describe(difference["what"], difference["recorded"]),
            describe(difference["what"], difference["replayed"]),
        )
    print_sheet(console, sheet)
    if not result["differences"]:
        console.print("Nothing would have differed.")


def describe(what: str, value: Any) -> str:
    if isinstance(value, dict):
        return book_text(value)
    if what != "liquidations":
        return str(value)
    if not value:
        return "none"
    return "; ".join(
        f"{item['kind']} at {item['trigger_at']} (ML {item['trigger_margin_level']}), fee value "
        f"{item['fee']['value']}, returned {book_text(item['returned'])}"
        for item in value
    )
