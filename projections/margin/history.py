"""A spot-margin account's state at a point of its history: balances, debts,
interest, status, and the position's value at the marks and parameters in force
then. While a takeover holds the position, the position shown is the one the
takeover desk holds for the account."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from ledger.application import Ledger
from ledger.domain.margin.account import Account, AccountStatus
from ledger.domain.margin.liquidation import Liquidation
from ledger.domain.margin.rules import margin_position, reported_level
from ledger.domain.money import normalized
from ledger.domain.prices import MissingPrice, PriceBook
from ledger.domain.product import Product
from projections.history import ACCOUNT_STATES
from projections.queries import ViewReader
from projections.values import amounts_text


@ACCOUNT_STATES.register(Product.MARGIN)
def account_state(app: Ledger, reader: ViewReader, account_id: uuid.UUID, version: int, through: int) -> dict[str, Any]:
    """Balances, debts, interest, status and the position's value after event `through`."""
    account: Account = app.repository.get(account_id, version=version)
    prices = reader.prices(through)
    holdings, owed, held_by = account.balances, account.liabilities(), account.name
    if account.status == AccountStatus.TAKEN_OVER and account.liquidation_id is not None:
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
