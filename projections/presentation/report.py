"""`ledger run`'s report as rich tables: warnings, the accounts of each product (the
sheets each registered product prints, `ACCOUNT_SHEETS`: none for a product without an
account in the store), the system accounts, liquidations (each kind's cells as its
product tells them, `LIQUIDATION_CELLS`), the lists a product adds (`LIST_SHEETS`: the
futures trades), rejections and conservation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.text import Text

from ledger.domain.product import AccountMode, Product
from projections.presentation.tables import (
    WARNING_STYLE,
    Cell,
    Sheet,
    book_text,
    output_console,
    prices_text,
    print_sheet,
    print_warnings,
)
from projections.products import ByProduct

# (the report's sections of one product's accounts, by name) -> their sheets
AccountSheets = Callable[[dict[str, dict[str, Any]]], list[Sheet]]
ACCOUNT_SHEETS: ByProduct[AccountSheets] = ByProduct("report sheet")
# (the report) -> the sheets of the top-level lists a product adds to it (`REPORT_LISTS`)
ListSheets = Callable[[dict[str, Any]], list[Sheet]]
LIST_SHEETS: ByProduct[ListSheets] = ByProduct("report list sheet")
# (a liquidation as the report lists it) -> its trigger, liabilities, fee, shortfall and
# returned cells, by kind: a product whose liquidations read otherwise than the spot-margin
# ones (regular, takeover, mixed) registers its kind (`projections.presentation.futures`).
LiquidationCells = Callable[[dict[str, Any]], tuple[Cell, Cell, Cell, Cell, Cell]]
LIQUIDATION_CELLS: dict[str, LiquidationCells] = {}


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or output_console()
    print_warnings(console, report.get("warnings", []))
    for product, accounts_sheets in ACCOUNT_SHEETS.items():
        for sheet in accounts_sheets(accounts_of(report["accounts"], product)):
            print_sheet(console, sheet)
    system = Sheet("System accounts", ("account", "balances", "claims / debts"))
    for name, holding in report["system"].items():
        system.add_row(
            name, book_text(holding["balances"]), book_text(holding.get("claims") or holding.get("debts") or {})
        )
    print_sheet(console, system)
    if report["liquidations"]:
        print_sheet(console, liquidations_sheet(report["liquidations"]))
    for _product, list_sheets in LIST_SHEETS.items():
        for sheet in list_sheets(report):
            print_sheet(console, sheet)
    if report["rejections"]:
        rejections = Sheet("Rejections", ("source", "line", "op", "input id", "account", "error"))
        for rejection in report["rejections"]:
            rejections.add_row(
                rejection.get("source"),
                str(rejection["line"]),
                rejection["op"],
                rejection.get("id"),
                rejection.get("account"),
                rejection["error"],
            )
        print_sheet(console, rejections)
    if report["conservation"]:
        console.print(Text.assemble(("Conservation broken: ", WARNING_STYLE), "; ".join(report["conservation"])))


def accounts_of(accounts: dict[str, dict[str, Any]], product: Product) -> dict[str, dict[str, Any]]:
    """The report's accounts of one product, in the report's order."""
    return {name: account for name, account in accounts.items() if AccountMode(account["mode"]).product == product}


def liquidations_sheet(liquidations: list[dict[str, Any]]) -> Sheet:
    """Liquidations as the report lists them (`ledger run`, `ledger liquidations`)."""
    sheet = Sheet(
        "Liquidations", ("id", "account", "kind", "status", "trigger", "liabilities", "fee", "shortfall", "returned")
    )
    for liquidation in liquidations:
        cells = LIQUIDATION_CELLS.get(liquidation["kind"], margin_liquidation_cells)(liquidation)
        sheet.add_row(liquidation["id"], liquidation["account"], liquidation["kind"], status_text(liquidation), *cells)
    return sheet


def margin_liquidation_cells(liquidation: dict[str, Any]) -> tuple[Cell, Cell, Cell, Cell, Cell]:
    return (
        trigger_text(liquidation["trigger"]),
        book_text(liquidation["liabilities"]),
        fee_text(liquidation["fee"]),
        book_text(liquidation["shortfall"]),
        book_text(liquidation["returned"]),
    )


def status_text(liquidation: dict[str, Any]) -> str:
    """The status, and what the takeover desk holds for it while that is anything."""
    desk = liquidation.get("desk") or {}
    held, owed = desk.get("balances") or {}, desk.get("liabilities") or {}
    if not any(amount != "0" for amount in (*held.values(), *owed.values())):
        return liquidation["status"]
    return f"{liquidation['status']}\ndesk holds {book_text(held)}; owes {book_text(owed)}"


def trigger_text(trigger: dict[str, Any]) -> str:
    return (
        f"{trigger.get('at') or '-'}\nmargin level {trigger['margin_level']} <= {trigger['threshold']}\n"
        f"prices {prices_text(trigger['prices'])}\nparameters version {trigger['parameters_version']}"
    )


def fee_text(fee: dict[str, Any]) -> str:
    return f"{book_text(fee['amounts'])} (value {fee['value']})"
