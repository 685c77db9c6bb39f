"""The `ledger` command. It only translates: arguments in, the application called, a report out."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from ledger.application import Ledger
from ledger.domain.margin.liquidation import COMPLETED, IN_PROGRESS, MIXED, REGULAR, TAKEOVER
from ledger.entrypoints import service_cli
from ledger.entrypoints.cli_errors import err, exit_input_errors, exit_usage, print_error
from ledger.files import InputFileError, is_pipe, read_parameter_file, read_scenario
from ledger.inputs import InputErrors, Scenario, parse_parameter_file, parse_time
from ledger.processes.inline import run_inputs
from ledger.runs import check_scenario, open_validated
from ledger.store import EXIT_STORE_BUSY, StoreBusy, StoreURLError, store_exists, store_url, writer_lease
from projections.history import HistoryError, account_history, resolve_point
from projections.presentation.history import print_history
from projections.presentation.report import liquidations_sheet, print_report
from projections.presentation.tables import output_console, print_sheet
from projections.queries import ViewReader
from projections.report import StoreViews, build_report
from projections.runner import OnProgress, ProjectionConflict

app = typer.Typer(
    help="An event-sourced account ledger for margin trading.", no_args_is_help=True, add_completion=False
)

StoreOption = Annotated[
    str | None, typer.Option("--store", help="Store URL (default $LEDGER_STORE or sqlite:///ledger.db)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document")]


@app.callback()
def main() -> None:
    """An event-sourced account ledger for margin trading."""


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="A scenario file (JSON Lines)")],
    params: Annotated[Path | None, typer.Option("--params", help="A parameter overlay (JSON object)")] = None,
    again: Annotated[
        bool, typer.Option("--again", help="Apply the file anew, though the store applied it before")
    ] = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Applies a scenario to the store, runs every process it sets off, and prints the report.
    Lines the store applied from this file before are skipped: a run cut short is resumed."""
    url = store_url(store)
    again = again or is_pipe(scenario)  # a pipe is a new file each time: nothing to resume
    with _held_writer_lease(url):
        with _input_faults_exit_2():
            text, overlay = _read_scenario_and_overlay(scenario, params)
            ledger, planned = open_validated(url, text, scenario.name, overlay, again)
        try:
            report = _apply(ledger, planned, again)
        finally:
            ledger.close()
    report["run"] = {"source": planned.source, "skipped": planned.skipped, "applied": len(planned.inputs)}
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        print_report(report)


@app.command()
def check(
    scenario: Annotated[Path, typer.Argument(help="A scenario file (JSON Lines)")],
    params: Annotated[Path | None, typer.Option("--params", help="A parameter overlay (JSON object)")] = None,
    again: Annotated[bool, typer.Option("--again", help="As `ledger run --again` would apply it")] = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Checks a scenario against the store as `ledger run` would, and writes nothing: the
    input errors it would refuse the file for (exit 2), and the lines it would skip as applied."""
    url = store_url(store)
    with _input_faults_exit_2():
        text, overlay = _read_scenario_and_overlay(scenario, params)
        planned = check_scenario(url, text, scenario.name, overlay, again)
    lines = [item.line for item in planned.inputs]
    summary = {
        "source": planned.source,
        "valid": True,
        "skipped": planned.skipped,
        "skipped_through_line": planned.skipped_through_line,
        "to_apply": len(planned.inputs),
        "first_line": lines[0] if lines else None,
        "last_line": lines[-1] if lines else None,
    }
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    skipped = (
        f"; {planned.skipped} inputs applied before would be skipped (through line {planned.skipped_through_line})"
        if planned.skipped
        else ""
    )
    to_apply = f"lines {lines[0]} to {lines[-1]}" if lines else "nothing"
    err.print(Text(f"{planned.source} is valid: {len(planned.inputs)} inputs to apply ({to_apply}){skipped}"))


def _read_scenario_and_overlay(scenario: Path, params: Path | None) -> tuple[str, dict[str, Any]]:
    overlay = parse_parameter_file(read_parameter_file(params), str(params)) if params else {}
    return read_scenario(scenario), overlay


@contextmanager
def _input_faults_exit_2() -> Iterator[None]:
    """Bad input, an unreadable file or a bad store URL: its message, exit 2, nothing written."""
    try:
        yield
    except InputErrors as errors:
        exit_input_errors(errors)
    except (InputFileError, StoreURLError, psycopg.OperationalError) as exc:
        exit_usage(str(exc))


def _apply(ledger: Ledger, planned: Scenario, again: bool) -> dict[str, Any]:
    """`ledger run` once the file is valid: its inputs applied, and the report."""
    if planned.skipped:
        err.print(
            Text(
                f"skipped {planned.skipped} inputs of {planned.source} that this store applied before "
                f"(through line {planned.skipped_through_line})"
            )
        )
    with _progress() as advance:
        run_inputs(
            ledger,
            planned.inputs,
            again=again,
            on_progress=lambda done: advance(f"applying {planned.source}", done, len(planned.inputs)),
        )
    return build_report(ledger)


@contextmanager
def _held_writer_lease(url: str) -> Iterator[None]:
    """The store's writer lease for the block: a second writer exits at once, with its own code."""
    with ExitStack() as stack:
        try:
            stack.enter_context(writer_lease(url))
        except StoreBusy as busy:
            print_error(str(busy))
            raise typer.Exit(EXIT_STORE_BUSY) from None
        except StoreURLError as error:
            exit_usage(str(error))
        yield


@app.command()
def migrate(store: StoreOption = None) -> None:
    """Creates the event store's tables and brings the view tables to the latest migration."""
    url = store_url(store)
    with _held_writer_lease(url), _existing_or_new_views(url):
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
                with _progress() as advance:
                    projected = runner.rebuild(
                        on_batch=lambda _count, position: advance("rebuilding views", position, total)
                    )
            elif once:
                projected = runner.catch_up()
            else:
                projected = _follow_until_stopped(views)
        except ProjectionConflict as conflict:
            print_error(f"{conflict}; nothing of this batch was written, run again")
            raise typer.Exit(1) from None
        summary = {
            "projected": projected,
            "position": runner.position(),
            "last_notification_id": runner.last_notification_id(),
        }
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        err.print(
            f"projected {summary['projected']} events; views at notification {summary['position']} "
            f"of {summary['last_notification_id']}"
        )


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
    as_of: Annotated[str | None, typer.Option("--as-of", help="A UTC time, e.g. 2026-01-05T10:20:00Z")] = None,
    at_event: Annotated[int | None, typer.Option("--at-event", help="A notification id (event list)")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """The account's events and its state as it stood then."""
    if as_of is not None and at_event is not None:
        exit_usage("give --as-of or --at-event, not both")
    moment = _parse_moment("--as-of", as_of)
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
    from projections.presentation.reconcile import print_reconciliation
    from projections.reconcile import reconcile_store

    with _current_views(store_url(store)) as views, _progress() as advance:
        result = reconcile_store(views.app, views.engine, advance)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print_reconciliation(result, output_console())
    raise typer.Exit(0 if result["ok"] else 1)


@app.command()
def postmortem(
    liquidation_id: Annotated[
        str, typer.Argument(help="The liquidation's id, or the start of it (see `ledger liquidations`)")
    ],
    output_format: Annotated[str, typer.Option("--format", help="table, json or html")] = "table",
    output: Annotated[Path | None, typer.Option("--output", help="Write to this new file instead")] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --output replace a file (never the store's)")] = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """One liquidation told step by step, with the inputs that set it off."""
    from projections.postmortem import build_postmortem
    from projections.presentation.html import render_html
    from projections.presentation.postmortem import render_table

    if as_json:
        output_format = "json"
    if output_format not in ("table", "json", "html"):
        exit_usage(f"--format {output_format}: use table, json or html")
    with _current_views(store_url(store)) as views:
        if output is not None:
            _check_output(output, force, _store_files(views))
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
        # "x" creates the file or fails: a file made since the check is not overwritten either
        with output.open("w" if force else "x") as file:
            if output_format == "table":
                render_table(told, output_console(file))
            else:
                file.write(json.dumps(told, indent=2) + "\n" if output_format == "json" else render_html(told))
    except FileExistsError:
        exit_usage(f"--output {output}: the file exists; --force replaces it")
    except OSError as error:
        exit_usage(f"--output: {error}")


def _store_files(views: StoreViews) -> list[Path]:
    """The files of a SQLite store (the database and the journals SQLite keeps beside it);
    none for PostgreSQL."""
    url = views.engine.url
    if url.get_backend_name() != "sqlite" or not url.database:
        return []
    database = Path(url.database)
    return [database, *(database.with_name(database.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def _check_output(output: Path, force: bool, store_files: list[Path]) -> None:
    """Refuses, before anything is written, to write over the store itself (even with
    --force) or over any existing file without --force."""
    for store_file in store_files:
        if output.resolve() == store_file.resolve() or (
            output.exists() and store_file.exists() and output.samefile(store_file)
        ):
            exit_usage(f"--output {output} is the store's own file {store_file}: it is never written over")
    if output.exists() and not force:
        exit_usage(f"--output {output}: the file exists; --force replaces it")


LIQUIDATION_KINDS = (REGULAR, TAKEOVER, MIXED)
LIQUIDATION_STATUSES = (IN_PROGRESS, COMPLETED)


@app.command()
def liquidations(
    account: Annotated[str | None, typer.Option("--account", help="Only this account's")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Triggered at or after this UTC time")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Triggered at or before this UTC time")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="regular, takeover or mixed")] = None,
    status: Annotated[str | None, typer.Option("--status", help="in_progress or completed")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """The store's liquidations, oldest first, with their ids (for `ledger postmortem`)."""
    _check_choice("--kind", kind, LIQUIDATION_KINDS)
    _check_choice("--status", status, LIQUIDATION_STATUSES)
    start, end = _parse_moment("--since", since), _parse_moment("--until", until)
    if start is not None and end is not None and start > end:
        exit_usage(f"--since {since} is after --until {until}")
    with _current_views(store_url(store)) as views:
        rows = ViewReader(views.engine).liquidations(account=account, since=start, until=end, kind=kind, status=status)
    found = [row["summary"] for row in rows]
    if as_json:
        sys.stdout.write(json.dumps({"liquidations": found}, indent=2) + "\n")
    elif found:
        print_sheet(output_console(), liquidations_sheet(found))
    else:
        output_console().print("No liquidation matches.")


def _check_choice(option: str, given: str | None, choices: tuple[str, ...]) -> None:
    if given is not None and given not in choices:
        exit_usage(f"{option} {given!r}: use {', '.join(choices[:-1])} or {choices[-1]}")


@app.command()
def replay(
    params: Annotated[Path, typer.Option("--params", help="A parameter overlay (JSON object)")],
    account: Annotated[str | None, typer.Option("--account", help="Only this account")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replays the recorded inputs with another parameter set in a scratch store and
    prints what would have differed. The store itself is never written."""
    from projections.counterfactual import CounterfactualError, OverlayRefused, replay_store
    from projections.presentation.counterfactual import print_counterfactual

    try:
        overlay = parse_parameter_file(read_parameter_file(params), str(params))
    except InputErrors as errors:
        exit_input_errors(errors)
    except InputFileError as error:
        exit_usage(str(error))
    url = store_url(store)
    try:
        if not store_exists(url):
            exit_usage(f"no store at {url}")
        with _progress() as advance:
            result = replay_store(url, overlay, account, advance)
    except OverlayRefused as error:
        exit_usage(f"--params {params}: {error}")
    except (StoreURLError, psycopg.OperationalError, CounterfactualError) as error:
        exit_usage(str(error))
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print_counterfactual(result, output_console())


def _parse_moment(option: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as error:
        exit_usage(f"{option}: {error}")


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
def _progress() -> Iterator[OnProgress]:
    """A bar per phase of a long command (what it is doing, how far, out of how many), on
    standard error and only when that is a terminal: a pipe or a file gets nothing."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def advance(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = progress.add_task(what, total=total)
            progress.update(tasks[what], completed=done, total=total)

        yield advance


# The service mode's commands (`ledger.service_cli`), listed after the others.
for service_command in (service_cli.submit, service_cli.worker, service_cli.beat, service_cli.dispatcher):
    app.command()(service_command)


if __name__ == "__main__":  # pragma: no cover
    app()
