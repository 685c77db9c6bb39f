"""What the `ledger` command groups share: their common options and arguments, the
progress bars on standard error, and the store's writer lease."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from ledger.domain.limits import name_fault
from ledger.entrypoints.cli_errors import err, exit_usage, print_error
from ledger.store import EXIT_STORE_BUSY, StoreBusy, StoreURLError, writer_lease
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
