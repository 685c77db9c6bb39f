"""`ledger export`: the journal, the balances or the liquidations as a CSV or Parquet file,
written as it is made (`projections.presentation.exports`), to standard output or a new file."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from ledger.entrypoints.cli_errors import exit_usage, print_error
from ledger.entrypoints.cli_shared import StoreOption, check_output, current_views, parse_moment, store_files
from ledger.store import store_url
from projections.exports import ExportError
from projections.presentation.exports import BATCH_SIZE, Export, open_export


def export(
    kind: Annotated[str, typer.Argument(help="journal, balances or liquidations")],
    output_format: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    since: Annotated[
        str | None,
        typer.Option("--since", help="At or after this UTC time (journal: ledger time; liquidations: trigger)"),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="At or before this UTC time (balances: as of it; default now)")
    ] = None,
    account: Annotated[str | None, typer.Option("--account", help="Only this account's rows")] = None,
    output: Annotated[Path | None, typer.Option("--output", help="Write to this new file instead")] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --output replace a file (never the store's)")] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Rows a Parquet row group (or CSV chunk)")
    ] = BATCH_SIZE,
    store: StoreOption = None,
) -> None:
    """The journal (both sides of every posting), the balances as of a time, or the
    liquidations with their figures, as CSV or Parquet with exact decimals, streamed."""
    start, end = parse_moment("--since", since), parse_moment("--until", until)
    with current_views(store_url(store)) as views:
        if output is not None:
            check_output(output, force, store_files(views))
        try:
            made = open_export(views.app, views.engine, kind, output_format, start, end, account, batch_size)
        except ExportError as error:
            exit_usage(str(error))
        if output is None:
            try:
                _write(made, sys.stdout.buffer)
            except BrokenPipeError:  # the reader stopped (`| head`): nothing more to say to it
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise typer.Exit(1) from None
            return
        try:
            # "x" creates the file or fails: a file made since the check is not overwritten either
            with output.open("wb" if force else "xb") as file:
                _write(made, file, output)
        except FileExistsError:
            exit_usage(f"--output {output}: the file exists; --force replaces it")
        except OSError as error:
            exit_usage(f"--output: {error}")


def _write(made: Export, file: BinaryIO, path: Path | None = None) -> None:
    """Writes the chunks as they come; an export that fails on the way leaves no file behind."""
    try:
        for chunk in made.chunks:
            file.write(chunk)
            file.flush()
    except ExportError as error:
        if path is not None:
            path.unlink(missing_ok=True)
        print_error(str(error))
        raise typer.Exit(1) from None
