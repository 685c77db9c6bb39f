"""The dispatcher: follows the notification log and starts the tasks each event calls for.

It reads committed events only (never from inside a transaction), in order, from
where it stopped. A reaction has finished when its tracking record in the store has
reached the notification it reacts to (`ledger.processes.service_reactions.tracked_positions`); the
dispatcher's own tracked position (`ledger.processes.service.DISPATCHER_TRACKING`) is the last
notification whose every reaction has finished. So after a restart, of the
dispatcher or of Redis, whatever may not have run is sent again, and a reaction
not finished within `redispatch_after_seconds` (lost with Redis, or with a worker
killed mid-task) is sent again too. Sending twice is harmless: every task has one
effect however often it runs.

Events that begin an hour, offer liquidity or change the parameters are barriers:
their tasks start once everything before them has finished, and nothing after
them starts until theirs have, as `ledger run` would order them.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from threading import Event
from typing import Any

import kombu.exceptions
import redis.exceptions
import sqlalchemy.exc
from celery import Celery
from eventsourcing.persistence import IntegrityError, Tracking

from ledger.application import Ledger
from ledger.log import GapWatch, read_committed
from ledger.processes.indexes import Driver
from ledger.processes.routing import Reaction, is_barrier, next_steps, reaction_tracking_name
from ledger.processes.service import DISPATCHER_TRACKING, TRANSIENT_ERRORS, dispatcher_position
from ledger.processes.service_reactions import tracked_positions
from ledger.processes.snapshots import SNAPSHOT_EVERY, service_index, take_snapshot_if_due
from ledger.processes.steps import registered_steps, step_spec, task_name
from ledger.store import sql_engine
from workers.heartbeat import Heartbeat
from workers.logs import logger
from workers.settings import ServiceSettings

BROKER_ERRORS = (
    kombu.exceptions.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
)
WAIT_ERRORS = (*TRANSIENT_ERRORS, *BROKER_ERRORS, sqlalchemy.exc.OperationalError)
MAX_OUTSTANDING = 20_000  # reactions sent and not finished, before reading further
CHECKED_A_ROUND = 5_000  # reactions whose tracking records one round looks up, oldest first


@dataclass
class InFlight:
    """One event's reactions, from dispatch to the last one's tracking record."""

    notification_id: int
    event: str
    barrier: bool
    reactions: list[Reaction]
    names: list[str] = field(default_factory=list)  # each reaction's tracking record
    unfinished: set[int] = field(default_factory=set)  # indexes into reactions
    unsent: set[int] = field(default_factory=set)
    sent_at: float = 0.0
    resends: int = 0

    def __post_init__(self) -> None:
        self.names = [reaction_tracking_name(reaction) for reaction in self.reactions]
        self.unfinished = set(range(len(self.reactions)))
        self.unsent = set(self.unfinished)


class Dispatcher:
    def __init__(
        self, app: Ledger, celery_app: Celery, settings: ServiceSettings, tasks: Mapping[str, Any] | None = None
    ):
        self.app = app
        self.celery_app = celery_app
        self.settings = settings
        # The Celery tasks, one a registered step, sent by name unless given.
        self.tasks = tasks or {
            spec.step.value: celery_app.signature(task_name(spec.step)) for spec in registered_steps()
        }
        self.log = logger("dispatcher")
        assert app.store_url is not None
        self.engine = sql_engine(app.store_url)
        self.gaps = GapWatch(app, self.engine, wait_seconds=2.0)
        self.done_position = self.recorded_position = self.read_position = dispatcher_position(app)
        # Rebuilt from the store as it stands (from a snapshot of the indexes where one is
        # usable, `ledger.processes.snapshots`); the events read again after a restart
        # update it only where they are newer than what it was loaded with.
        self.index, start = service_index(app)
        self.snapshot_position = start.position  # of the snapshot the indexes came from or went to
        self.in_flight: deque[InFlight] = deque()
        self.outstanding = 0
        self.collected_at = 0.0
        self.log.info(
            "started",
            position=self.done_position,
            indexes_from=start.source,
            indexes_position=start.position,
            **self.index.figures(),
        )

    # --- the loop ------------------------------------------------------------------------

    def run_forever(self, stop: Event) -> None:
        heartbeat = Heartbeat()
        pause = 0.0
        while not stop.is_set():
            heartbeat.beat()
            try:
                busy = self.run_round()
            except WAIT_ERRORS as error:
                pause = min(max(pause * 2, 0.25), 10.0)  # backing off while it is away
                self.log.warning(
                    "waiting for the store or the broker",
                    error=str(error),
                    error_type=type(error).__name__,
                    retry_in_seconds=pause,
                )
                self.app.forget_cached_state()
                stop.wait(pause)
                continue
            pause = 0.0
            if not busy:
                stop.wait(self.settings.dispatch_poll_seconds)
        self.record_position()

    def run_round(self) -> bool:
        """Collects finished reactions, sends what is due, reads further; True when anything moved."""
        collected = self.collect()
        self.send_due()
        read = self.read_more()
        self.record_position()
        return collected or read > 0

    # --- reading the log ----------------------------------------------------------------------

    def read_more(self) -> int:
        if self.outstanding >= MAX_OUTSTANDING or (self.in_flight and self.in_flight[-1].barrier):
            return 0
        batch = read_committed(self.app, self.gaps, self.read_position, self.settings.dispatch_batch)
        read = 0
        added_from = len(self.in_flight)
        for notification in batch.notifications:
            event = self.app.mapper.to_domain_event(notification)
            barrier = is_barrier(event)
            if barrier and self.in_flight:
                break  # once everything before it has finished
            self.index.observe(event)
            reactions = self.index.reactions(event) * self.settings.dispatch_copies
            entry = InFlight(notification.id, type(event).__qualname__, barrier, reactions)
            self._hold_followed_on(entry, event)
            self._add(entry)
            self.read_position = notification.id
            read += 1
            if barrier:
                break  # nothing after it until its reactions have finished
        # A worker following on from a step may have run the next ones already.
        self.collect(list(self.in_flight)[added_from:])
        self.send_due()
        self.snapshot_if_due()
        return read

    def snapshot_if_due(self) -> None:
        """A snapshot of the indexes every `SNAPSHOT_EVERY` events read: every event
        through the read position has been observed."""
        if self.read_position - self.snapshot_position >= SNAPSHOT_EVERY:
            index, position = self.index.each_index, self.read_position
            take_snapshot_if_due(self.app, Driver.SERVICE, index, position, self.snapshot_position, at_the_end=False)
            self.snapshot_position = position  # taken, or not to be tried again before as many events

    @staticmethod
    def _hold_followed_on(entry: InFlight, event: Any) -> None:
        """The steps that follow on from an event (a liquidation's next step) are run by the
        worker that saved it, at once (`ledger.processes.service_reactions.run_reactions`):
        they count as sent by it. Sent now too, they would reach another worker process,
        which would run the same step at the same moment, conflict, and redo it. Should the
        worker die before it follows on, they are sent once overdue, as any lost task is."""
        followed_on = set(next_steps(event))
        held = {index for index in entry.unsent if entry.reactions[index] in followed_on}
        if held:
            entry.unsent -= held
            entry.sent_at = time.monotonic()

    def _add(self, entry: InFlight) -> None:
        if not entry.reactions and not self.in_flight:
            self.done_position = entry.notification_id  # nothing to wait for
            return
        self.in_flight.append(entry)
        self.outstanding += len(entry.unfinished)

    # --- sending -----------------------------------------------------------------------------

    def send_due(self) -> None:
        """Sends reactions not sent yet, and again those overdue (each time waiting twice
        as long, so that a backlog is not flooded with copies)."""
        now = time.monotonic()
        for entry in self.in_flight:
            if entry.sent_at and entry.unfinished and now - entry.sent_at > self._resend_after(entry):
                self._resend(entry)
            due = sorted(entry.unsent)
            if any(_one_at_a_time(entry.reactions[index]) for index in due):
                due = self._one_at_a_time(entry, due)
            if due:
                with self.celery_app.producer_or_acquire() as producer:
                    for chunk in self._chunks(entry, due):
                        self._send(producer, [entry.reactions[index] for index in chunk], entry.notification_id)
                        entry.unsent.difference_update(chunk)
                entry.sent_at = now

    def _chunks(self, entry: InFlight, due: list[int]) -> list[list[int]]:
        """One step for up to `task_chunk` subjects a task, each subject once a task; a step
        run one at a time (an auto top-up) or a sale against liquidity alone."""
        chunks: list[list[int]] = []
        open_chunks: dict[str, list[int]] = {}
        for index in due:
            reaction = entry.reactions[index]
            chunk = open_chunks.get(reaction.step)
            if (
                chunk is None
                or len(chunk) >= self.settings.task_chunk
                or _one_at_a_time(reaction)
                or reaction.takeovers
                or any(entry.reactions[i].subject == reaction.subject for i in chunk)
            ):
                chunk = open_chunks[reaction.step] = []
                chunks.append(chunk)
            chunk.append(index)
        return chunks

    def _resend_after(self, entry: InFlight) -> float:
        return self.settings.redispatch_after_seconds * 2 ** min(entry.resends, 5)

    def _resend(self, entry: InFlight) -> None:
        """Reactions not finished in time are sent again: lost with Redis, or with a worker
        killed mid-task; a copy of one still queued or running changes nothing."""
        entry.resends += 1
        log = self.log.error if entry.resends > 3 else self.log.warning
        for index in sorted(entry.unfinished - entry.unsent):
            reaction = entry.reactions[index]
            log(
                "sending again",
                notification_id=entry.notification_id,
                cause_event=entry.event,
                task=self.tasks[reaction.step].name,
                subject=reaction.subject,
                resends=entry.resends,
            )
        entry.unsent |= entry.unfinished

    @staticmethod
    def _one_at_a_time(entry: InFlight, due: list[int]) -> list[int]:
        """Reactions of a step run one at a time (accounts that top up may draw on the same
        source): as `ledger run` does, one after the other in subject order, each once the
        one before it has finished."""
        serial = [index for index in sorted(entry.unfinished) if _one_at_a_time(entry.reactions[index])]
        first_unfinished = serial[0] if serial else None
        return [index for index in due if not _one_at_a_time(entry.reactions[index]) or index == first_unfinished]

    def _send(self, producer: Any, reactions: list[Reaction], notification_id: int) -> None:
        task = self.tasks[reactions[0].step]
        kwargs: dict[str, Any] = {}
        if reactions[0].takeovers:
            kwargs["takeovers"] = list(reactions[0].takeovers)
        # Whether it ran is read from the store, not from a result in Redis.
        task.apply_async(
            args=[[reaction.subject for reaction in reactions], notification_id],
            kwargs=kwargs,
            queue=self.settings.queue,
            ignore_result=True,
            producer=producer,
        )

    # --- finished reactions --------------------------------------------------------------------

    def collect(self, entries: list[InFlight] | None = None) -> bool:
        """Moves the done position over every event whose reactions have all finished.
        Looks up the tracking records of the oldest unfinished reactions, or of `entries`;
        at most every `dispatch_collect_seconds` unless `entries` are given (each look is a query)."""
        now = time.monotonic()
        if entries is None and now - self.collected_at < self.settings.dispatch_collect_seconds:
            return False
        if entries is None:
            self.collected_at = now
        names: set[str] = set()
        for entry in self.in_flight if entries is None else entries:
            names.update(entry.names[index] for index in entry.unfinished)
            if len(names) >= CHECKED_A_ROUND:
                break
        reached = tracked_positions(self.app, names)
        for entry in self.in_flight if entries is None else entries:
            finished = {
                index for index in entry.unfinished if reached.get(entry.names[index], 0) >= entry.notification_id
            }
            entry.unfinished -= finished
            entry.unsent -= finished  # run already, by a worker following on from a step
            self.outstanding -= len(finished)
        moved = False
        while self.in_flight and not self.in_flight[0].unfinished:
            self.done_position = self.in_flight.popleft().notification_id
            moved = True
        return moved

    def record_position(self) -> None:
        if self.done_position > self.recorded_position:
            # A position, not events: the unit of work saves events (their entries checked to
            # net to zero) with the tracking record of what they react to, in one transaction.
            # Here no aggregate changes and no money moves; the record only says how far every
            # reaction has finished, so it is written alone, in a transaction of its own.
            try:
                self.app.recorder.insert_tracking(Tracking(DISPATCHER_TRACKING, self.done_position))
            except IntegrityError:
                # Recorded already: a commit whose reply was lost, retried by the library.
                if dispatcher_position(self.app) < self.done_position:
                    raise
            self.recorded_position = self.done_position

    def close(self) -> None:
        self.engine.dispose()


def _one_at_a_time(reaction: Reaction) -> bool:
    return step_spec(reaction.step).one_at_a_time
