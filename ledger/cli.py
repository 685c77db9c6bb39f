"""The `ledger` command. It only translates: arguments in, the application called, a report out."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import psycopg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ledger import service_cli
from ledger.cli_errors import err, exit_input_errors, exit_usage
from ledger.inline import open_validated, run_inputs
from ledger.inputs import InputErrors, parse_parameter_file, parse_time
from ledger.store import StoreURLError, store_exists, store_url
from projections.history import HistoryError, account_history, resolve_point
from projections.queries import ViewReader
from projections.report import build_report
from projections.runner import ProjectionConflict, StoreViews
from projections.views import book_text

app = typer.Typer(help="An event-sourced account ledger for margin trading.", no_args_is_help=True,
                  add_completion=False)

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
        exit_input_errors(errors)
    except (OSError, StoreURLError, psycopg.OperationalError) as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None
    run_inputs(ledger, inputs)
    report = build_report(ledger)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        print_report(report)


@app.command()
def migrate(store: StoreOption = None) -> None:
    """Creates the event store's tables and brings the view tables to the latest migration."""
    with _existing_or_new_views(store_url(store)):
        pass
    err.print("migrated")


@app.command()
def project(
    once: Annotated[bool, typer.Option("--once", help="Catch up and exit")] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Empty every view and rebuild it from event 1")] = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Follows the store's events into the views, from the tracked position."""
    with _existing_views(store_url(store)) as views:
        runner = views.runner
        try:
            if rebuild:
                total = runner.last_notification_id()
                with _progress("rebuilding views", total) as advance:
                    projected = runner.rebuild(on_batch=lambda _count, position: advance(position))
            elif once:
                projected = runner.catch_up()
            else:
                projected = _follow_until_stopped(views)
        except ProjectionConflict as conflict:
            err.print(f"error: {conflict}; nothing of this batch was written, run again")
            raise typer.Exit(1) from None
        summary = {"projected": projected, "position": runner.position(),
                   "last_notification_id": runner.last_notification_id()}
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        err.print(f"projected {summary['projected']} events; views at notification {summary['position']} "
                  f"of {summary['last_notification_id']}")


def _follow_until_stopped(views: StoreViews) -> int:
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    start = views.runner.position()
    err.print(f"following the store from notification {start}; Ctrl-C stops")
    from workers.heartbeat import Heartbeat

    views.runner.run_forever(stop, on_round=Heartbeat().beat)
    return views.runner.position() - start


@app.command()
def history(
    account: Annotated[str, typer.Argument(help="The account's name")],
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="A UTC time, e.g. 2026-01-05T10:20:00Z")] = None,
    at_event: Annotated[Optional[int], typer.Option("--at-event", help="A notification id (event list)")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """The account's events and its state as it stood then."""
    if as_of is not None and at_event is not None:
        exit_usage("give --as-of or --at-event, not both")
    moment = _parse_moment(as_of)
    with _current_views(store_url(store)) as views:
        reader = ViewReader(views.engine)
        try:
            result = account_history(views.app, reader, account, resolve_point(reader, moment, at_event))
        except HistoryError as error:
            exit_usage(str(error))
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print_history(result)


@app.command()
def reconcile(store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Conservation per asset, every view against a full replay, gaps in the event sequence.
    Exit 0 when all hold, 1 with every difference listed."""
    from projections.reconcile import print_reconciliation, reconcile_store

    with _current_views(store_url(store)) as views:
        result = reconcile_store(views.app, views.engine)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print_reconciliation(result, output_console())
    raise typer.Exit(0 if result["ok"] else 1)


@app.command()
def postmortem(
    liquidation_id: Annotated[str, typer.Argument(help="The liquidation's id (see the report)")],
    output_format: Annotated[str, typer.Option("--format", help="table, json or html")] = "table",
    output: Annotated[Optional[Path], typer.Option("--output", help="Write to this file, not standard output")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """One liquidation told step by step, with the inputs that set it off."""
    from projections.postmortem import build_postmortem, render_html, render_table

    if as_json:
        output_format = "json"
    if output_format not in ("table", "json", "html"):
        exit_usage(f"--format {output_format}: use table, json or html")
    with _current_views(store_url(store)) as views:
        try:
            told = build_postmortem(views.app, ViewReader(views.engine), liquidation_id)
        except HistoryError as error:
            exit_usage(str(error))
    if output is None:
        if output_format == "table":
            render_table(told, output_console())
        else:
            sys.stdout.write(json.dumps(told, indent=2) + "\n" if output_format == "json" else render_html(told))
        return
    try:
        with output.open("w") as file:
            if output_format == "table":
                render_table(told, output_console(file))
            else:
                file.write(json.dumps(told, indent=2) + "\n" if output_format == "json" else render_html(told))
    except OSError as error:
        exit_usage(f"--output: {error}")


@app.command()
def replay(
    params: Annotated[Path, typer.Option("--params", help="A parameter overlay (JSON object)")],
    account: Annotated[Optional[str], typer.Option("--account", help="Only this account")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replays the recorded inputs with another parameter set in a scratch store and
    prints what would have differed. The store itself is never written."""
    from projections.counterfactual import CounterfactualError, print_counterfactual, replay_store

    try:
        overlay = parse_parameter_file(params.read_text(), str(params))
    except InputErrors as errors:
        exit_input_errors(errors)
    except OSError as error:
        exit_usage(str(error))
    url = store_url(store)
    try:
        if not store_exists(url):
            exit_usage(f"no store at {url}")
        result = replay_store(url, overlay, account)
    except (StoreURLError, psycopg.OperationalError, CounterfactualError) as error:
        exit_usage(str(error))
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print_counterfactual(result, output_console())


def _parse_moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as error:
        exit_usage(f"--as-of: {error}")
    raise AssertionError  # unreachable: _exit_usage raises


@contextmanager
def _existing_or_new_views(url: str) -> Iterator[StoreViews]:
    try:
        views = StoreViews(url)
    except (StoreURLError, psycopg.OperationalError) as error:
        exit_usage(str(error))
    try:
        yield views
    finally:
        views.close()


@contextmanager
def _existing_views(url: str) -> Iterator[StoreViews]:
    """An existing store's views: a mistyped store URL is an error, not a new empty store."""
    try:
        if not store_exists(url):
            exit_usage(f"no store at {url}")
    except (StoreURLError, psycopg.OperationalError) as error:
        exit_usage(str(error))
    with _existing_or_new_views(url) as views:
        yield views


@contextmanager
def _current_views(url: str) -> Iterator[StoreViews]:
    """An existing store's views, brought up to date first."""
    with _existing_views(url) as views:
        views.runner.catch_up()
        yield views


@contextmanager
def _progress(description: str, total: int) -> Iterator[Any]:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err) as progress:
        task = progress.add_task(description, total=total)
        yield lambda position: progress.update(task, completed=position)


def output_console(file: Any = None) -> Console:
    """Tables for a terminal fit it; written to a file or a pipe they are wide enough that
    no figure is cut short (rich would shorten cells to 80 columns)."""
    console = Console(file=file)
    if not console.is_terminal:
        console = Console(file=file, width=240)
    return console


def print_report(report: dict[str, Any]) -> None:
    console = output_console()
    accounts = Table(title="Accounts")
    for column in ("account", "mode", "balances", "debts", "interest", "margin level", "status"):
        accounts.add_column(column)
    for name, account in report["accounts"].items():
        accounts.add_row(name, f"{account['mode']} {account['leverage'] or ''}x".replace(" x", ""),
                         book_text(account["balances"]), book_text(account["debts"]), book_text(account["interest"]),
                         account["margin_level"] or "-", account["status"])
    console.print(accounts)
    system = Table(title="System accounts")
    system.add_column("account")
    system.add_column("balances")
    for name, holding in report["system"].items():
        system.add_row(name, book_text(holding["balances"]))
    console.print(system)
    if report["liquidations"]:
        liquidations = Table(title="Liquidations")
        for column in ("account", "kind", "status", "trigger ML", "liabilities", "fee", "returned"):
            liquidations.add_column(column)
        for liquidation in report["liquidations"]:
            liquidations.add_row(liquidation["account"], liquidation["kind"], liquidation["status"],
                                 liquidation["trigger"]["margin_level"], book_text(liquidation["liabilities"]),
                                 f"{book_text(liquidation['fee']['amounts'])} (value {liquidation['fee']['value']})",
                                 book_text(liquidation["returned"]))
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


def print_history(result: dict[str, Any]) -> None:
    console = output_console()
    events = Table(title=f"Account {result['account']}: events through notification "
                         f"{result['through']['notification_id']} ({result['through']['at']})")
    for column in ("notification", "version", "at", "event", "facts"):
        events.add_column(column)
    for record in result["events"]:
        facts = {name: value for name, value in record["facts"].items() if name not in ("account", "at", "cause")}
        events.add_row(str(record["notification_id"]), str(record["version"]), record["at"] or "-",
                       record["event"], _facts_text(facts))
    console.print(events)
    state, position = result["state"], result["state"]["position"]
    summary = Table(title="State then", show_header=False)
    summary.add_column("field")
    summary.add_column("value")
    for label, value in (
        ("status", state["status"]), ("mode", f"{state['mode']} {state['leverage'] or ''}x".replace(" x", "")),
        ("balances", book_text(state["balances"])), ("debts", book_text(state["debts"])),
        ("interest", book_text(state["interest"])), ("position held by", position["held_by"]),
        ("collateral", book_text(position["collateral"])), ("collateral value", position["collateral_value"] or "-"),
        ("debt value", position["debt_value"] or "-"), ("net equity", position["net_equity"] or "-"),
        ("margin level", position["margin_level"] or "-"), ("prices", book_text(position["prices"])),
        ("parameters version", str(state["parameters_version"])),
    ):
        summary.add_row(label, value)
    console.print(summary)


def _facts_text(facts: dict[str, Any]) -> str:
    return " ".join(f"{name}={json.dumps(value, separators=(',', ':')) if isinstance(value, (dict, list)) else value}"
                    for name, value in facts.items())





# The service mode's commands (`ledger.service_cli`), listed after the others.
for service_command in (service_cli.submit, service_cli.worker, service_cli.beat, service_cli.dispatcher):
    app.command()(service_command)


if __name__ == "__main__":  # pragma: no cover
    app()
