"""The API's configuration, from the environment (`LEDGER_*`), as the service's
(`workers/settings.py`); `ledger api --store` overrides `LEDGER_STORE`."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.store import DEFAULT_STORE


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_")

    # As every `ledger` command: $LEDGER_STORE, else the SQLite file of `ledger run`.
    store: str = Field(DEFAULT_STORE, description="the store's URL (SQLite or PostgreSQL)")
