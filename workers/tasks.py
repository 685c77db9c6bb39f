"""The tasks: ids in, the process code called (`ledger.processes.service_reactions.run_reactions`).

One task per registered step of the processes (`ledger.processes.steps`), made in a
loop over the registry and named `ledger.{step}`. Each takes the subjects it acts on (up to
LEDGER_TASK_CHUNK, saved together) and the notification id of the event that calls
for it, loads what it needs from the store and appends events. Running one again,
or two copies at once, has one effect (see `ledger.processes.service_reactions`), so every task is
acknowledged late. A lost
database connection is retried with backoff; so is a save that kept conflicting.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from celery import Task
from eventsourcing.persistence import IntegrityError

from ledger.processes.routing import Reaction
from ledger.processes.service import TRANSIENT_ERRORS, is_settled
from ledger.processes.service_reactions import run_reactions
from ledger.processes.steps import StepSpec, Subject, registered_steps, step_spec, task_name
from ledger.write_path import begin_hours
from workers.app import app, service, settings
from workers.logs import logger

RETRIED = (*TRANSIENT_ERRORS, IntegrityError)
TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "autoretry_for": RETRIED,
    "retry_backoff": True,
    "retry_backoff_max": settings.retry_backoff_max_seconds,
    "retry_jitter": True,
    "max_retries": 12,
}


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
    task: Task, step: str, subjects: list[str], notification_id: int, takeovers: tuple[str, ...] = ()
) -> dict[str, Any]:
    log = logger("worker").bind(task_id=task.request.id, task=task.name)
    ledger, steps = service()
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


def _account_task(step: str) -> Any:
    def run_step(self: Task, accounts: list[str], notification_id: int) -> dict[str, Any]:
        return react(self, step, accounts, notification_id)

    return run_step


def _liquidation_task(step: str) -> Any:
    def run_step(self: Task, liquidation_ids: list[str], notification_id: int) -> dict[str, Any]:
        return react(self, step, liquidation_ids, notification_id)

    return run_step


def _offer_task(step: str) -> Any:
    def run_step(
        self: Task, subjects: list[str], notification_id: int, takeovers: list[str] | None = None
    ) -> dict[str, Any]:
        return react(self, step, subjects, notification_id, tuple(takeovers or ()))

    return run_step


# What a task takes is named after what its step acts on; an offer's sales take the takeovers too.
TASK_MAKERS = {Subject.ACCOUNT: _account_task, Subject.LIQUIDATION: _liquidation_task, Subject.OFFER: _offer_task}


def _task(spec: StepSpec) -> Task:
    run_step = TASK_MAKERS[spec.subject](spec.step.value)
    run_step.__name__ = run_step.__qualname__ = f"run_{spec.step.value}"
    run_step.__doc__ = spec.description
    return app.task(name=task_name(spec.step), **TASK_OPTIONS)(run_step)


TASKS_BY_STEP: dict[str, Task] = {spec.step.value: _task(spec) for spec in registered_steps()}


@app.task(name="ledger.tick_clock", **TASK_OPTIONS)
def tick_clock(self: Task) -> dict[str, Any]:
    """Celery beat: begins the next hour the wall clock has passed, once the service has
    processed everything before it (an hour's interest is owed on what was owed at
    hh:00); the dispatcher then starts the hour's interest. One hour a tick: the next
    waits for this one's interest. Safe to repeat: an hour begun is not begun again."""
    ledger, _steps = service()
    log = logger("beat").bind(task_id=self.request.id)
    now = datetime.now(UTC)
    if not ledger.hour_due(now):
        return {"hour": None}
    if not is_settled(ledger):
        log.info("hour due; waiting for the service to settle first")
        return {"hour": None, "waiting": True}
    recordings = next(begin_hours(ledger, now, {"kind": "clock", "source": "beat", "task_id": self.request.id}), [])
    hour = recordings[0].domain_event.at.isoformat() if recordings else None
    log.info("clock advanced", hour=hour)
    return {"hour": hour}
