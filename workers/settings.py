"""The service's configuration, from the environment (`LEDGER_*`)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_")

    store: str = Field("postgresql://postgres@127.0.0.1:5432/ledger", description="the PostgreSQL store's URL")
    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str = "redis://127.0.0.1:6379/1"
    queue: str = "ledger"
    worker_concurrency: int = Field(2, ge=1)
    task_soft_time_limit_seconds: int = Field(50, ge=1)
    task_time_limit_seconds: int = Field(60, ge=1)
    retry_backoff_max_seconds: int = Field(30, ge=1)
    # Redis hands an unacknowledged task to another worker after this long: it must exceed
    # the longest a task may run or wait for a retry, or a task still running comes back.
    visibility_timeout_seconds: int = Field(600, ge=1)
    result_expires_seconds: int = Field(3600, ge=60)
    # The dispatcher sends a reaction again when its result has not come within this long
    # (a task lost with Redis, or a worker killed while running it).
    redispatch_after_seconds: float = Field(30.0, gt=0)
    dispatch_poll_seconds: float = Field(0.02, gt=0)
    # Between the dispatcher's looks at which reactions finished: each look is a query.
    dispatch_collect_seconds: float = Field(0.05, ge=0)
    dispatch_batch: int = Field(500, ge=1)
    # Subjects one task runs a step for, in one transaction: a mark's evaluations, then
    # the same step of each liquidation they set off.
    task_chunk: int = Field(100, ge=1, le=1000)
    clock_tick_seconds: float = Field(60.0, gt=0)
    # A drill: every reaction is sent this many times at once. Results must not change.
    dispatch_copies: int = Field(1, ge=1, le=10)

    @model_validator(mode="after")
    def _visibility_covers_every_wait(self) -> ServiceSettings:
        if self.task_soft_time_limit_seconds >= self.task_time_limit_seconds:
            raise ValueError("LEDGER_TASK_SOFT_TIME_LIMIT_SECONDS must be below LEDGER_TASK_TIME_LIMIT_SECONDS")
        longest = self.task_time_limit_seconds + self.retry_backoff_max_seconds
        if self.visibility_timeout_seconds <= longest:
            raise ValueError(
                f"LEDGER_VISIBILITY_TIMEOUT_SECONDS ({self.visibility_timeout_seconds}) must exceed the "
                f"task time limit plus the longest retry countdown ({longest})"
            )
        return self
