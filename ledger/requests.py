"""Inputs that arrive as an HTTP request (`POST /inputs`), applied through the one write
path as a scenario's lines are, with what a request adds to a file:

- **Validation** is the scenario's own (`ledger.inputs.parse_scenario`): the body, one
  JSON object, a JSON array of them or JSON Lines, becomes the lines of a scenario whose
  line N is the request's item N, so that an error names the item and its field.
- **Time.** An item without `at` takes the server's UTC time at acceptance, never
  earlier than the store's clock (the items after it, as in a file, the time before
  them); an item with `at` must not be earlier than the store's clock. Both are checked
  while the writer lease is held, so no other writer moves the clock between the check
  and the save.
- **Identity.** No implicit ids: a request without an `Idempotency-Key` is new inputs
  every time (the source `api`, and no file mark). A request with a key is a file of
  its own, `api request KEY`, whose mark moves with its inputs (`ledger.idempotency`),
  and its `RequestReceipt` (saved before its first input, with the file begun) keeps the
  digest of its body without the items' times: the same key and body again has no
  further effect (or finishes what a crash cut short), another body is recorded as a
  rejection and refused (`RequestConflict`).
- **One writer.** The store's writer lease is held for the whole request, waited for
  (`LEASE_WAIT_SECONDS`), so concurrent requests are applied one after the other.
- **Who.** Every input is recorded as submitted by the request's actor (the API key's name).

On SQLite the request is applied and its processes run inline, as `ledger run` does; on
PostgreSQL its inputs are appended for the service (`ledger submit`'s `Submission`), and
`settle` waits after each until the service has processed what it set off.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from ledger.application import Ledger
from ledger.bootstrap import open_ledger, open_service_ledger
from ledger.causes import input_cause
from ledger.domain.limits import name_fault
from ledger.domain.market import RequestReceipt, request_receipt_id
from ledger.inputs import InputError, InputErrors, LedgerInput, Scenario, parse_scenario
from ledger.inputs.json_lines import strict_json
from ledger.inputs.records import fingerprint, time_text
from ledger.processes.inline import run_inputs
from ledger.processes.service import Submission, wait_until_settled
from ledger.runs import known_state
from ledger.store import POSTGRES_SCHEMES, StoreBusy, writer_lease
from ledger.unit_of_work import UnitOfWork

UNKEYED_SOURCE = "api"
KEYED_SOURCE_PREFIX = "api request "
ITEMS_PER_REQUEST_MAX = 10_000
LEASE_WAIT_SECONDS = 30.0
# Inputs only an admin may submit: a `params` input changes the rules for every account.
ADMIN_OPS = frozenset({"params"})


@dataclass(frozen=True)
class InputRequest:
    """One `POST /inputs`: its body as received, who sent it and when."""

    body: bytes
    actor: str
    received_at: datetime  # the server's UTC time at acceptance
    idempotency_key: str | None = None
    json_lines: bool = False  # the body is JSON Lines (else one JSON object or an array)

    @property
    def source(self) -> str:
        return UNKEYED_SOURCE if self.idempotency_key is None else KEYED_SOURCE_PREFIX + self.idempotency_key


@dataclass(frozen=True)
class RequestOutcome:
    """What a request did: `applied` (inline), `appended` (for the service), or `repeat`
    (a keyed request seen before: nothing more was applied)."""

    status: str
    source: str
    items: int
    applied: int
    position: int  # the store's last notification id once it was done
    rejections: list[dict[str, Any]] = field(default_factory=list)


class RequestConflict(Exception):
    """An `Idempotency-Key` already used by a request with another body (recorded as a rejection)."""


class StoreBusyTooLong(Exception):
    """The writer lease was not free within `LEASE_WAIT_SECONDS`."""


def apply_request(url: str, request: InputRequest, settle_seconds: float | None = None) -> RequestOutcome:
    """Validates and applies one request under the store's writer lease (see the module's
    docstring); raises InputErrors (nothing written), RequestConflict or StoreBusyTooLong.
    On PostgreSQL the inputs are appended for the service, waiting `settle_seconds` after
    each when given (ServiceNotSettled when it does not settle in time)."""
    items = request_items(request)
    service = url.startswith(POSTGRES_SCHEMES)
    with _waited_writer_lease(url):
        app = open_service_ledger(url) if service else open_ledger(url)
        try:
            return _apply(app, request, items, service, settle_seconds)
        finally:
            app.close()


def _apply(
    app: Ledger, request: InputRequest, items: list[dict[str, Any]], service: bool, settle_seconds: float | None
) -> RequestOutcome:
    receipt = _receipt(app, request)
    if receipt is not None:
        if receipt.body_digest != body_digest(items):
            _record_conflict(app, request, receipt)
            raise RequestConflict(
                f"Idempotency-Key {request.idempotency_key!r} was already used by a different request "
                f"({receipt.inputs} inputs, received {time_text(receipt.received_at)} from {receipt.actor})"
            )
        mark = app.file_mark(request.source)
        if mark is not None and mark.inputs_applied == len(items):
            if service and settle_seconds is not None:
                # A repeat of a request whose wait ran out: it waits again, appending nothing.
                wait_until_settled(app, settle_seconds)
            return RequestOutcome("repeat", request.source, len(items), 0, _position(app))
    planned = _plan(app, request, items)
    if receipt is None and request.idempotency_key is not None:
        _receive(app, request, items)
    rejections_before = _rejections_version(app)
    if service:
        _append(app, planned.inputs, settle_seconds)
    else:
        run_inputs(app, planned.inputs, again=planned.again)
    return RequestOutcome(
        "appended" if service else "applied",
        request.source,
        len(items),
        len(planned.inputs),
        _position(app),
        _rejections_since(app, rejections_before, request.source),
    )


def _position(app: Ledger) -> int:
    return app.recorder.max_notification_id() or 0


def request_items(request: InputRequest) -> list[dict[str, Any]]:
    """The request's inputs as JSON objects, read strictly (as a scenario's lines are)."""
    fault = None if request.idempotency_key is None else name_fault(request.idempotency_key)
    if fault is not None:
        raise InputErrors([InputError(0, "Idempotency-Key", fault, location="request")])
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputErrors([InputError(0, "body", f"not valid UTF-8 ({error.reason})", location="request")]) from None
    if request.json_lines:
        values: list[Any] = []
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                values.append(_strict(line, f"line {number}"))
    else:
        value = _strict(text, "body")
        values = value if isinstance(value, list) else [value]
    if not values:
        raise InputErrors([InputError(0, "body", "no input in the request", location="request")])
    if len(values) > ITEMS_PER_REQUEST_MAX:
        raise InputErrors(
            [InputError(0, "body", f"{len(values)} inputs; at most {ITEMS_PER_REQUEST_MAX} a request", "request")]
        )
    faults = [
        InputError(n, "item", "an input must be a JSON object")
        for n, v in enumerate(values, 1)
        if not isinstance(v, dict)
    ]
    if faults:
        raise InputErrors(faults)
    return values


def admin_items(items: list[dict[str, Any]]) -> list[int]:
    """The numbers of the items only an admin may submit (`ADMIN_OPS`): the caller's role is
    the entry point's to check, before anything is applied."""
    return [number for number, item in enumerate(items, start=1) if item.get("op") in ADMIN_OPS]


def body_digest(items: list[dict[str, Any]]) -> str:
    """What names a request's content: its items in order, each by the fingerprint an input
    with an `id` is known by (every field but `at`)."""
    return hashlib.sha256("\n".join(fingerprint(item) for item in items).encode()).hexdigest()


def _strict(text: str, where: str) -> Any:
    try:
        return strict_json(text)
    except ValueError as error:
        raise InputErrors([InputError(0, where, f"invalid JSON: {error}", location="request")]) from None


def _plan(app: Ledger, request: InputRequest, items: list[dict[str, Any]]) -> Scenario:
    """The request's inputs still to apply, validated as a scenario's lines are (item N is
    line N); an item without `at` first takes the time of acceptance."""
    known = known_state(app, request.source)
    if items[0].get("at") is None:
        known.clock = max(request.received_at, known.clock or request.received_at)
    text = "\n".join(json.dumps(item) for item in items)
    keyed = request.idempotency_key is not None
    planned = parse_scenario(text, request.source, known, again=not keyed)
    planned = planned.submitted_by(request.actor)
    if keyed:
        return planned
    # No implicit ids: unkeyed inputs are new each time, and leave no file mark.
    return replace(planned, inputs=[replace(item, chain=None) for item in planned.inputs])


def _receipt(app: Ledger, request: InputRequest) -> RequestReceipt | None:
    if request.idempotency_key is None:
        return None
    with UnitOfWork(app) as uow:
        found = uow.find(request_receipt_id(request.idempotency_key))
    assert found is None or isinstance(found, RequestReceipt)
    return found


def _receive(app: Ledger, request: InputRequest, items: list[dict[str, Any]]) -> None:
    """The receipt and the request's file, saved before its first input."""
    assert request.idempotency_key is not None
    with UnitOfWork(app) as uow:
        uow.add(
            RequestReceipt(
                key=request.idempotency_key,
                body_digest=body_digest(items),
                source=request.source,
                inputs=len(items),
                actor=request.actor,
                received_at=request.received_at,
            )
        )
        uow.begin_file(request.source, app.overlay_fingerprint(), again=False)
        uow.commit()


def _record_conflict(app: Ledger, request: InputRequest, receipt: RequestReceipt) -> None:
    with UnitOfWork(app) as uow:
        uow.log(
            app.rejections_log,
            line=0,
            source=request.source,
            op="request",
            input_id=None,
            account=None,
            error=(
                f"Idempotency-Key {request.idempotency_key!r} was already used by a different request "
                f"(received {time_text(receipt.received_at)} from {receipt.actor}); sent by {request.actor}"
            ),
            # The ledger's time when it was refused: a rejection does not move the store's clock.
            at=app.store_clock() or request.received_at,
            cause=input_cause(request.source, 0, "request", None, request.actor),
        )
        uow.commit()


def _append(app: Ledger, inputs: list[LedgerInput], settle_seconds: float | None) -> None:
    def wait() -> None:
        if settle_seconds is not None:
            wait_until_settled(app, settle_seconds)

    for _ in Submission(app, wait, settle_each=settle_seconds is not None).submit(inputs):
        pass


def _rejections_version(app: Ledger) -> int:
    last = app.rejections_log.get_last()
    return 0 if last is None else last.originator_version


def _rejections_since(app: Ledger, version: int, source: str) -> list[dict[str, Any]]:
    return [
        {
            "item": rejected.line,
            "op": rejected.op,
            "id": rejected.input_id,
            "account": rejected.account,
            "error": rejected.error,
        }
        for rejected in app.rejections_log.get(gt=version)
        if rejected.source == source
    ]


@contextmanager
def _waited_writer_lease(url: str) -> Iterator[None]:
    """The store's writer lease, waited for: concurrent requests queue for it."""
    with ExitStack() as held:
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(StoreBusy),
                wait=wait_exponential(multiplier=0.005, max=0.2),
                stop=stop_after_delay(LEASE_WAIT_SECONDS),
                reraise=True,
            ):
                with attempt:
                    held.enter_context(writer_lease(url))
        except StoreBusy as busy:
            raise StoreBusyTooLong(str(busy)) from None
        yield
