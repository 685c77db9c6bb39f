"""`POST /inputs`: one input or a batch in the scenario's format, applied through
`ledger.requests` (validation, times, the Idempotency-Key, the writer lease are there);
this module only translates HTTP to a request and its outcome or errors to answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse

from ledger.entrypoints.api.access import CallerOf, requires
from ledger.entrypoints.api.store import StoreOf
from ledger.inputs import InputErrors
from ledger.processes.service import ServiceNotSettled
from ledger.requests import (
    InputRequest,
    RequestConflict,
    RequestOutcome,
    StoreBusyTooLong,
    admin_items,
    apply_request,
    request_items,
)
from projections.api_keys import Role

router = APIRouter(tags=["inputs"])

BODY_BYTES_MAX = 16 * 1024 * 1024
JSON = "application/json"
JSON_LINES = ("application/x-ndjson", "application/jsonl")
SETTLE_SECONDS_DEFAULT = 30.0
SETTLE_SECONDS_MAX = 600.0
BUSY_RETRY_AFTER_SECONDS = "1"

EXAMPLE_BATCH = [
    {"op": "open", "account": "A", "mode": "cross_classic", "leverage": 5, "at": "2026-01-05T10:00:00Z"},
    {"op": "deposit", "account": "A", "asset": "USDC", "amount": "1000", "id": "dep-1"},
]
EXAMPLE_LINES = "\n".join(
    [
        '{"op": "mark", "asset": "BTC", "price": "50000"}',
        '{"op": "deposit", "account": "A", "asset": "BTC", "amount": "2"}',
    ]
)
INPUT_SCHEMA = {"type": "object", "required": ["op"], "additionalProperties": True}

# The body is read raw (the scenario's parser validates it, naming item and field), so
# FastAPI is not given a model: the document describes it here, for /docs.
REQUEST_BODY = {
    "required": True,
    "description": "One input (a JSON object in the scenario format, `shared/spec/scenario.md`), "
    "a JSON array of them, or JSON Lines (`application/x-ndjson`). At most 16 MiB.",
    "content": {
        JSON: {
            "schema": {"oneOf": [INPUT_SCHEMA, {"type": "array", "items": INPUT_SCHEMA}]},
            "example": EXAMPLE_BATCH,
        },
        JSON_LINES[0]: {"schema": {"type": "string"}, "example": EXAMPLE_LINES},
    },
}

ERROR_ITEMS = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "item": {"type": "integer", "description": "1 for the first input; 0 for the request"},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
ERROR_DETAIL = {"type": "object", "properties": {"detail": {"type": "string"}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "PostgreSQL: appended for the service (`position`: the log's last notification id)"},
    403: {"description": "The key's role is too low (a `params` input needs admin); nothing written"},
    409: {"description": "The Idempotency-Key was used with another body: recorded as a rejection"},
    413: {"description": "The body is larger than 16 MiB"},
    415: {"description": "The body is neither application/json nor application/x-ndjson"},
    422: {
        "description": "Bad input: each error names the item and field; nothing written",
        "content": {JSON: {"schema": ERROR_ITEMS}},
    },
    503: {
        "description": "The store is busy with another writer for too long, or (settle=true) the service "
        "did not settle the request in time: is `ledger dispatcher` running?",
        "content": {JSON: {"schema": ERROR_DETAIL}},
    },
}


def _route_arguments() -> dict[str, Any]:
    arguments = requires(Role.OPERATOR)
    return {
        **arguments,
        "openapi_extra": {**arguments["openapi_extra"], "requestBody": REQUEST_BODY},
        "responses": {**arguments["responses"], **RESPONSES},
    }


async def _bounded_body(request: Request) -> bytes:
    """The body as received, refused (413) once it is larger than `BODY_BYTES_MAX`, read
    in chunks so that a large body is never held whole before it is refused."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_BYTES_MAX:
        raise _too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BODY_BYTES_MAX:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> HTTPException:
    return HTTPException(
        status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        f"the body is larger than {BODY_BYTES_MAX // (1024 * 1024)} MiB: send the inputs in several requests",
    )


def _is_json_lines(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type == JSON:
        return False
    if media_type in JSON_LINES:
        return True
    raise HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        f"Content-Type {media_type or '(none)'!r}: send {JSON} (one input or an array) or {JSON_LINES[0]} (JSON Lines)",
    )


@router.post("/inputs", response_model=RequestOutcome, **_route_arguments())
def submit_inputs(
    store: StoreOf,
    caller: CallerOf,
    response: Response,
    body: Annotated[bytes, Depends(_bounded_body)],
    content_type: Annotated[str | None, Header(include_in_schema=False)] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="Names the whole request: the same key and body (times aside) is applied once; "
            "the same key with another body is refused (409) and recorded as a rejection."
        ),
    ] = None,
    settle: Annotated[
        bool,
        Query(
            description="PostgreSQL: wait after each input until the service has processed what it set off "
            "(the results of `ledger run`), then answer 200; 503 if it does not within `timeout`"
        ),
    ] = False,
    timeout: Annotated[
        float, Query(gt=0, le=SETTLE_SECONDS_MAX, description="Seconds to wait for the service, each time")
    ] = SETTLE_SECONDS_DEFAULT,
) -> RequestOutcome | JSONResponse:
    """Applies one input or a batch in the scenario format, validated as `ledger run`
    validates a file (item N is line N). An item without `at` takes the server's UTC time
    at acceptance (never earlier than the store's clock); one with `at` earlier than the
    store's clock is refused. Recorded as submitted by the key's name.

    SQLite: applied with its processes, 200. PostgreSQL: appended for the service, 202
    (`position`: the log's last notification id), or with `settle=true` 200 once settled.
    `status` is `applied`, `appended`, or `repeat` (a keyed request seen before: nothing
    more applied)."""
    received_at = datetime.now(UTC)  # read here, before the request waits for the writer lease
    request = InputRequest(body, caller.name, received_at, idempotency_key, _is_json_lines(content_type))
    try:
        refused = admin_items(request_items(request))
        if refused and not caller.role.allows(Role.ADMIN):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"a params input (item {', '.join(map(str, refused))}) needs the admin role; "
                f"the key {caller.name!r} is {caller.role.value}: nothing was applied",
            )
        outcome = apply_request(store.url, request, timeout if settle else None)
    except InputErrors as errors:
        return _unprocessable(errors)
    except RequestConflict as conflict:
        raise HTTPException(status.HTTP_409_CONFLICT, str(conflict)) from None
    except StoreBusyTooLong as busy:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"another writer held the store too long ({busy}); nothing was applied: try again",
            headers={"Retry-After": BUSY_RETRY_AFTER_SECONDS},
        ) from None
    except ServiceNotSettled as not_settled:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"{not_settled}. The inputs appended so far stay, for the service to process; with an "
            "Idempotency-Key, sending the request again appends the rest and waits again.",
        ) from None
    if outcome.status == "appended" and not settle:
        response.status_code = status.HTTP_202_ACCEPTED
    return outcome


def _unprocessable(errors: InputErrors) -> JSONResponse:
    """422: each error as `ledger run` states it, by item (0: the request as a whole)."""
    found = [{"item": error.line, "field": error.field, "message": error.message} for error in errors.errors]
    return JSONResponse(
        {"detail": f"{len(found)} error(s) in the request; nothing was applied", "errors": found},
        status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
    )
