"""The spot-margin account's section of the report: balances, debts, interest and
the margin level at today's marks (spot wallets have no debt: a level of 999)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledger.domain.margin.rules import margin_position, reported_level
from ledger.domain.money import ZERO, normalized
from ledger.domain.prices import MissingPrice, PriceBook
from ledger.domain.product import Product
from projections.queries import Row, ViewReader
from projections.report import ACCOUNT_SECTIONS
from projections.values import amounts_text


@ACCOUNT_SECTIONS.register(Product.MARGIN)
def account_report(reader: ViewReader, row: Row, prices: PriceBook) -> dict[str, Any]:
    assets = reader.account_assets(row["account"])
    balances = column_book(assets, "balance")
    principal = column_book(assets, "principal")
    interest = column_book(assets, "interest")
    report: dict[str, Any] = {
        "mode": row["mode"],
        "leverage": row["leverage"],
        "balances": amounts_text(balances),
        "debts": amounts_text(principal),
        "interest": amounts_text(interest),
        "margin_level": margin_level_text(row["mode"], balances, principal, interest, prices),
        "status": row["status"],
    }
    if row["pair"] is not None:
        report["pair"] = "/".join(row["pair"])
    if row["liquidation_id"] is not None:
        report["liquidation_id"] = row["liquidation_id"]
    return report


def column_book(assets: list[Row], column: str) -> dict[str, Decimal]:
    return {row["asset"]: row[column] for row in assets if row[column] is not None}


def margin_level_text(
    mode: str,
    balances: dict[str, Decimal],
    principal: dict[str, Decimal],
    interest: dict[str, Decimal],
    prices: PriceBook,
) -> str | None:
    liabilities = dict(principal)
    for asset, amount in interest.items():
        liabilities[asset] = liabilities.get(asset, ZERO) + amount
    try:
        position = margin_position(mode, balances, liabilities, prices)
    except MissingPrice:
        return None
    return normalized(reported_level(position.level()))
