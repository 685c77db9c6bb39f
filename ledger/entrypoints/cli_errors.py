"""How the `ledger` commands report bad input: one line each on standard error, exit 2.

A message is printed as text, never as rich markup (it may quote an account named
`[/]x`), and any URL in it shows its password as `***`.
"""

from __future__ import annotations

import re
import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from ledger.inputs import InputErrors
from ledger.store import redacted

err = Console(stderr=True, soft_wrap=True)  # an error message stays on one line, for tools that read it

# A URL as messages quote it: up to the next space (a quote after it stays in its path).
URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+")


def print_error(message: str) -> None:
    err.print(Text(f"error: {_redacted(message)}"))


def exit_usage(message: str) -> NoReturn:
    print_error(message)
    raise typer.Exit(2)


def exit_input_errors(errors: InputErrors) -> NoReturn:
    for error in errors.errors:
        print(str(error), file=sys.stderr)
    raise typer.Exit(2)


def _redacted(message: str) -> str:
    return URL_IN_TEXT.sub(lambda found: redacted(found.group()), message)
