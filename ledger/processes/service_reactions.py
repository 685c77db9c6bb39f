"""The service mode's reactions: each run on its own, by a Celery task, with the same
process code that `ledger run` calls inline, in a transaction of its own, saved with
a tracking record named after the step and its subject that holds the notification
it reacted to (`reaction_tracking_name`). Running it twice, or two copies at once,
has one effect, from the event store alone:

- a reaction whose tracking record has reached its notification is done: a second
  delivery records nothing, and a second copy running at the same moment fails its
  save (the tracking record, or the aggregates' expected versions) and finds it done;
- a reaction overtaken by a later one of the same step and subject (a margin
  evaluation after a newer event of the account) is done too: the later one saw
  everything the earlier one would have.

The tracking records also tell the dispatcher which reactions have finished
(`tracked_positions`), whatever became of Redis meanwhile.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from eventsourcing.persistence import IntegrityError, Recording, Tracking
from psycopg import sql

from ledger.application import Ledger
from ledger.causes import process_cause
from ledger.log import causing_event
from ledger.processes.routing import Reaction, next_steps, reaction_tracking_name
from ledger.processes.steps import ProcessSteps, aggregates_acted_on
from ledger.unit_of_work import UnitOfWork

CONFLICT_ATTEMPTS = 20


@dataclass(frozen=True)
class ReactionOutcome:
    step: str
    subject: str
    notification_id: int
    events: int  # recorded by the transaction it ran in (with the others of its batch)
    attempts: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "subject": self.subject,
            "notification_id": self.notification_id,
            "events": self.events,
            "attempts": self.attempts,
        }


def run_reactions(
    app: Ledger, steps: ProcessSteps, reactions: Sequence[Reaction], notification_id: int
) -> list[ReactionOutcome]:
    """Runs the reactions (one step, for one or many subjects) to the event at
    `notification_id` that are not done yet, in one transaction; then the steps their
    liquidations' new events call for (they follow on), one transaction a step, as the
    dispatcher would start them: it finds them done, and sends none. A step that
    follows on starts from the states the one before it saved."""
    outcomes: list[ReactionOutcome] = []
    queue: deque[Batch] = deque([Batch([DueReaction(reaction, notification_id) for reaction in reactions])])
    while queue:
        batch = queue.popleft()
        done, recordings, uow = _run_batch(app, steps, batch)
        outcomes += done
        queue.extend(follow_on_batches(recordings, uow))
    return outcomes


@dataclass(frozen=True)
class DueReaction:
    reaction: Reaction
    notification_id: int
    event: Any = None  # the causing event, when it is in hand

    @property
    def tracking(self) -> Tracking:
        return Tracking(reaction_tracking_name(self.reaction), self.notification_id)


@dataclass(frozen=True)
class Batch:
    """Reactions of one step, saved together."""

    due: list[DueReaction]
    saved: UnitOfWork | None = None  # the unit of work that saved their causes, whose states are current


def follow_on_batches(recordings: list[Recording], saved: UnitOfWork) -> list[Batch]:
    """The steps that follow on from the events just recorded (`ledger.processes.routing.follows_on`:
    a liquidation's next step), a batch a step."""
    by_step: dict[str, list[DueReaction]] = {}
    for recording in recordings:
        event = recording.domain_event
        for reaction in next_steps(event):
            by_step.setdefault(reaction.step, []).append(DueReaction(reaction, recording.notification.id, event))
    return [Batch(due, saved) for due in by_step.values()]


def _run_batch(
    app: Ledger, steps: ProcessSteps, batch: Batch
) -> tuple[list[ReactionOutcome], list[Recording], UnitOfWork]:
    due, saved = batch.due, batch.saved
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        with UnitOfWork(app) as uow:
            if saved is not None:
                # Just recorded by this process: not done yet unless another copy raced them,
                # which their saves' tracking records would then refuse.
                uow.aggregates.update(saved.aggregates)
                saved = None
            else:
                due = _not_done(app, due)
            if not due:
                return [], [], uow
            due = _with_events(app, due)
            uow.preload(i for item in due for i in aggregates_acted_on(item.reaction, item.event))
            for item in due:
                steps.run(uow, item.reaction, item.event, process_cause(item.event, item.notification_id))
            trackings = [item.tracking for item in due]
            try:
                recordings = uow.commit(tracking=trackings[0], more_tracking=trackings[1:])
            except IntegrityError:
                continue  # another copy, or another reaction, saved first: look again at fresh states
        outcomes = [
            ReactionOutcome(item.reaction.step, item.reaction.subject, item.notification_id, len(recordings), attempt)
            for item in due
        ]
        return outcomes, recordings, uow
    first = due[0]
    raise IntegrityError(
        f"{first.reaction.step} of {len(due)} subject(s) from {first.reaction.subject} for "
        f"notification {first.notification_id} conflicted {CONFLICT_ATTEMPTS} times"
    )


def _with_events(app: Ledger, due: list[DueReaction]) -> list[DueReaction]:
    """Each with its causing event, loaded once a notification."""
    loaded = {item.notification_id: item.event for item in due if item.event is not None}
    for item in due:
        if item.notification_id not in loaded:
            loaded[item.notification_id] = causing_event(app, item.notification_id)
    return [replace(item, event=loaded[item.notification_id]) for item in due]


def _not_done(app: Ledger, due: list[DueReaction]) -> list[DueReaction]:
    reached = tracked_positions(app, {item.tracking.application_name for item in due})
    return [item for item in due if reached.get(item.tracking.application_name, 0) < item.notification_id]


def tracked_positions(app: Ledger, names: set[str]) -> dict[str, int]:
    """The notification each named tracking record has reached (absent: none yet)."""
    if not names:
        return {}
    recorder: Any = app.recorder
    query = sql.SQL("SELECT application_name, notification_id FROM {}.{} WHERE application_name = ANY(%s)").format(
        sql.Identifier(recorder.datastore.schema), sql.Identifier(recorder.tracking_table_name)
    )
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(query, (sorted(names),))
        return {row["application_name"]: row["notification_id"] for row in cursor.fetchall()}
