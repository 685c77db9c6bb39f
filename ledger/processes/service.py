"""The service mode's command side: inputs submitted one by one to a store that the
workers process (`Submission`), and the service's progress: whether every event in
the store has been reacted to. The reactions themselves run in
`ledger.processes.service_reactions`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError

from ledger.application import Ledger
from ledger.idempotency import LineAlreadyApplied
from ledger.inputs import LedgerInput, input_record
from ledger.write_path import apply_input, begin_hours, begin_run

DISPATCHER_TRACKING = "ledger.dispatcher"  # everything up to this notification id has been reacted to
# What a restart of PostgreSQL or a lost connection raises: worth trying again later.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, psycopg.OperationalError)


class ServiceNotSettled(TimeoutError):
    pass


# --- the service's progress ------------------------------------------------------------------


def dispatcher_position(app: Ledger) -> int:
    return app.recorder.max_tracking_id(DISPATCHER_TRACKING) or 0


def is_settled(app: Ledger) -> bool:
    """Whether every event in the store has been reacted to, and so every reaction's events."""
    return dispatcher_position(app) >= (app.recorder.max_notification_id() or 0)


def wait_until_settled(app: Ledger, timeout_seconds: float, poll_seconds: float = 0.01) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not is_settled(app):
        if time.monotonic() >= deadline:
            raise ServiceNotSettled(
                f"the service has not processed the store within {timeout_seconds:g} s (dispatcher at "
                f"notification {dispatcher_position(app)} of {app.recorder.max_notification_id() or 0}): "
                "is `ledger dispatcher` running, and a `ledger worker`?"
            )
        time.sleep(poll_seconds)


# --- submitting inputs --------------------------------------------------------------------


class Submission:
    """`ledger submit`: a scenario's inputs applied one by one, each in its own
    transaction, with no process run here.

    `settle_each` waits after each input until the service has processed everything it
    set off, so that results are those of `ledger run`. An hour, whatever the mode,
    begins only once the service has settled, and the next input waits for its
    interest: interest is owed on what was owed at hh:00, and an hour that began in
    the middle of a liquidation, or a borrow saved before the hour's accrual, would
    change it.

    A save whose outcome a lost connection hid (the library's own retry then finds its
    rows there) is found in the store's record of inputs rather than applied twice; a
    save that lost a race with a worker is applied again to the new state."""

    def __init__(
        self,
        app: Ledger,
        wait_for_service: Callable[[], None],
        settle_each: bool = True,
        retry_seconds: float = 60.0,
        on_wait: Callable[[Exception], None] | None = None,
    ):
        self.app = app
        self.wait_for_service = wait_for_service
        self.settle_each = settle_each
        self.retry_seconds = retry_seconds
        self.on_wait = on_wait or (lambda _error: None)

    def submit(self, inputs: list[LedgerInput]) -> Iterator[LedgerInput]:
        """Applies each input, yielding it once it is in the store."""
        if not inputs:
            return
        first = inputs[0]
        self._retrying(lambda: begin_run(self.app, first, kind="submit"))
        self._settle()
        for item in inputs:
            self._begin_hours(item)
            self._apply_once(item)
            self._settle()
            yield item

    def _settle(self) -> None:
        if self.settle_each:
            self.wait_for_service()

    def _begin_hours(self, item: LedgerInput) -> None:
        cause = {**item.cause(), "step": "clock"}
        while self._retrying(lambda: self.app.hour_due(item.at)):
            an_hour = self._retrying(self.app.clock_started)  # else this starts the clock
            if an_hour:
                self.wait_for_service()
            # The next hour only; a conflict means it was begun meanwhile: hour_due says.
            self._retrying(lambda: next(begin_hours(self.app, item.at, cause), None), conflicts_retried=True)
            if an_hour:
                self.wait_for_service()

    def _apply_once(self, item: LedgerInput) -> None:
        inputs_before = self._retrying(self._inputs_log_version)
        record = input_record(item)

        def apply() -> None:
            if self._recorded_since(inputs_before, record):
                return  # committed, though its reply was lost
            try:
                apply_input(self.app, item)
            except LineAlreadyApplied:
                self.app.forget_cached_state()  # another submit of the file applied it: once is enough

        self._retrying(apply, conflicts_retried=True)

    def _inputs_log_version(self) -> int:
        last = self.app.inputs_log.get_last()
        return 0 if last is None else last.originator_version

    def _recorded_since(self, version: int, record: dict[str, Any]) -> bool:
        return any(recorded == record for recorded in self.app.inputs_logged_after(version))

    def _retrying(self, operation: Callable[[], Any], conflicts_retried: bool = False) -> Any:
        """`operation`, again after a lost connection (and, if it looks before it writes,
        after a conflict), with backoff, for up to `retry_seconds`."""
        retried = (*TRANSIENT_ERRORS, IntegrityError) if conflicts_retried else TRANSIENT_ERRORS
        deadline = time.monotonic() + self.retry_seconds
        pause = 0.1
        while True:
            try:
                return operation()
            except retried as error:
                self.app.forget_cached_state()
                if time.monotonic() + pause > deadline:
                    raise
                self.on_wait(error)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
