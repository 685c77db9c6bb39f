"""`ledger keys create|list|revoke`: the HTTP API's keys, straight in the store.

The CLI has no roles: whoever can open the store is an admin, so `ledger keys create`
makes the first admin key. `created_by` and `revoked_by` are `--actor` (by default the
OS user). The key is printed once, alone on standard output; the store keeps its digest.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import psycopg
import typer
from sqlalchemy import Engine

from ledger.entrypoints.cli_errors import err, exit_usage
from ledger.entrypoints.cli_shared import ActorOption, JsonOption, StoreOption, actor_name
from ledger.store import StoreURLError, sql_engine, store_exists, store_url
from projections.api_keys import KeyRefused, Role, create_key, list_keys, revoke_key
from projections.database import migrate, one_process_at_a_time
from projections.presentation.tables import Sheet, output_console, print_sheet

app = typer.Typer(help="The HTTP API's keys: create (shown once), list, revoke.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="The key's name: the actor its requests are recorded as")]


@app.command()
def create(
    name: NameArgument,
    role: Annotated[Role, typer.Option("--role", help="viewer, operator or admin", case_sensitive=False)],
    store: StoreOption = None,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Makes a key and prints it, this once (the store keeps only its digest)."""
    with _keys_engine(store) as engine:
        try:
            record, key = create_key(engine, name, role, created_by=actor_name(actor))
        except (KeyRefused, ValueError) as refused:
            exit_usage(f"key {name!r}: {refused}")
    if as_json:
        sys.stdout.write(json.dumps({**record.as_json(), "key": key}) + "\n")
        return
    err.print(f"created the {record.role.value} key {record.name!r}; it is shown this once:")
    sys.stdout.write(key + "\n")


@app.command("list")
def list_(store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Every key (revoked ones too), without the keys themselves."""
    with _keys_engine(store) as engine:
        records = [record.as_json() for record in list_keys(engine)]
    if as_json:
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
        return
    columns = ("name", "role", "created_at", "created_by", "revoked_at", "revoked_by")
    sheet = Sheet("API keys", columns, [[record[column] or "" for column in columns] for record in records])
    print_sheet(output_console(), sheet)


@app.command()
def revoke(name: NameArgument, store: StoreOption = None, actor: ActorOption = None) -> None:
    """Revokes a key for good: every request with it is refused from now on."""
    with _keys_engine(store) as engine:
        try:
            record = revoke_key(engine, name, revoked_by=actor_name(actor))
        except (KeyRefused, ValueError) as refused:
            exit_usage(str(refused))
    err.print(f"revoked the key {record.name!r} at {record.as_json()['revoked_at']}")


@contextmanager
def _keys_engine(explicit: str | None) -> Iterator[Engine]:
    """An existing store's engine, its tables at the latest migration (a mistyped URL is
    an error, not a new store)."""
    url = store_url(explicit)
    try:
        if not store_exists(url):
            exit_usage(f"no store at {url}: create it with `ledger migrate` first")
        engine = sql_engine(url)
    except (StoreURLError, psycopg.OperationalError) as error:
        exit_usage(str(error))
    try:
        with one_process_at_a_time(engine):
            migrate(engine)
        yield engine
    finally:
        engine.dispose()
