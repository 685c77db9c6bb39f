"""The dispatcher: follows the notification log and starts the tasks each event calls for.

It reads committed events only (never from inside a transaction), in order, from
where it stopped. Its tracked position (`ledger.service.DISPATCHER_TRACKING`) is
the last notification whose every task has finished, so after a restart, of the
dispatcher or of Redis, whatever may not have run is sent again; a task's result
that does not come within `redispatch_after_seconds` is sent again too. Sending
twice is harmless: every task has one effect however often it runs.

Events that begin an hour, offer liquidity or change the parameters are barriers:
their tasks start once everything before them has finished, and nothing after
them starts until theirs have, as `ledger run` would order them.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from threading import Event
from typing import Any

import kombu.exceptions
import redis.exceptions
from celery import Celery
from celery.result import AsyncResult
from eventsourcing.persistence import Tracking

from ledger.application import Ledger
from ledger.fanout import ServiceIndex
from ledger.processes import BARRIER_EVENTS, TAKEOVER_SALES, Reaction
from ledger.service import DISPATCHER_TRACKING, TRANSIENT_ERRORS, dispatcher_position
from projections.database import views_engine
from projections.runner import GapWatch, read_committed
from workers.logs import logger
from workers.settings import ServiceSettings

BROKER_ERRORS = (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                 ConnectionError)
MAX_OUTSTANDING = 20_000  # reactions sent and not finished, before reading further


@dataclass
class InFlight:
    """One event's reactions, from dispatch to the last one's result."""

    notification_id: int
    event: str
    barrier: bool
    reactions: list[Reaction]
    results: list[AsyncResult | None] = field(default_factory=list)  # None: to be sent
    sent_at: float = 0.0
    finished: int = 0  # reactions known to have finished, from the front

    def __post_init__(self) -> None:
        self.results = [None] * len(self.reactions)

    @property
    def complete(self) -> bool:
        return self.finished == len(self.reactions)


class Dispatcher:
    def __init__(self, app: Ledger, celery_app: Celery, settings: ServiceSettings):
        from workers.tasks import TASKS_BY_STEP

        self.app = app
        self.celery_app = celery_app
        self.settings = settings
        self.tasks = TASKS_BY_STEP
        self.log = logger("dispatcher")
        assert app.store_url is not None
        self.engine = views_engine(app.store_url)
        self.gaps = GapWatch(app, self.engine, wait_seconds=2.0)
        self.done_position = self.recorded_position = self.read_position = dispatcher_position(app)
        # Rebuilt from the store as it stands; the events read again after a restart
        # update it only where they are newer than what it was loaded with.
        self.index = ServiceIndex.load(app)
        self.in_flight: deque[InFlight] = deque()
        self.outstanding = 0
        self.log.info("started", position=self.done_position, accounts=len(self.index.accounts),
                      open_takeovers=len(self.index.open_takeovers))

    # --- the loop ------------------------------------------------------------------------

    def run_forever(self, stop: Event) -> None:
        while not stop.is_set():
            try:
                busy = self.run_round()
            except (*TRANSIENT_ERRORS, *BROKER_ERRORS) as error:
                self.log.warning("waiting for the store or the broker", error=str(error), error_type=type(error).__name__)
                self.app.forget_cached_state()
                stop.wait(1.0)
                continue
            if not busy:
                stop.wait(self.settings.dispatch_poll_seconds)
        self.record_position()

    def run_round(self) -> bool:
        """Collects finished results, sends what is due, reads further; True when anything moved."""
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
        for notification in batch.notifications:
            event = self.app.mapper.to_domain_event(notification)
            barrier = isinstance(event, BARRIER_EVENTS)
            if barrier and self.in_flight:
                break  # once everything before it has finished
            self.index.observe(event)
            reactions = self.index.reactions(event) * self.settings.dispatch_copies
            self._add(InFlight(notification.id, type(event).__qualname__, barrier, reactions))
            self.read_position = notification.id
            read += 1
            if barrier:
                break  # nothing after it until its reactions have finished
        self.send_due()
        return read

    def _add(self, entry: InFlight) -> None:
        if not entry.reactions and not self.in_flight:
            self.done_position = entry.notification_id  # nothing to wait for
            return
        self.in_flight.append(entry)
        self.outstanding += len(entry.reactions)

    # --- sending -----------------------------------------------------------------------------

    def send_due(self) -> None:
        """Sends reactions not sent yet, and again those overdue."""
        now = time.monotonic()
        overdue_before = now - self.settings.redispatch_after_seconds
        for entry in self.in_flight:
            if entry.sent_at and entry.sent_at < overdue_before:
                self._mark_overdue(entry)
            unsent = [i for i, result in enumerate(entry.results) if result is None]
            for i in unsent:
                entry.results[i] = self._send(entry.reactions[i], entry.notification_id)
            if unsent:
                entry.sent_at = now

    def _send(self, reaction: Reaction, notification_id: int) -> AsyncResult:
        task = self.tasks[reaction.step]
        kwargs: dict[str, Any] = {}
        if reaction.step == TAKEOVER_SALES and reaction.takeovers:
            kwargs["takeovers"] = list(reaction.takeovers)
        result = task.apply_async(args=[reaction.subject, notification_id], kwargs=kwargs,
                                  queue=self.settings.queue)
        self.log.debug("dispatched", task=task.name, task_id=result.id, notification_id=notification_id,
                       subject=reaction.subject)
        return result

    def _mark_overdue(self, entry: InFlight) -> None:
        """Reactions whose result has not come are sent again (lost with Redis, or with a
        worker killed mid-task); a second copy of one still running changes nothing."""
        for i in range(entry.finished, len(entry.results)):
            result = entry.results[i]
            if result is not None and not self._finished(result, entry, i):
                self.log.warning("sending again", notification_id=entry.notification_id, cause_event=entry.event,
                                 task=self.tasks[entry.reactions[i].step].name, subject=entry.reactions[i].subject,
                                 previous_task_id=result.id)
                entry.results[i] = None

    # --- results ----------------------------------------------------------------------------------

    def collect(self) -> bool:
        """Moves the done position over every event whose reactions have all finished."""
        moved = False
        while self.in_flight:
            entry = self.in_flight[0]
            while entry.finished < len(entry.results):
                result = entry.results[entry.finished]
                if result is None or not self._finished(result, entry, entry.finished):
                    break
                entry.finished += 1
                self.outstanding -= 1
            if not entry.complete:
                break
            self.in_flight.popleft()
            self.done_position = entry.notification_id
            moved = True
        return moved

    def _finished(self, result: AsyncResult, entry: InFlight, index: int) -> bool:
        if not result.ready():
            return False
        if result.successful():
            return True
        reaction = entry.reactions[index]
        self.log.error("task failed; it will be sent again", notification_id=entry.notification_id,
                       cause_event=entry.event, task=self.tasks[reaction.step].name, task_id=result.id,
                       subject=reaction.subject, error=repr(result.result))
        entry.results[index] = None
        return False

    def record_position(self) -> None:
        if self.done_position > self.recorded_position:
            self.app.recorder.insert_tracking(Tracking(DISPATCHER_TRACKING, self.done_position))
            self.recorded_position = self.done_position

    def close(self) -> None:
        self.engine.dispose()
