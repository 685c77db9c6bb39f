"""An account as it stood at any point of the store's history.

The point is a notification id: the last event to count. The event index
(`view_events`) turns a time into that id and the id into the account's version;
the account is the event store's own aggregate at that version, valued at the
marks and parameters in force then. While a takeover holds the position, the
position shown is the one the takeover desk holds for the account.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from ledger.application import Ledger
from ledger.domain.margin.account import TAKEN_OVER, Account
from ledger.domain.margin.liquidation import Liquidation
from ledger.domain.margin.rules import margin_position, reported_level
from ledger.domain.money import normalized
from ledger.domain.prices import MissingPrice, PriceBook
from projections.queries import ViewReader, as_utc
from projections.views import amounts_text, event_name, json_safe

BOOKKEEPING = ("originator_id", "originator_version", "originator_topic", "timestamp")


class HistoryError(ValueError):
    """A question the store cannot answer: an unknown account, a point before it existed."""


def resolve_point(reader: ViewReader, as_of: datetime | None = None, at_event: int | None = None) -> int:
    """The notification id of the last event that counts: `at_event`, the end of the
    history up to `as_of`, or the latest the views have seen."""
    latest = reader.position()
    if at_event is not None:
        if not 1 <= at_event <= latest:
            raise HistoryError(f"--at-event {at_event}: the store's events run from 1 to {latest}")
        return at_event
    if as_of is not None:
        found = reader.last_notification_as_of(as_of)
        if found is None:
            raise HistoryError(f"--as-of {as_of.isoformat()}: the store has no event at or before it")
        return found
    return latest


def account_history(app: Ledger, reader: ViewReader, account: str, through: int) -> dict[str, Any]:
    row = reader.account(account)
    if row is None:
        raise HistoryError(f"unknown account {account!r}")
    indexed = reader.account_events(account, through)
    if not indexed:
        raise HistoryError(f"account {account!r} did not exist yet at event {through}")
    version = indexed[-1]["originator_version"]
    events = app.events.get(uuid.UUID(row["account_id"]), lte=version)
    return {
        "account": account,
        "through": {"notification_id": through, "at": iso(as_utc(reader.event_time(through)))},
        "events": [event_record(index_row, domain_event) for index_row, domain_event in zip(indexed, events)],
        "state": account_state(app, reader, uuid.UUID(row["account_id"]), version, through),
    }


def account_state(app: Ledger, reader: ViewReader, account_id: uuid.UUID, version: int, through: int) -> dict[str, Any]:
    """Balances, debts, interest, status and the position's value after event `through`."""
    account: Account = app.repository.get(account_id, version=version)
    prices = reader.prices(through)
    holdings, owed, held_by = account.balances, account.liabilities(), account.name
    if account.status == TAKEN_OVER and account.liquidation_id is not None:
        # From the hand-off to the return the desk holds the position; the return
        # itself lands in the account before the liquidation ends.
        desk = liquidation_at(app, reader, account.liquidation_id, through)
        if any(desk.desk_balances.values()) or any(desk.desk_liabilities().values()):
            holdings, owed, held_by = desk.desk_balances, desk.desk_liabilities(), "takeover-desk"
    tier = prices.parameters.margin_tier(account.mode, account.leverage) if account.is_margin else None
    return {
        "version": version,
        "mode": account.mode,
        "leverage": account.leverage,
        "status": account.status,
        "liquidation_id": None if account.liquidation_id is None else str(account.liquidation_id),
        "balances": amounts_text(account.balances),
        "debts": amounts_text(account.principal),
        "interest": amounts_text(account.interest),
        "position": {
            "held_by": held_by,
            "collateral": amounts_text(holdings),
            "liabilities": amounts_text(owed),
            **position_value(account.mode, holdings, owed, prices),
        },
        "parameters_version": prices.parameters.version,
        "margin_call_level": None if tier is None else normalized(tier.margin_call),
        "liquidation_level": None if tier is None else normalized(tier.liquidation),
    }


def position_value(
    mode: str, holdings: dict[str, Decimal], owed: dict[str, Decimal], prices: PriceBook
) -> dict[str, Any]:
    """Collateral value, debt value, net equity and margin level at `prices` (None
    where an asset has no mark yet)."""
    assets = {asset for book in (holdings, owed) for asset, amount in book.items() if amount}
    try:
        position = margin_position(mode, holdings, owed, prices)
        used = amounts_text(prices.prices_used(assets))
    except MissingPrice as missing:
        return {
            "collateral_value": None,
            "debt_value": None,
            "net_equity": None,
            "margin_level": None,
            "prices": {},
            "missing_price": missing.asset,
        }
    return {
        "collateral_value": normalized(position.asset_value),
        "debt_value": normalized(position.liability_value),
        "net_equity": normalized(position.net_equity),
        "margin_level": normalized(reported_level(position.level())),
        "prices": used,
    }


def liquidation_at(app: Ledger, reader: ViewReader, liquidation_id: uuid.UUID, through: int) -> Liquidation:
    version = reader.aggregate_version_at(str(liquidation_id), through)
    assert version is not None, f"liquidation {liquidation_id} has no event at or before {through}"
    return app.repository.get(liquidation_id, version=version)


def event_record(index_row: dict[str, Any], domain_event: Any) -> dict[str, Any]:
    assert index_row["originator_version"] == domain_event.originator_version, "index and stream disagree"
    facts = {name: value for name, value in domain_event.__dict__.items() if name not in BOOKKEEPING}
    return {
        "notification_id": index_row["notification_id"],
        "version": domain_event.originator_version,
        "event": event_name(domain_event),
        "at": iso(as_utc(index_row["at"])),
        "facts": json_safe(facts),
    }


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
