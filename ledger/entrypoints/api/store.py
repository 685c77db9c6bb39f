"""The store an API app serves, opened once per app and handed to endpoints (`StoreOf`).

Its engine connects lazily: the app starts even while its store is down (`/health`
then says so), and nothing is created or migrated by the API (`ledger migrate` does it).
Later phases add what they open here (the ledger to write through, the views' runner).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from ledger.store import sql_engine


class ApiStore:
    def __init__(self, url: str):
        self.url = url
        self.engine: Engine = sql_engine(url)  # refuses a URL of no known kind (StoreURLError)

    def close(self) -> None:
        self.engine.dispose()


def _store(request: Request) -> ApiStore:
    store: ApiStore = request.app.state.store
    return store


StoreOf = Annotated[ApiStore, Depends(_store)]
