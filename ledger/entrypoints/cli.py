"""The `ledger` command: the typer app with every command group registered on it, in the
order `ledger --help` lists them. The commands only translate: arguments in, the
application called, a report out."""

from __future__ import annotations

import typer

from ledger.entrypoints import export_commands, key_commands, scenario_commands, service_commands, view_commands
from ledger.entrypoints.api import server

app = typer.Typer(
    help="An event-sourced account ledger for margin and futures trading.", no_args_is_help=True, add_completion=False
)

COMMANDS = (
    scenario_commands.run,
    scenario_commands.check,
    view_commands.migrate,
    view_commands.project,
    view_commands.history,
    view_commands.reconcile,
    view_commands.postmortem,
    view_commands.liquidations,
    view_commands.replay,
    export_commands.export,
    # The service mode's, listed after the others.
    service_commands.submit,
    service_commands.worker,
    service_commands.beat,
    service_commands.dispatcher,
    # The HTTP API's: `ledger api`, then the `ledger keys` group below.
    server.api,
)


@app.callback()
def main() -> None:
    """An event-sourced account ledger for margin and futures trading."""


for command in COMMANDS:
    app.command()(command)
app.add_typer(key_commands.app, name="keys")


if __name__ == "__main__":  # pragma: no cover
    app()
