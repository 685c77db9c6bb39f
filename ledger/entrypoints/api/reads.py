"""The read endpoints (role `viewer`): accounts, history, liquidations and their
postmortems, reconcile, parameter versions, system accounts.

Each calls what the CLI's `--json` calls (`ledger/entrypoints/view_commands.py`) on the
views brought up to date (`ViewsOf`), and answers the same JSON. An unknown account or
liquidation is a 404 naming it; a bad query value a 422 naming the parameter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import HTMLResponse

from ledger.domain.futures.account import FuturesStatus
from ledger.domain.futures.liquidation import FuturesLiquidationKind
from ledger.domain.liquidations import LiquidationStatus
from ledger.domain.margin.account import AccountStatus
from ledger.domain.margin.liquidation import LiquidationKind
from ledger.domain.product import AccountMode, Product
from ledger.entrypoints.api.access import CallerOf, requires
from ledger.entrypoints.api.store import StoreOf
from ledger.entrypoints.api.views import ViewsOf
from ledger.inputs import parse_time
from projections.api_keys import Caller, Role
from projections.history import HistoryError, account_history, resolve_point
from projections.listing import (
    account_page,
    account_section,
    liquidation_page,
    modes_of,
    parameter_versions,
    system_accounts,
)
from projections.postmortem import AmbiguousLiquidation, UnknownLiquidation, build_postmortem, liquidation_row
from projections.presentation.html import PageFooter, postmortem_html
from projections.queries import Row, ViewReader
from projections.reconcile import reconcile_store

router = APIRouter(tags=["reads"])

ACCOUNT_STATUSES = sorted({status.value for status in (*AccountStatus, *FuturesStatus)})
LIQUIDATION_KINDS = [kind.value for kind in (*LiquidationKind, *FuturesLiquidationKind)]
LIQUIDATION_STATUSES = [status.value for status in LiquidationStatus]
DEFAULT_PAGE, MAX_PAGE = 100, 1000

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="At most this many in the page")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such account or liquidation: `detail` names it"}}


def requires_and_answers(role: Role, responses: dict[int | str, dict[str, Any]]) -> dict[str, Any]:
    """`requires(role)`, its answers listed with `responses` besides."""
    needs = requires(role)
    return {**needs, "responses": {**needs["responses"], **responses}}


viewer_or_404 = requires_and_answers(Role.VIEWER, NOT_FOUND)


def bad_query(parameter: str, message: str) -> NoReturn:
    """A 422 shaped as FastAPI's own: `detail` lists the parameter's location."""
    raise HTTPException(
        status.HTTP_422_UNPROCESSABLE_ENTITY,
        [{"loc": ["query", parameter], "msg": message, "type": "value_error"}],
    )


def one_of(parameter: str, given: str | None, choices: list[str]) -> str | None:
    if given is not None and given not in choices:
        bad_query(parameter, f"{given!r}: use one of {', '.join(choices)}")
    return given


def moment(parameter: str, given: str | None) -> datetime | None:
    try:
        return None if given is None else parse_time(given)
    except ValueError as error:
        bad_query(parameter, str(error))


def known_account(reader: ViewReader, name: str) -> Row:
    row = reader.account(name)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown account {name!r}")
    return row


def known_liquidation(reader: ViewReader, given: str) -> Row:
    try:
        return liquidation_row(reader, given)
    except UnknownLiquidation as unknown:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(unknown)) from None
    except AmbiguousLiquidation as ambiguous:
        raise HTTPException(
            status.HTTP_409_CONFLICT, {"message": str(ambiguous), "candidates": ambiguous.candidates}
        ) from None


# --- accounts -------------------------------------------------------------------------------


@router.get("/accounts", **requires(Role.VIEWER))
def accounts(
    views: ViewsOf,
    mode: AccountMode | None = None,
    product: Product | None = None,
    status: Annotated[str | None, Query(description=f"One of {', '.join(ACCOUNT_STATUSES)}")] = None,
    after: Annotated[int, Query(ge=0, description="The `next` of the page before (0: from the first)")] = 0,
    limit: Limit = DEFAULT_PAGE,
) -> dict[str, Any]:
    """Accounts in the order they were opened, each with its report fields and
    `opened_at_event`, the notification id that opened it; `next` is the `after` of the
    next page (null on the last). A walk of the pages meets every account once."""
    one_of("status", status, ACCOUNT_STATUSES)
    modes = [mode.value] if mode is not None else None
    if product is not None:
        modes = [m for m in (modes or modes_of(product)) if m in modes_of(product)]
    reader = views.current()
    page = account_page(reader, after, limit, modes=modes, status=status)
    prices = reader.prices()
    return {
        "accounts": [
            {**account_section(reader, row, prices), "opened_at_event": row["opened_at_event"]} for row in page.rows
        ],
        "next": page.next,
    }


@router.get("/accounts/{name}", **viewer_or_404)
def account(name: str, views: ViewsOf) -> dict[str, Any]:
    """The account's report fields (`accounts.NAME` of the report), with its `name`."""
    reader = views.current()
    return account_section(reader, known_account(reader, name), reader.prices())


@router.get("/accounts/{name}/history", **viewer_or_404)
def history(
    name: str,
    views: ViewsOf,
    at_event: Annotated[int | None, Query(description="A notification id")] = None,
    as_of: Annotated[str | None, Query(description="A UTC time, e.g. 2026-01-05T10:20:00Z")] = None,
) -> dict[str, Any]:
    """The account's events and its state as it stood at an event or a time (the latest
    without either), as `ledger history --json`."""
    if at_event is not None and as_of is not None:
        bad_query("as_of", "give as_of or at_event, not both")
    when = moment("as_of", as_of)
    reader = views.current()
    known_account(reader, name)
    try:
        return account_history(views.app, reader, name, resolve_point(reader, when, at_event))
    except HistoryError as error:
        bad_query("at_event" if at_event is not None else "as_of", str(error))


# --- liquidations ---------------------------------------------------------------------------


@router.get("/liquidations", **requires(Role.VIEWER))
def liquidations(
    views: ViewsOf,
    account: Annotated[str | None, Query(description="Only this account's")] = None,
    kind: Annotated[str | None, Query(description=f"One of {', '.join(LIQUIDATION_KINDS)}")] = None,
    status: Annotated[str | None, Query(description=f"One of {', '.join(LIQUIDATION_STATUSES)}")] = None,
    since: Annotated[str | None, Query(description="Triggered at or after this UTC time")] = None,
    until: Annotated[str | None, Query(description="Triggered at or before this UTC time")] = None,
    after: Annotated[str | None, Query(description="The `next` of the page before")] = None,
    limit: Limit = DEFAULT_PAGE,
) -> dict[str, Any]:
    """Liquidations oldest first, as `ledger liquidations --json`, in pages: `next` is the
    `after` of the next page (null on the last)."""
    one_of("kind", kind, LIQUIDATION_KINDS)
    one_of("status", status, LIQUIDATION_STATUSES)
    start, end = moment("since", since), moment("until", until)
    if start is not None and end is not None and start > end:
        bad_query("since", f"{since} is after until {until}")
    reader = views.current()
    if after is not None:
        try:
            liquidation_row(reader, after)
        except HistoryError as error:
            bad_query("after", str(error))
    page = liquidation_page(reader, after, limit, account=account, since=start, until=end, kind=kind, status=status)
    return {"liquidations": page.rows, "next": page.next}


@router.get("/liquidations/{liquidation_id}", **viewer_or_404)
def liquidation(liquidation_id: str, views: ViewsOf) -> dict[str, Any]:
    """One liquidation as `ledger liquidations` shows it; its id or a unique start of it
    (409 listing the candidates when several start so)."""
    summary: dict[str, Any] = known_liquidation(views.current(), liquidation_id)["summary"]
    return summary


@router.get("/liquidations/{liquidation_id}/postmortem", **viewer_or_404)
def postmortem(liquidation_id: str, views: ViewsOf) -> dict[str, Any]:
    """The liquidation told step by step, as `ledger postmortem --format json`."""
    reader = views.current()
    return build_postmortem(views.app, reader, known_liquidation(reader, liquidation_id)["liquidation_id"])


@router.get(
    "/liquidations/{liquidation_id}/postmortem.html",
    response_class=HTMLResponse,
    **viewer_or_404,
)
def postmortem_page_of(liquidation_id: str, views: ViewsOf, store: StoreOf, caller: CallerOf) -> HTMLResponse:
    """The postmortem as its HTML page (`ledger postmortem --format html`)."""
    told = postmortem(liquidation_id, views)
    return HTMLResponse(postmortem_page(told, store.url, caller))


def postmortem_page(told: dict[str, Any], store_url: str, caller: Caller) -> str:
    """The page, its footer naming the store (the page hides its password), the wall
    clock's time (read here, as the CLI reads it) and the caller's key name."""
    return postmortem_html(told, PageFooter(store=store_url, made_at=datetime.now(UTC), made_by=caller.name))


# --- the store as a whole -------------------------------------------------------------------


@router.get("/reconcile", **requires(Role.VIEWER))
def reconcile(views: ViewsOf) -> dict[str, Any]:
    """Conservation, every view against a full replay, gaps: as `ledger reconcile --json`,
    200 whatever it finds (`ok` says whether all holds)."""
    reader = views.current()
    return reconcile_store(views.app, reader.engine)


@router.get("/parameters", **requires(Role.VIEWER))
def parameters(views: ViewsOf) -> dict[str, Any]:
    """Every parameter version, oldest first: its number, time, the event's notification,
    its cause and actor, and the whole parameter set it made."""
    return {"parameters": parameter_versions(views.current())}


@router.get("/system-accounts", **requires(Role.VIEWER))
def system(views: ViewsOf) -> dict[str, Any]:
    """The system accounts' balances per asset (the lending pool's claims, the takeover
    desk's debts), as the report's `system`, the insurance fund first."""
    return system_accounts(views.current())
