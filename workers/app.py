"""The Celery app of the service mode, made from the settings it is given.

`create_celery_app` reads no environment and loads nothing by name: the caller
validates the `LEDGER_*` settings first (`ledger worker` exits with a clear error
on a bad one), and the app comes with its tasks defined (`workers.tasks`). The
`celery` command line loads the app that `workers.celery` makes.

JSON is the only serializer. Every task is safe to run again (`ledger.processes.service_reactions`), so
each declares `acks_late`: a task is acknowledged once it has run, and one lost with
a killed worker comes back. Prefetch is 1, so a worker holds no more unacknowledged
tasks than it runs.

The dispatcher learns that a task has run from its tracking record in the store,
and sends tasks with `ignore_result`; the result backend serves callers that ask
for a result (a test, an operator's `send_task`).
"""

from __future__ import annotations

from celery import Celery, signals

from workers.heartbeat import HeartbeatScheduler
from workers.logs import configure_logging
from workers.settings import ServiceSettings
from workers.tasks import TICK_CLOCK, register_tasks


def create_celery_app(settings: ServiceSettings) -> Celery:
    celery_app = Celery("ledger", broker=settings.broker_url, backend=settings.result_backend)
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
        beat_scheduler=HeartbeatScheduler,  # the class itself: Celery loads a name only when given a string
        beat_schedule={
            "advance the ledger clock": {"task": TICK_CLOCK, "schedule": settings.clock_tick_seconds},
        },
        timezone="UTC",
    )
    register_tasks(celery_app, settings)
    return celery_app


@signals.setup_logging.connect
def _json_logs(**_: object) -> None:
    # Sent by a Celery worker or beat as it starts: in place of Celery's own logging setup.
    configure_logging()
