"""The tasks: ids in, the process code called (`ledger.processes.service_reactions.run_reactions`).

`register_tasks` defines them on the Celery app it is given: one task per registered
step of the processes (`ledger.processes.steps`), made in a loop over the registry and
named `ledger.{step}`, and the beat's `ledger.tick_clock`. Each step's task takes the
subjects it acts on (up to LEDGER_TASK_CHUNK, saved together) and the notification id
of the event that calls for it, loads what it needs from the store and appends events.
Running one again, or two copies at once, has one effect (see
`ledger.processes.service_reactions`), so every task is acknowledged late. A lost
database connection is retried with backoff; so is a save that kept conflicting.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from celery import Celery, Task, signals
from eventsourcing.persistence import IntegrityError

from ledger.application import Ledger
from ledger.bootstrap import open_service_ledger
from ledger.processes.routing import Reaction
from ledger.processes.service import TRANSIENT_ERRORS, is_settled
from ledger.processes.service_reactions import run_reactions
from ledger.processes.steps import ProcessSteps, StepSpec, Subject, registered_steps, step_spec, task_name
from ledger.store import StoreBusy, writer_lease
from ledger.write_path import begin_hours
from workers.logs import logger
from workers.settings import ServiceSettings

TICK_CLOCK = "ledger.tick_clock"
RETRIED = (*TRANSIENT_ERRORS, IntegrityError)


def register_tasks(celery_app: Celery, settings: ServiceSettings) -> None:
    """Defines the service's tasks on `celery_app`, each acting on the store of `settings`."""
    options = _task_options(settings)
    for spec in registered_steps():
        celery_app.task(name=task_name(spec.step), **options)(_step_function(spec, settings.store))
    celery_app.task(name=TICK_CLOCK, **options)(_tick_clock(settings.store))


def _task_options(settings: ServiceSettings) -> dict[str, Any]:
    return {
        "shared": False,  # this app's own: not added to every Celery app made later in the process
        "bind": True,
        "acks_late": True,
        "autoretry_for": RETRIED,
        "retry_backoff": True,
        "retry_backoff_max": settings.retry_backoff_max_seconds,
        "retry_jitter": True,
        "max_retries": 12,
    }


@cache
def service(store: str) -> tuple[Ledger, ProcessSteps]:
    """This process's ledger and process code, built on first use after the fork. It never
    creates tables: `ledger migrate` does, once."""
    ledger = open_service_ledger(store)
    return ledger, ProcessSteps(ledger)


@signals.worker_process_init.connect
def _forget_parents_ledger(**_: object) -> None:
    # A connection pool opened before the fork must not be shared with the parent.
    service.cache_clear()


def subject_field(step: str, subject: str) -> str:
    """What a task's subject is, for its log lines: an account, an asset or a liquidation."""
    kind = step_spec(step).subject
    if kind != Subject.OFFER:
        return kind.value
    try:
        uuid.UUID(subject)
    except ValueError:
        return "asset"  # the sales against an offer of liquidity
    return "liquidation_id"


def react(
    task: Task, store: str, step: str, subjects: list[str], notification_id: int, takeovers: tuple[str, ...] = ()
) -> dict[str, Any]:
    log = logger("worker").bind(task_id=task.request.id, task=task.name)
    ledger, steps = service(store)
    reactions = [Reaction(step, subject, takeovers) for subject in subjects]
    outcomes = run_reactions(ledger, steps, reactions, notification_id)
    for outcome in outcomes:
        followed_on = outcome.notification_id != notification_id
        log.info(
            "followed on" if followed_on else "reacted",
            step=outcome.step,
            notification_id=outcome.notification_id,
            events=outcome.events,
            attempts=outcome.attempts,
            **{subject_field(outcome.step, outcome.subject): outcome.subject},
        )
    return {"subjects": len(subjects), "notification_id": notification_id, "ran": [o.as_dict() for o in outcomes]}


# --- one task a registered step: ids in, the step run on each --------------------------------

StepFunction = Callable[..., dict[str, Any]]


def _account_task(step: str, store: str) -> StepFunction:
    def run_step(self: Task, accounts: list[str], notification_id: int) -> dict[str, Any]:
        return react(self, store, step, accounts, notification_id)

    return run_step


def _liquidation_task(step: str, store: str) -> StepFunction:
    def run_step(self: Task, liquidation_ids: list[str], notification_id: int) -> dict[str, Any]:
        return react(self, store, step, liquidation_ids, notification_id)

    return run_step


def _offer_task(step: str, store: str) -> StepFunction:
    def run_step(
        self: Task, subjects: list[str], notification_id: int, takeovers: list[str] | None = None
    ) -> dict[str, Any]:
        return react(self, store, step, subjects, notification_id, tuple(takeovers or ()))

    return run_step


# What a task takes is named after what its step acts on; an offer's sales take the takeovers too.
TASK_MAKERS = {Subject.ACCOUNT: _account_task, Subject.LIQUIDATION: _liquidation_task, Subject.OFFER: _offer_task}


def _step_function(spec: StepSpec, store: str) -> StepFunction:
    run_step = TASK_MAKERS[spec.subject](spec.step.value, store)
    run_step.__name__ = run_step.__qualname__ = f"run_{spec.step.value}"
    run_step.__doc__ = spec.description
    return run_step


def _tick_clock(store: str) -> StepFunction:
    def tick_clock(self: Task) -> dict[str, Any]:
        """Celery beat: begins the next hour the wall clock has passed, once the service has
        processed everything before it (an hour's interest is owed on what was owed at
        hh:00); the dispatcher then starts the hour's interest. One hour a tick: the next
        waits for this one's interest. Safe to repeat: an hour begun is not begun again."""
        ledger, _steps = service(store)
        log = logger("beat").bind(task_id=self.request.id)
        now = datetime.now(UTC)
        if not ledger.hour_due(now):
            return {"hour": None}
        if not is_settled(ledger):
            log.info("hour due; waiting for the service to settle first")
            return {"hour": None, "waiting": True}
        cause = {"kind": "clock", "source": "beat", "actor": "ledger beat", "task_id": self.request.id}
        try:
            # An hour begun is an input of the clock: inputs enter one writer after the other.
            with writer_lease(store):
                recordings = next(begin_hours(ledger, now, cause), [])
        except StoreBusy as busy:
            log.info("hour due; another writer holds the store", holder_pid=busy.pid)
            return {"hour": None, "busy": True}
        hour = recordings[0].domain_event.at.isoformat() if recordings else None
        log.info("clock advanced", hour=hour)
        return {"hour": hour}

    return tick_clock
