"""`ledger api`: the HTTP API, served by uvicorn.

uvicorn imports the app by name (`APP_FACTORY`) in the command's process, so that the
other `ledger` commands do not load FastAPI; `--store` reaches it as `LEDGER_STORE`.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from ledger.entrypoints.cli_errors import exit_usage
from ledger.entrypoints.cli_shared import StoreOption
from ledger.store import StoreURLError, sql_engine, store_url

APP_FACTORY = "ledger.entrypoints.api.app:create_app_from_environment"


def api(
    host: Annotated[
        str, typer.Option("--host", help="The address to listen on (0.0.0.0: every interface)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="The TCP port to listen on", min=1, max=65535)] = 8000,
    store: StoreOption = None,
) -> None:
    """Serves the HTTP API (docs at /docs); keys come from `ledger keys create`."""
    url = store_url(store)
    try:
        sql_engine(url).dispose()  # a URL of no known kind is refused here, before serving
    except StoreURLError as error:
        exit_usage(str(error))
    os.environ["LEDGER_STORE"] = url
    import uvicorn  # here, not above: the other commands need not load the server

    uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, proxy_headers=False)
