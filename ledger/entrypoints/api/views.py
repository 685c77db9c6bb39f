"""The views an API app reads (`ViewsOf`), brought up to date before each read as the CLI's
reads do (`ledger history`, `reconcile`, ...: the runner's `catch_up`).

Opened on the first read (the app starts while its store is down or unmigrated: /health
says so), without creating or migrating anything (`ledger migrate` does). A catch-up
writes the views: in this process one request catches up at a time (a lock: the runner
holds what it projected in memory), and across processes (several API servers, `ledger
project`) the store's own guard, `one_process_at_a_time`, keeps two from colliding.
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status
from sqlalchemy import Engine

from ledger.application import Ledger
from ledger.bootstrap import open_reading_ledger
from ledger.entrypoints.api.store import ApiStore
from ledger.store import redacted, store_environment, store_exists
from projections.database import one_process_at_a_time
from projections.queries import ViewReader
from projections.runner import ProjectionRunner, ViewStore, configured_batch_size


class ApiViews:
    def __init__(self, store: ApiStore):
        if not store_exists(store.url):
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, f"no store at {redacted(store.url)}: run `ledger migrate`"
            )
        environment = store_environment(store.url)
        environment["CREATE_TABLE"] = "n"  # the store exists: `ledger migrate` made its tables
        self.engine: Engine = store.engine
        self.app: Ledger = open_reading_ledger(environment, store.url)
        self.runner = ProjectionRunner(self.app, ViewStore(self.engine), batch_size=configured_batch_size())
        self._catching_up = threading.Lock()

    def current(self) -> ViewReader:
        """The views, brought up to date with the store's events."""
        with self._catching_up, one_process_at_a_time(self.engine):
            self.runner.catch_up()
        return ViewReader(self.engine)

    def close(self) -> None:
        self.app.close()


_opening = threading.Lock()


def views_of(app: FastAPI) -> ApiViews:
    """The app's views, opened on first use."""
    state = app.state
    with _opening:
        if getattr(state, "views", None) is None:
            state.views = ApiViews(state.store)
    views: ApiViews = state.views
    return views


def close_views(app: FastAPI) -> None:
    views: ApiViews | None = getattr(app.state, "views", None)
    if views is not None:
        views.close()


def _views(request: Request) -> ApiViews:
    return views_of(request.app)


ViewsOf = Annotated[ApiViews, Depends(_views)]
