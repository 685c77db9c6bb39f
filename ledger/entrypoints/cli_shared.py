"""What the `ledger` command groups share: their common options and arguments, the
progress bars on standard error, the store's writer lease, its views, and an output file
that never overwrites the store."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from ledger.domain.limits import name_fault
from ledger.entrypoints.cli_errors import err, exit_usage, print_error
from ledger.inputs import parse_time
from ledger.store import EXIT_STORE_BUSY, StoreBusy, StoreURLError, store_exists, writer_lease
from projections.report import StoreViews
from projections.runner import OnProgress

ScenarioArgument = Annotated[Path, typer.Argument(help="A scenario file (JSON Lines)")]
ParamsOption = Annotated[Path | None, typer.Option("--params", help="A parameter overlay (JSON object)")]
StoreOption = Annotated[
    str | None, typer.Option("--store", help="Store URL (default $LEDGER_STORE or sqlite:///ledger.db)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document")]
ActorOption = Annotated[
    str | None, typer.Option("--actor", help="Who is doing this, recorded with what it writes (default: the OS user)")
]


def actor_name(actor: str | None) -> str:
    """The actor a command records: `--actor`, else the OS user. The CLI has no roles:
    whoever can open the store is an admin, and says who they are."""
    name = actor if actor is not None else _os_user()
    fault = name_fault(name)
    if fault is not None:
        exit_usage(f"--actor {name!r}: {fault}")
    return name


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (a bare container)
        return f"uid {os.getuid()}"


@contextmanager
def progress() -> Iterator[OnProgress]:
    """A bar per phase of a long command (what it is doing, how far, out of how many), on
    standard error and only when that is a terminal: a pipe or a file gets nothing."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    ) as bars:
        tasks: dict[str, TaskID] = {}

        def advance(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bars.add_task(what, total=total)
            bars.update(tasks[what], completed=done, total=total)

        yield advance


@contextmanager
def held_writer_lease(url: str) -> Iterator[None]:
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


def store_files(views: StoreViews) -> list[Path]:
    """The files of a SQLite store (the database and the journals SQLite keeps beside it);
    none for PostgreSQL."""
    url = views.engine.url
    if url.get_backend_name() != "sqlite" or not url.database:
        return []
    database = Path(url.database)
    return [database, *(database.with_name(database.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def check_output(output: Path, force: bool, store_files: list[Path]) -> None:
    """Refuses, before anything is written, to write over the store itself (even with
    --force) or over any existing file without --force."""
    for store_file in store_files:
        if output.resolve() == store_file.resolve() or (
            output.exists() and store_file.exists() and output.samefile(store_file)
        ):
            exit_usage(f"--output {output} is the store's own file {store_file}: it is never written over")
    if output.exists() and not force:
        exit_usage(f"--output {output}: the file exists; --force replaces it")


def parse_moment(option: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as error:
        exit_usage(f"{option}: {error}")


@contextmanager
def existing_or_new_views(url: str) -> Iterator[StoreViews]:
    try:
        views = StoreViews(url)
    except (StoreURLError, psycopg.OperationalError) as error:
        exit_usage(str(error))
    try:
        yield views
    finally:
        views.close()


@contextmanager
def existing_views(url: str) -> Iterator[StoreViews]:
    """An existing store's views: a mistyped store URL is an error, not a new empty store."""
    try:
        if not store_exists(url):
            exit_usage(f"no store at {url}")
    except (StoreURLError, psycopg.OperationalError) as error:
        exit_usage(str(error))
    with existing_or_new_views(url) as views:
        yield views


@contextmanager
def current_views(url: str) -> Iterator[StoreViews]:
    """An existing store's views, brought up to date first."""
    with existing_views(url) as views:
        views.runner.catch_up()
        yield views
