"""The `ledger` command: the typer app with every command group registered on it, in the
order `ledger --help` lists them. The commands only translate: arguments in, the
application called, a report out.

A command's module is imported when that command is run (or listed by `--help`), not
before: the modules import what their commands need (the views and their presentation,
Parquet, the service's Celery, the keys' tables), and tests and users start `ledger`
many times, each start paying for every module imported.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

import typer
from typer.core import TyperGroup
from typer.main import get_command_from_info, get_group_from_info
from typer.models import CommandInfo, TyperInfo

if TYPE_CHECKING:
    from typer._click import Command, Context  # the Click that typer carries and its groups take

# name -> (module, function) of each command, in the order `ledger --help` lists them
COMMANDS = {
    "run": ("ledger.entrypoints.scenario_commands", "run"),
    "check": ("ledger.entrypoints.scenario_commands", "check"),
    "migrate": ("ledger.entrypoints.view_commands", "migrate"),
    "project": ("ledger.entrypoints.view_commands", "project"),
    "history": ("ledger.entrypoints.view_commands", "history"),
    "reconcile": ("ledger.entrypoints.view_commands", "reconcile"),
    "postmortem": ("ledger.entrypoints.view_commands", "postmortem"),
    "liquidations": ("ledger.entrypoints.view_commands", "liquidations"),
    "replay": ("ledger.entrypoints.view_commands", "replay"),
    "export": ("ledger.entrypoints.export_commands", "export"),
    # The service mode's, listed after the others.
    "submit": ("ledger.entrypoints.service_commands", "submit"),
    "worker": ("ledger.entrypoints.service_commands", "worker"),
    "beat": ("ledger.entrypoints.service_commands", "beat"),
    "dispatcher": ("ledger.entrypoints.service_commands", "dispatcher"),
    # The HTTP API's: `ledger api`, then the `ledger keys` group.
    "api": ("ledger.entrypoints.api.server", "api"),
}
GROUPS = {"keys": ("ledger.entrypoints.key_commands", "app")}


class CommandsImportedWhenRun(TyperGroup):
    """The commands' group, which makes a command from its module the first time it is asked for."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*COMMANDS, *GROUPS]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        # An unknown name (a typo) makes them all, so that typer suggests from every one of them.
        for name in [cmd_name] if cmd_name in COMMANDS | GROUPS else self.list_commands(ctx):
            if name not in self.commands:
                self.add_command(_made(name), name)
        return super().get_command(ctx, cmd_name)


def _made(name: str) -> Command:
    """The command (or group) as `app.command()` (or `app.add_typer`) would have made it."""
    if name in GROUPS:
        module, attribute = GROUPS[name]
        return get_group_from_info(
            TyperInfo(getattr(import_module(module), attribute), name=name),
            pretty_exceptions_short=app.pretty_exceptions_short,
            suggest_commands=app.suggest_commands,
            rich_markup_mode=app.rich_markup_mode,
        )
    module, attribute = COMMANDS[name]
    return get_command_from_info(
        CommandInfo(callback=getattr(import_module(module), attribute)),
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
    )


app = typer.Typer(
    cls=CommandsImportedWhenRun,
    help="An event-sourced account ledger for margin and futures trading.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """An event-sourced account ledger for margin and futures trading."""


if __name__ == "__main__":  # pragma: no cover
    app()
