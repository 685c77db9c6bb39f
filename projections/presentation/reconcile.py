"""`ledger reconcile` as rich tables: the checks, then every difference and where it is."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from projections.presentation.tables import Sheet, print_sheet, print_warnings
from projections.reconcile import Difference


def print_reconciliation(result: dict[str, Any], console: Console) -> None:
    print_warnings(console, result["warnings"])
    console.print(
        Text(
            f"views at notification {result['position']} of {result['last_notification_id']}; "
            f"{result['events_replayed']} events replayed; {result['lag']} later events not projected "
            "yet (not checked)"
        )
    )
    checks = Sheet("Checks", ("check", "result"))
    for check, outcome in result["checks"].items():
        checks.add_row(check, Text("ok", style="green") if outcome == "ok" else Text("failed", style="bold red"))
    print_sheet(console, checks)
    if result["differences"]:
        print_sheet(console, differences_sheet(result["differences"]))
        console.print(Text(f"{len(result['differences'])} differences", style="bold red"))
    else:
        console.print(Text("every check holds", style="green"))


def differences_sheet(differences: list[Difference]) -> Sheet:
    sheet = Sheet("Differences", ("check", "where", "column", "expected", "found"))
    for difference in differences:
        sheet.add_row(
            difference["check"],
            where_text(difference),
            difference.get("column") or "-",
            difference["expected"],
            difference["found"],
        )
    return sheet


def where_text(difference: Difference) -> str:
    """Everything that locates the difference, e.g. `view_account_assets account=A asset=BTC`."""
    parts: list[str] = []
    for name, value in difference.items():
        if name in ("check", "column", "expected", "found") or value is None:
            continue
        if name == "table":
            parts.append(str(value))
        elif isinstance(value, dict):
            parts += [f"{key}={item}" for key, item in value.items()]
        else:
            parts.append(f"{name}={value}")
    return " ".join(parts)
