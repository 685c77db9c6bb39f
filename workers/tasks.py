"""The tasks: ids in, the process code called (`ledger.service.run_reactions`).

One task per step of the processes. Each takes the subjects it acts on (up to
LEDGER_TASK_CHUNK, saved together) and the notification id of the event that calls
for it, loads what it needs from the store and appends events. Running one again,
or two copies at once, has one effect (see `ledger.service`), so every task is
acknowledged late. A lost
database connection is retried with backoff; so is a save that kept conflicting.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from celery import Task
from eventsourcing.persistence import IntegrityError

from ledger.processes import steps as processes
from ledger.processes.service import TRANSIENT_ERRORS, is_settled, run_reactions
from ledger.processes.steps import Reaction
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
ACCOUNT_STEPS = (processes.EVALUATE_MARGIN, processes.AUTO_TOP_UP, processes.ACCRUE_INTEREST)


def subject_field(step: str, subject: str) -> str:
    """What a task's subject is, for its log lines: an account, an asset or a liquidation."""
    if step in ACCOUNT_STEPS:
        return "account"
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


@app.task(name="ledger.evaluate_margin", **TASK_OPTIONS)
def evaluate_margin(self: Task, accounts: list[str], notification_id: int) -> dict[str, Any]:
    """Margin call, recovery or the trigger of a liquidation, as each account's level requires."""
    return react(self, processes.EVALUATE_MARGIN, accounts, notification_id)


@app.task(name="ledger.auto_top_up", **TASK_OPTIONS)
def auto_top_up(self: Task, accounts: list[str], notification_id: int) -> dict[str, Any]:
    """The margin evaluation of an account with auto top-up: transfers from its source first."""
    return react(self, processes.AUTO_TOP_UP, accounts, notification_id)


@app.task(name="ledger.regular_part", **TASK_OPTIONS)
def regular_part(self: Task, liquidation_ids: list[str], notification_id: int) -> dict[str, Any]:
    return react(self, processes.REGULAR_PART, liquidation_ids, notification_id)


@app.task(name="ledger.hand_off", **TASK_OPTIONS)
def hand_off(self: Task, liquidation_ids: list[str], notification_id: int) -> dict[str, Any]:
    return react(self, processes.HAND_OFF, liquidation_ids, notification_id)


@app.task(name="ledger.takeover_sales", **TASK_OPTIONS)
def takeover_sales(
    self: Task, subjects: list[str], notification_id: int, takeovers: list[str] | None = None
) -> dict[str, Any]:
    """Sales against offered liquidity (subject: the asset), or the end of a takeover's
    sales when it has nothing to sell (subject: the liquidation)."""
    return react(self, processes.TAKEOVER_SALES, subjects, notification_id, tuple(takeovers or ()))


@app.task(name="ledger.fee", **TASK_OPTIONS)
def fee(self: Task, liquidation_ids: list[str], notification_id: int) -> dict[str, Any]:
    """The fee: from the account after a regular part, from the desk's proceeds after a takeover."""
    return react(self, processes.FEE, liquidation_ids, notification_id)


@app.task(name="ledger.return", **TASK_OPTIONS)
def return_proceeds(self: Task, liquidation_ids: list[str], notification_id: int) -> dict[str, Any]:
    """The desk returns what is left; the liquidation completes."""
    return react(self, processes.RETURN, liquidation_ids, notification_id)


@app.task(name="ledger.unlock", **TASK_OPTIONS)
def unlock(self: Task, liquidation_ids: list[str], notification_id: int) -> dict[str, Any]:
    return react(self, processes.UNLOCK, liquidation_ids, notification_id)


@app.task(name="ledger.accrue_interest", **TASK_OPTIONS)
def accrue_interest(self: Task, accounts: list[str], notification_id: int) -> dict[str, Any]:
    return react(self, processes.ACCRUE_INTEREST, accounts, notification_id)


@app.task(name="ledger.accrue_desk_interest", **TASK_OPTIONS)
def accrue_desk_interest(self: Task, liquidation_ids: list[str], notification_id: int) -> dict[str, Any]:
    return react(self, processes.ACCRUE_DESK_INTEREST, liquidation_ids, notification_id)


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


TASKS_BY_STEP = {
    processes.EVALUATE_MARGIN: evaluate_margin,
    processes.AUTO_TOP_UP: auto_top_up,
    processes.REGULAR_PART: regular_part,
    processes.HAND_OFF: hand_off,
    processes.TAKEOVER_SALES: takeover_sales,
    processes.FEE: fee,
    processes.RETURN: return_proceeds,
    processes.UNLOCK: unlock,
    processes.ACCRUE_INTEREST: accrue_interest,
    processes.ACCRUE_DESK_INTEREST: accrue_desk_interest,
}
assert set(TASKS_BY_STEP) == set(processes.STEPS), "every step has its task"
