"""The report of `ledger run`: every account, the system accounts, liquidations, rejections.

Amounts are decimal strings; levels to 12 decimal places.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledger.application import Ledger, UnitOfWork
from ledger.domain.accounts import Account
from ledger.domain.entries import DEBT, SYSTEM_ACCOUNTS
from ledger.domain.liquidation import Liquidation
from ledger.domain.margin import MissingPrice, margin_position, reported_level
from ledger.domain.money import normalized
from projections.balance_sheet import BalanceSheet, stored_events


def amounts(book: dict[str, Decimal]) -> dict[str, str]:
    return {asset: normalized(amount) for asset, amount in sorted(book.items())}


def account_report(uow: UnitOfWork, account: Account) -> dict[str, Any]:
    report: dict[str, Any] = {
        "mode": account.mode,
        "leverage": account.leverage,
        "balances": amounts(account.balances),
        "debts": amounts(account.principal),
        "interest": amounts(account.interest),
        "margin_level": margin_level_text(uow, account),
        "status": account.status,
    }
    if account.pair is not None:
        report["pair"] = "/".join(account.pair)
    if account.liquidation_id is not None:
        report["liquidation_id"] = str(account.liquidation_id)
    return report


def margin_level_text(uow: UnitOfWork, account: Account) -> str | None:
    try:
        position = margin_position(account.mode, account.balances, account.liabilities(), uow.prices())
    except MissingPrice:
        return None
    return normalized(reported_level(position.level()))


def liquidation_report(liquidation: Liquidation) -> dict[str, Any]:
    trigger = liquidation.trigger
    return {
        "id": str(liquidation.id),
        "account": liquidation.account,
        "kind": liquidation.kind,
        "status": liquidation.status,
        "trigger": {
            "margin_level": normalized(trigger["margin_level"]),
            "threshold": normalized(trigger["threshold"]),
            "prices": amounts(trigger["prices"]),
            "parameters_version": trigger["parameters_version"],
            "at": trigger["at"].isoformat().replace("+00:00", "Z"),
        },
        "liabilities": amounts(liquidation.liabilities_at_trigger),
        "fee": {"amounts": amounts(liquidation.fee_amounts or {}), "value": normalized(liquidation.fee_value)},
        "returned": amounts(liquidation.returned),
        "shortfall": amounts(liquidation.shortfall),
        "desk": {"balances": amounts(liquidation.desk_balances), "liabilities": amounts(liquidation.desk_liabilities())},
    }


def build_report(app: Ledger) -> dict[str, Any]:
    uow = UnitOfWork(app)
    sheet = BalanceSheet().apply_all(stored_events(app))
    accounts = {name: account_report(uow, uow.account(name)) for name in sorted(app.account_names())}
    system = {name: {"balances": amounts(sheet.holdings(name))} for name in SYSTEM_ACCOUNTS}
    for name in ("lending-pool", "takeover-desk"):
        system[name]["debts" if name == "takeover-desk" else "claims"] = amounts(
            {asset: abs(amount) for asset, amount in sheet.holdings(name, DEBT).items()})
    # A system account that held an asset and holds none now shows it at 0, as reconcilers expect.
    for holder, asset, book in sheet.amounts:
        if holder in system and book == "balance" and asset not in system[holder]["balances"]:
            system[holder]["balances"][asset] = "0"
    liquidations = [liquidation_report(uow.liquidation(i)) for i in app.liquidation_ids()]
    rejections = [
        {"line": r.line, "source": r.source, "op": r.op, "id": r.input_id, "account": r.account, "error": r.error}
        for r in app.rejections()
    ]
    return {
        "accounts": accounts,
        "system": system,
        "liquidations": liquidations,
        "rejections": rejections,
        "conservation": [str(imbalance) for imbalance in sheet.imbalances()],
        "parameters_version": uow.parameters().version,
    }
