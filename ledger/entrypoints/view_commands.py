"""The commands that read a store through its views (`history`, `reconcile`, `postmortem`,
`liquidations`, `replay`) or keep the views (`migrate`, `project`)."""

from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import psycopg
import typer

from ledger.domain.futures.liquidation import FuturesLiquidationKind
from ledger.domain.liquidations import LiquidationStatus
from ledger.domain.margin.liquidation import LiquidationKind
from ledger.entrypoints.cli_errors import err, exit_input_errors, exit_usage, print_error
from ledger.entrypoints.cli_shared import (
    JsonOption,
    StoreOption,
    actor_name,
    check_output,
    current_views,
    existing_or_new_views,
    existing_views,
    held_writer_lease,
    parse_moment,
    progress,
    store_files,
)
from ledger.files import InputFileError, read_parameter_file
from ledger.inputs import InputErrors, parse_parameter_file
from ledger.store import StoreURLError, store_exists, store_url
from projections.counterfactual import CounterfactualError, OverlayRefused, replay_store
from projections.history import HistoryError, account_history, resolve_point
from projections.postmortem import build_postmortem
from projections.presentation.counterfactual import print_counterfactual
from projections.presentation.history import print_history
from projections.presentation.html import PageFooter, postmortem_html
from projections.presentation.postmortem import render_table
from projections.presentation.reconcile import print_reconciliation
from projections.presentation.report import liquidations_sheet
from projections.presentation.tables import output_console, print_sheet
from projections.queries import ViewReader
from projections.reconcile import reconcile_store
from projections.report import StoreViews
from projections.runner import ProjectionConflict
from workers.heartbeat import Heartbeat

LIQUIDATION_KINDS = (*LiquidationKind, *FuturesLiquidationKind)
LIQUIDATION_STATUSES = tuple(LiquidationStatus)


def migrate(store: StoreOption = None) -> None:
    """Creates the event store's tables and brings the view tables to the latest migration."""
    url = store_url(store)
    with held_writer_lease(url), existing_or_new_views(url):
        pass
    err.print("migrated")


def project(
    once: Annotated[bool, typer.Option("--once", help="Catch up and exit")] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Empty every view and rebuild it from event 1")] = False,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Follows the store's events into the views, from the tracked position."""
    with existing_views(store_url(store)) as views:
        runner = views.runner
        try:
            if rebuild:
                total = runner.last_notification_id()
                with progress() as advance:
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
    views.runner.run_forever(stop, on_round=Heartbeat().beat)
    return views.runner.position() - start


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
    moment = parse_moment("--as-of", as_of)
    with current_views(store_url(store)) as views:
        reader = ViewReader(views.engine)
        try:
            result = account_history(views.app, reader, account, resolve_point(reader, moment, at_event))
        except HistoryError as error:
            exit_usage(str(error))
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print_history(result)


def reconcile(store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Conservation per asset, every view against a full replay, gaps in the event sequence.
    Exit 0 when all hold, 1 with every difference listed."""
    with current_views(store_url(store)) as views, progress() as advance:
        result = reconcile_store(views.app, views.engine, advance)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print_reconciliation(result, output_console())
    raise typer.Exit(0 if result["ok"] else 1)


def postmortem(
    liquidation_id: Annotated[
        str, typer.Argument(help="The liquidation's id, or the start of it (see `ledger liquidations`)")
    ],
    output_format: Annotated[str, typer.Option("--format", help="table, json or html")] = "table",
    output: Annotated[Path | None, typer.Option("--output", help="Write to this new file instead")] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --output replace a file (never the store's)")] = False,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Who made the page, named in its footer (default: the OS user)")
    ] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """One liquidation told step by step, with the inputs that set it off."""
    if as_json:
        output_format = "json"
    if output_format not in ("table", "json", "html"):
        exit_usage(f"--format {output_format}: use table, json or html")
    made_by = actor_name(actor)
    url = store_url(store)
    with current_views(url) as views:
        if output is not None:
            check_output(output, force, store_files(views))
        try:
            told = build_postmortem(views.app, ViewReader(views.engine), liquidation_id)
        except HistoryError as error:
            exit_usage(str(error))
    # the page's footer: the wall clock is read here, the page only shows it
    footer = PageFooter(store=url, made_at=datetime.now(UTC), made_by=made_by)
    if output is None:
        if output_format == "table":
            render_table(told, output_console())
        else:
            sys.stdout.write(_postmortem_text(told, output_format, footer))
        return
    try:
        # "x" creates the file or fails: a file made since the check is not overwritten either
        with output.open("w" if force else "x") as file:
            if output_format == "table":
                render_table(told, output_console(file))
            else:
                file.write(_postmortem_text(told, output_format, footer))
    except FileExistsError:
        exit_usage(f"--output {output}: the file exists; --force replaces it")
    except OSError as error:
        exit_usage(f"--output: {error}")


def _postmortem_text(told: dict[str, object], output_format: str, footer: PageFooter) -> str:
    return json.dumps(told, indent=2) + "\n" if output_format == "json" else postmortem_html(told, footer)


def liquidations(
    account: Annotated[str | None, typer.Option("--account", help="Only this account's")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Triggered at or after this UTC time")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Triggered at or before this UTC time")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="regular, takeover, mixed or futures")] = None,
    status: Annotated[str | None, typer.Option("--status", help="in_progress or completed")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """The store's liquidations, oldest first, with their ids (for `ledger postmortem`)."""
    _check_choice("--kind", kind, LIQUIDATION_KINDS)
    _check_choice("--status", status, LIQUIDATION_STATUSES)
    start, end = parse_moment("--since", since), parse_moment("--until", until)
    if start is not None and end is not None and start > end:
        exit_usage(f"--since {since} is after --until {until}")
    with current_views(store_url(store)) as views:
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


def replay(
    params: Annotated[Path, typer.Option("--params", help="A parameter overlay (JSON object)")],
    account: Annotated[str | None, typer.Option("--account", help="Only this account")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replays the recorded inputs with another parameter set in a scratch store and
    prints what would have differed. The store itself is never written."""
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
        with progress() as advance:
            result = replay_store(url, overlay, account, advance)
    except OverlayRefused as error:
        exit_usage(f"--params {params}: {error}")
    except (StoreURLError, psycopg.OperationalError, CounterfactualError) as error:
        exit_usage(str(error))
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print_counterfactual(result, output_console())
