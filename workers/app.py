"""The Celery app of the service mode, and each worker process's ledger.

JSON is the only serializer. Every task is safe to run again (`ledger.processes.service_reactions`), so
each declares `acks_late`: a task is acknowledged once it has run, and one lost with
a killed worker comes back. Prefetch is 1, so a worker holds no more unacknowledged
tasks than it runs. The ledger is built in each worker process after the fork, and
never creates tables: `ledger migrate` does, once.

The dispatcher learns that a task has run from its tracking record in the store,
and sends tasks with `ignore_result`; the result backend serves callers that ask
for a result (a test, an operator's `send_task`).
"""

from __future__ import annotations

from functools import cache

from celery import Celery, signals

from ledger.application import Ledger
from ledger.bootstrap import open_service_ledger
from ledger.processes.steps import ProcessSteps
from workers.logs import configure_logging
from workers.settings import ServiceSettings


def create_celery_app(settings: ServiceSettings) -> Celery:
    celery_app = Celery(
        "ledger", broker=settings.broker_url, backend=settings.result_backend, include=["workers.tasks"]
    )
    celery_app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_default_queue=settings.queue,
        task_acks_late=False,  # set per task, where running it again is safe
        task_reject_on_worker_lost=True,  # a task whose worker process died goes back to the queue
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.worker_concurrency,
        worker_hijack_root_logger=False,
        task_soft_time_limit=settings.task_soft_time_limit_seconds,
        task_time_limit=settings.task_time_limit_seconds,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_seconds},
        result_backend_transport_options={"visibility_timeout": settings.visibility_timeout_seconds},
        result_expires=settings.result_expires_seconds,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # wait for Redis as long as it takes
        beat_schedule={
            "advance the ledger clock": {"task": "ledger.tick_clock", "schedule": settings.clock_tick_seconds},
        },
        timezone="UTC",
    )
    celery_app.conf.ledger_settings = settings
    return celery_app


settings = ServiceSettings()
app = create_celery_app(settings)


@cache
def service() -> tuple[Ledger, ProcessSteps]:
    """This process's ledger and process code, built on first use after the fork."""
    ledger = open_service_ledger(settings.store)
    return ledger, ProcessSteps(ledger)


@signals.worker_process_init.connect
def _forget_parents_ledger(**_: object) -> None:
    # A connection pool opened before the fork must not be shared with the parent.
    service.cache_clear()


@signals.setup_logging.connect
def _json_logs(**_: object) -> None:
    configure_logging()
