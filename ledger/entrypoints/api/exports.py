"""The exports (role `viewer`): `GET /exports/{kind}`, the journal, the balances or the
liquidations as CSV or Parquet, as `ledger export` writes them, streamed as they are made
(`projections.presentation.exports.open_export`: row groups, constant memory)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from ledger.entrypoints.api.reads import bad_query, moment, requires_and_answers
from ledger.entrypoints.api.views import ViewsOf
from projections.api_keys import Role
from projections.exports import ExportError
from projections.presentation.exports import open_export

router = APIRouter(tags=["exports"])

Kind = Literal["journal", "balances", "liquidations"]
Format = Literal["csv", "parquet"]


@router.get(
    "/exports/{kind}",
    response_class=StreamingResponse,
    **requires_and_answers(Role.VIEWER, {200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}}),
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
    start, end = moment("since", since), moment("until", until)
    views.current()
    try:
        made = open_export(views.app, views.engine, kind, format, start, end, account)
    except ExportError as error:
        bad_query(error.argument or "kind", str(error))
    # The views were brought up to date above; the chunks are made as the response is sent.
    return StreamingResponse(
        made.chunks,
        media_type=made.media_type,
        headers={"Content-Disposition": f'attachment; filename="{made.filename}"'},
    )
