"""The spot-margin accounts in the report's and `history`'s tables: balances, debts,
interest and the margin level."""

from __future__ import annotations

from typing import Any

from ledger.domain.product import Product
from projections.presentation.history import STATE_SHEETS
from projections.presentation.report import ACCOUNT_SHEETS
from projections.presentation.tables import Sheet, book_text, mode_text, prices_text


@ACCOUNT_SHEETS.register(Product.MARGIN)
def accounts_sheets(accounts: dict[str, dict[str, Any]]) -> list[Sheet]:
    """None without a spot or margin account: a store of futures wallets alone prints no
    empty "Accounts" sheet."""
    if not accounts:
        return []
    return [accounts_sheet(accounts)]


def accounts_sheet(accounts: dict[str, dict[str, Any]]) -> Sheet:
    sheet = Sheet("Accounts", ("account", "mode", "balances", "debts", "interest", "margin level", "status"))
    for name, account in accounts.items():
        sheet.add_row(
            name,
            mode_text(account["mode"], account["leverage"], account.get("pair")),
            book_text(account["balances"]),
            book_text(account["debts"]),
            book_text(account["interest"]),
            account["margin_level"],
            account["status"],
        )
    return sheet


@STATE_SHEETS.register(Product.MARGIN)
def state_sheet(state: dict[str, Any]) -> Sheet:
    """The account as it stood: its books, the position (the desk's during a takeover) and its levels."""
    position = state["position"]
    sheet = Sheet("State then", ("field", "value"), show_header=False)
    for label, value in (
        ("status", state["status"]),
        ("mode", mode_text(state["mode"], state["leverage"])),
        ("balances", book_text(state["balances"])),
        ("debts", book_text(state["debts"])),
        ("interest", book_text(state["interest"])),
        ("position held by", position["held_by"]),
        ("collateral", book_text(position["collateral"])),
        ("liabilities", book_text(position["liabilities"])),
        ("collateral value", position["collateral_value"]),
        ("debt value", position["debt_value"]),
        ("net equity", position["net_equity"]),
        ("margin level", position["margin_level"]),
        ("margin call level", state["margin_call_level"]),
        ("liquidation level", state["liquidation_level"]),
        ("prices", prices_text(position["prices"])),
        ("liquidation", state["liquidation_id"]),
        ("parameters version", str(state["parameters_version"])),
    ):
        sheet.add_row(label, value)
    return sheet
