"""The exports (role `viewer`): `GET /exports/{kind}`, the journal, the balances or the
liquidations as CSV or Parquet, as `ledger export` writes them, streamed as they are made
(`projections.presentation.exports.open_export`: row groups, constant memory)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import StreamingResponse

from ledger.entrypoints.api.access import requires
from ledger.entrypoints.api.views import ViewsOf
from ledger.inputs import parse_time
from projections.api_keys import Role
from projections.exports import ExportError
from projections.presentation.exports import open_export

router = APIRouter(tags=["exports"])

Kind = Literal["journal", "balances", "liquidations"]
Format = Literal["csv", "parquet"]


@router.get(
    "/exports/{kind}",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}},
    **requires(Role.VIEWER),
)
def export(
    kind: Kind,
    views: ViewsOf,
    format: Annotated[Format, Query(description="csv, or parquet (amounts as decimal128(38,18))")] = "csv",
    since: Annotated[str | None, Query(description="At or after this UTC time")] = None,
    until: Annotated[str | None, Query(description="At or before this UTC time (balances: as of it)")] = None,
    account: Annotated[str | None, Query(description="Only this account's rows")] = None,
) -> StreamingResponse:
    """The journal (both sides of every posting as two signed rows), the balances as of a
    time, or the liquidations with their figures, as `ledger export` makes them."""
    start, end = _moment("since", since), _moment("until", until)
    try:
        made = open_export(views.app, views.engine, kind, format, start, end, account)
    except ExportError as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY, [{"loc": ["query"], "msg": str(error), "type": "value_error"}]
        ) from None
    # The views were brought up to date above; the chunks are made as the response is sent.
    return StreamingResponse(
        made.chunks,
        media_type=made.media_type,
        headers={"Content-Disposition": f'attachment; filename="{made.filename}"'},
    )


def _moment(parameter: str, given: str | None) -> datetime | None:
    if given is None:
        return None
    try:
        return parse_time(given)
    except ValueError as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY, [{"loc": ["query", parameter], "msg": str(error), "type": "value_error"}]
        ) from None
