"""The composition root: the ledger application opened on a store, by one
writer (`ledger run`) or by the many processes of the service mode."""

from __future__ import annotations

from typing import Any

from ledger.application import Ledger
from ledger.store import POSTGRES_SCHEMES, SINGLE_WRITER_SETTINGS, StoreURLError, store_environment, store_exists


class ServiceStoreError(ValueError):
    pass


def open_ledger(url: str, parameter_overlay: dict[str, Any] | None = None, read_only: bool = False) -> Ledger:
    """The store's ledger; `read_only` creates no table (the store must exist)."""
    app = Ledger({**store_environment(url), **SINGLE_WRITER_SETTINGS, **({"CREATE_TABLE": "n"} if read_only else {})})
    app.parameter_overlay = parameter_overlay or {}
    app.store_url = url
    return app


def open_service_ledger(url: str) -> Ledger:
    """The store of the running service, opened without the single writer's cache:
    workers, the dispatcher and submitters write and read it at the same time."""
    if not url.startswith(POSTGRES_SCHEMES):
        raise StoreURLError(f"the service mode needs a PostgreSQL store, not {url!r}")
    if not store_exists(url):
        raise ServiceStoreError(f"no ledger store at {url}: run `ledger migrate --store URL` first")
    # No pre-ping: a connection a restart broke fails once, is dropped by the pool, and the
    # operation is retried (tasks, the dispatcher and `ledger submit` all retry).
    environment = {
        **store_environment(url),
        "CREATE_TABLE": "n",
        "PROCESS_RECORDER_TOPIC": "ledger.recorders:PostgresMultiTrackingRecorder",
    }
    app = Ledger(environment)
    app.store_url = url
    return app


def open_reading_ledger(environment: dict[str, str], url: str | None = None) -> Ledger:
    """A ledger that follows a store's log (the projection runner, `ledger replay`
    reading what was recorded), without the single writer's aggregate cache: the
    states it loads are its own to follow. `environment` is the store's settings
    (`ledger.store.store_environment`)."""
    app = Ledger(environment)
    app.store_url = url
    return app


def open_scratch_ledger(parameter_overlay: dict[str, Any]) -> Ledger:
    """A ledger in memory, by one writer (`ledger replay` replays the inputs in one)."""
    app = Ledger({"PERSISTENCE_MODULE": "eventsourcing.popo", **SINGLE_WRITER_SETTINGS})
    app.parameter_overlay = parameter_overlay
    return app
