"""The `ledger` command. It only translates: arguments in, the application called, a report out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from ledger.inline import open_validated, run_inputs
from ledger.inputs import InputErrors, parse_parameter_file
from ledger.store import StoreURLError, store_url
from projections.report import build_report

app = typer.Typer(help="An event-sourced account ledger for margin trading.", no_args_is_help=True,
                  add_completion=False)
err = Console(stderr=True)

StoreOption = Annotated[Optional[str], typer.Option("--store", help="Store URL (default $LEDGER_STORE or sqlite:///ledger.db)")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document")]


@app.callback()
def main() -> None:
    """An event-sourced account ledger for margin trading."""


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="A scenario file (JSON Lines)")],
    params: Annotated[Optional[Path], typer.Option("--params", help="A parameter overlay (JSON object)")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Applies a scenario to the store, runs every process it sets off, and prints the report."""
    try:
        text = scenario.read_text()
        overlay = parse_parameter_file(params.read_text(), str(params)) if params else {}
        ledger, inputs = open_validated(store_url(store), text, scenario.name, overlay)
    except InputErrors as errors:
        _exit_input_errors(errors)
    except (OSError, StoreURLError, psycopg.OperationalError) as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None
    run_inputs(ledger, inputs)
    report = build_report(ledger)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        print_report(report)


def _exit_input_errors(errors: InputErrors) -> None:
    for error in errors.errors:
        print(str(error), file=sys.stderr)
    raise typer.Exit(2)


def print_report(report: dict[str, Any]) -> None:
    console = Console()
    accounts = Table(title="Accounts")
    for column in ("account", "mode", "balances", "debts", "interest", "margin level", "status"):
        accounts.add_column(column)
    for name, account in report["accounts"].items():
        accounts.add_row(name, f"{account['mode']} {account['leverage'] or ''}x".replace(" x", ""),
                         _book(account["balances"]), _book(account["debts"]), _book(account["interest"]),
                         account["margin_level"] or "-", account["status"])
    console.print(accounts)
    system = Table(title="System accounts")
    system.add_column("account")
    system.add_column("balances")
    for name, holding in report["system"].items():
        system.add_row(name, _book(holding["balances"]))
    console.print(system)
    if report["liquidations"]:
        liquidations = Table(title="Liquidations")
        for column in ("account", "kind", "status", "trigger ML", "liabilities", "fee", "returned"):
            liquidations.add_column(column)
        for liquidation in report["liquidations"]:
            liquidations.add_row(liquidation["account"], liquidation["kind"], liquidation["status"],
                                 liquidation["trigger"]["margin_level"], _book(liquidation["liabilities"]),
                                 f"{_book(liquidation['fee']['amounts'])} (value {liquidation['fee']['value']})",
                                 _book(liquidation["returned"]))
        console.print(liquidations)
    if report["rejections"]:
        rejections = Table(title="Rejections")
        for column in ("line", "op", "error"):
            rejections.add_column(column)
        for rejection in report["rejections"]:
            rejections.add_row(str(rejection["line"]), rejection["op"], rejection["error"])
        console.print(rejections)
    if report["conservation"]:
        console.print("[bold red]Conservation broken:[/] " + "; ".join(report["conservation"]))


def _book(book: dict[str, str]) -> str:
    return ", ".join(f"{amount} {asset}" for asset, amount in book.items()) or "-"


if __name__ == "__main__":  # pragma: no cover
    app()
