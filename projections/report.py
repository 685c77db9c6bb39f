"""The report of `ledger run`, read from the views: warnings, every account, the
system accounts, liquidations, rejections, conservation.

Amounts are decimal strings; levels to 12 decimal places.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from ledger.application import Ledger
from ledger.domain.entries import BALANCE, INSURANCE_FUND, SYSTEM_ACCOUNTS
from ledger.domain.margin.rules import margin_position, reported_level
from ledger.domain.money import ZERO, normalized
from ledger.domain.prices import MissingPrice, PriceBook
from projections.queries import ViewReader
from projections.runner import StoreViews
from projections.views import amounts_text


def build_report(app: Ledger) -> dict[str, Any]:
    """Brings the store's views up to date, then reads the report from them."""
    assert app.store_url is not None, "the report reads the views of a store opened by URL"
    with StoreViews(app.store_url) as views:
        return views.report()


def read_report(engine: Engine) -> dict[str, Any]:
    reader = ViewReader(engine)
    prices = reader.prices()
    books = reader.book_totals()
    return {
        "warnings": fund_warnings(books),
        "accounts": {
            row["account"]: account_report(row, reader.account_assets(row["account"]), prices)
            for row in reader.accounts()
        },
        "system": system_report(books),
        "liquidations": [row["summary"] for row in reader.liquidations()],
        "rejections": [
            {
                "line": row["line"],
                "source": row["source"],
                "op": row["op"],
                "id": row["input_id"],
                "account": row["account"],
                "error": row["error"],
            }
            for row in reader.rejections()
        ],
        "conservation": imbalances(books),
        "parameters_version": prices.parameters.version,
    }


def account_report(row: dict[str, Any], assets: list[dict[str, Any]], prices: PriceBook) -> dict[str, Any]:
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


def column_book(assets: list[dict[str, Any]], column: str) -> dict[str, Decimal]:
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


def system_report(books: list[dict[str, Any]]) -> dict[str, Any]:
    """System accounts' balances (an asset once held shows as 0), the lending pool's
    claims and the takeover desk's debts."""
    system: dict[str, Any] = {name: {"balances": {}} for name in SYSTEM_ACCOUNTS}
    system["lending-pool"]["claims"] = {}
    system["takeover-desk"]["debts"] = {}
    for row in books:
        holder, asset, amount = row["holder"], row["asset"], row["amount"]
        if holder not in system:
            continue
        if row["book"] == BALANCE:
            system[holder]["balances"][asset] = normalized(amount)
        elif amount != 0:
            system[holder]["claims" if holder == "lending-pool" else "debts"][asset] = normalized(abs(amount))
    return system


def imbalances(books: list[dict[str, Any]]) -> list[str]:
    """Conservation: per asset, all balances net to zero, and all debts equal the
    lending pool's claims (the debt book nets to zero)."""
    totals: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for row in books:
        totals[(row["asset"], row["book"])] += row["amount"]
    return [
        f"{book} of {asset} nets to {total}, not 0" for (asset, book), total in sorted(totals.items()) if total != 0
    ]


def fund_warnings(books: Iterable[dict[str, Any]]) -> list[str]:
    """The insurance fund below zero, per asset: shortfalls beyond what it held, which the
    exchange itself has lost. Not an imbalance (the books still net to zero), so a warning."""
    negative = sorted(
        (row["asset"], row["amount"])
        for row in books
        if row["holder"] == INSURANCE_FUND and row["book"] == BALANCE and row["amount"] < 0
    )
    return [f"{INSURANCE_FUND} is negative: {asset} {normalized(amount)}" for asset, amount in negative]
