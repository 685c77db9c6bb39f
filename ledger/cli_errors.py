"""How the `ledger` commands report bad input: one line each on standard error, exit 2."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

from ledger.inputs import InputErrors

err = Console(stderr=True, soft_wrap=True)  # an error message stays on one line, for tools that read it


def exit_usage(message: str) -> NoReturn:
    err.print(f"error: {message}")
    raise typer.Exit(2)


def exit_input_errors(errors: InputErrors) -> NoReturn:
    for error in errors.errors:
        print(str(error), file=sys.stderr)
    raise typer.Exit(2)
