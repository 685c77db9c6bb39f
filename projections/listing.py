"""Reads of the views in pages and by key, for the HTTP API (`GET /accounts`,
`/liquidations`, `/parameters`, `/system-accounts`): the same rows and sections the
report, `ledger liquidations` and `ledger postmortem` read, filtered and paged.

- Accounts are paged on the notification id of the event that opened each account
  (`view_events`, version 1 of its aggregate): it never changes, so a walk of the pages
  meets every account once, however the accounts change meanwhile.
- Liquidations are paged in `ledger liquidations`' order (trigger time, account, sequence),
  the cursor being the last liquidation's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, tuple_

from ledger.causes import NOT_RECORDED, actor_of
from ledger.domain.entries import INSURANCE_FUND, SYSTEM_ACCOUNTS
from ledger.domain.prices import PriceBook
from ledger.domain.product import AccountMode, Product
from projections import tables
from projections.history import iso
from projections.postmortem import liquidation_row
from projections.queries import Row, ViewReader, as_utc, liquidation_order, liquidations_query
from projections.report import ACCOUNT_SECTIONS, system_report


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next: Any  # the cursor of the next page (`after`), None on the last


def modes_of(product: Product) -> list[str]:
    return [mode.value for mode in AccountMode if mode.product == product]


def account_page(
    reader: ViewReader,
    after: int,
    limit: int,
    modes: list[str] | None = None,
    status: str | None = None,
) -> Page:
    """Up to `limit` accounts opened after notification `after`, oldest first, each its
    view row with `opened_at_event`; `modes` and `status` narrow the list."""
    account, event = tables.accounts, tables.events
    opened = event.c.notification_id.label("opened_at_event")
    statement = (
        select(account, opened)
        .join(event, and_(event.c.originator_id == account.c.account_id, event.c.originator_version == 1))
        .where(event.c.notification_id > after)
        .order_by(event.c.notification_id)
        .limit(limit + 1)
    )
    if modes is not None:
        statement = statement.where(account.c.mode.in_(modes))
    if status is not None:
        statement = statement.where(account.c.status == status)
    rows = _rows(reader, statement)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1]["opened_at_event"] if more else None)


def account_section(reader: ViewReader, row: Row, prices: PriceBook) -> dict[str, Any]:
    """The account as the report shows it (its product's section), with its name."""
    section = ACCOUNT_SECTIONS.for_mode(row["mode"])(reader, row, prices)
    return {"name": row["account"], **section}


def liquidation_page(
    reader: ViewReader,
    after: str | None,
    limit: int,
    account: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    kind: str | None = None,
    status: str | None = None,
) -> Page:
    """Up to `limit` liquidations after the one whose id is `after`, in `ledger
    liquidations`' order, each its summary as the report shows it."""
    statement = liquidations_query(account, since, until, kind, status).limit(limit + 1)
    if after is not None:
        last = liquidation_row(reader, after)
        statement = statement.where(
            tuple_(*liquidation_order()) > tuple_(last["triggered_at"], last["account"], last["sequence"])
        )
    rows = _rows(reader, statement)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([row["summary"] for row in rows], rows[-1]["liquidation_id"] if more else None)


def _rows(reader: ViewReader, statement: Any) -> list[Row]:
    with reader.engine.connect() as connection:
        return [dict(row) for row in connection.execute(statement).mappings()]


def parameter_versions(reader: ViewReader) -> list[dict[str, Any]]:
    """Every parameter version, oldest first: its number, time, notification, cause with its
    actor (`NOT_RECORDED` for one stored before actors were), and its whole data."""
    table = tables.parameter_versions
    return [
        {
            "version": row["version"],
            "notification_id": row["notification_id"],
            "at": iso(as_utc(row["at"])),
            "actor": actor_of(row["cause"]) or NOT_RECORDED,
            "cause": row["cause"],
            "data": row["data"],
        }
        for row in _rows(reader, select(table).order_by(table.c.version))
    ]


def system_accounts(reader: ViewReader) -> dict[str, Any]:
    """The system accounts' books as the report shows them, the insurance fund first."""
    system = system_report(reader.book_totals())
    order = [INSURANCE_FUND, *(name for name in SYSTEM_ACCOUNTS if name != INSURANCE_FUND)]
    return {name: system[name] for name in order}
