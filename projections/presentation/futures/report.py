"""Futures wallets in the report's tables: a sheet of wallets (balances, margin ratio,
status), a sheet of their positions (every figure of each), the trades that opened or
increased positions, and a futures liquidation's cells in the liquidations sheet; and a
wallet's state in `history`'s."""

from __future__ import annotations

from typing import Any

from ledger.domain.futures.liquidation import FuturesLiquidationKind
from ledger.domain.product import Product
from projections.presentation.history import STATE_SHEETS
from projections.presentation.report import ACCOUNT_SHEETS, LIQUIDATION_CELLS, LIST_SHEETS, fee_text
from projections.presentation.tables import Cell, Sheet, prices_text


@ACCOUNT_SHEETS.register(Product.FUTURES)
def wallet_sheets(wallets: dict[str, dict[str, Any]]) -> list[Sheet]:
    """None without a futures wallet: a spot-margin report prints as it did."""
    if not wallets:
        return []
    return [wallets_sheet(wallets), positions_sheet(wallets)]


def wallets_sheet(wallets: dict[str, dict[str, Any]]) -> Sheet:
    sheet = Sheet(
        "Futures wallets",
        (
            "account",
            "mode",
            "wallet balance",
            "cross wallet",
            "margin balance",
            "available",
            "margin ratio",
            "positions",
            "status",
        ),
    )
    for name, wallet in wallets.items():
        asset = wallet["asset"]
        sheet.add_row(
            name,
            f"{wallet['mode']} {asset} {wallet['position_mode']}",
            in_asset(wallet["wallet_balance"], asset),
            in_asset(wallet["cross_wallet_balance"], asset),
            in_asset(wallet["margin_balance"], asset),
            in_asset(wallet["available_balance"], asset),
            wallet["margin_ratio"],
            str(len(wallet["positions"])),
            status_text(wallet),
        )
    return sheet


@STATE_SHEETS.register(Product.FUTURES)
def state_sheet(state: dict[str, Any]) -> Sheet:
    """The wallet as it stood, a position a row (its figures one a line)."""
    asset = state["asset"]
    sheet = Sheet("State then", ("field", "value"), show_header=False)
    for label, value in (
        ("status", status_text(state)),
        ("mode", f"{state['mode']} {asset} {state['position_mode']}"),
        ("wallet balance", in_asset(state["wallet_balance"], asset)),
        ("cross wallet", in_asset(state["cross_wallet_balance"], asset)),
        ("margin balance", in_asset(state["margin_balance"], asset)),
        ("available", in_asset(state["available_balance"], asset)),
        ("margin ratio", state["margin_ratio"]),
        ("prices", prices_text(state["prices"])),
        ("parameters version", str(state["parameters_version"])),
    ):
        sheet.add_row(label, value)
    for position in state["positions"]:
        sheet.add_row(f"{position['symbol']} {position['side']}", position_text(position))
    return sheet


def position_text(position: dict[str, Any]) -> str:
    isolated = position.get("isolated_margin")
    lines = [
        f"quantity {position['quantity']} at {position['entry_price']}, mark {position['mark_price']}",
        f"{position['leverage']}x {position['margin_type']}" + ("" if isolated is None else f", margin {isolated}"),
        f"notional {position['notional']}",
        f"initial margin {position['initial_margin']}",
        f"maintenance margin {position['maintenance_margin']}",
        f"unrealized PnL {position['unrealized_pnl']}",
        f"liquidation price {position['liquidation_price'] or '-'}",
    ]
    return "\n".join(lines)


def positions_sheet(wallets: dict[str, dict[str, Any]]) -> Sheet:
    sheet = Sheet(
        "Futures positions",
        (
            "account",
            "symbol",
            "side",
            "quantity",
            "entry price",
            "mark",
            "leverage",
            "notional",
            "isolated margin",
            "initial margin",
            "maint. margin",
            "unrealized PnL",
            "liquidation price",
        ),
    )
    for name, wallet in wallets.items():
        for position in wallet["positions"]:
            sheet.add_row(
                name,
                position["symbol"],
                position["side"],
                position["quantity"],
                position["entry_price"],
                position["mark_price"],
                f"{position['leverage']}x {position['margin_type']}",
                position["notional"],
                position.get("isolated_margin"),
                position["initial_margin"],
                position["maintenance_margin"],
                position["unrealized_pnl"],
                position["liquidation_price"],
            )
    return sheet


@LIST_SHEETS.register(Product.FUTURES)
def trades_sheets(report: dict[str, Any]) -> list[Sheet]:
    trades = report.get("trades") or []
    if not trades:
        return []
    sheet = Sheet(
        "Futures trades (opening)", ("source", "line", "account", "symbol", "initial margin", "open loss", "cost")
    )
    for trade in trades:
        sheet.add_row(
            trade["source"],
            None if trade["line"] is None else str(trade["line"]),
            trade["account"],
            trade["symbol"],
            trade["initial_margin"],
            trade["open_loss"],
            trade["cost"],
        )
    return [sheet]


def futures_liquidation_cells(liquidation: dict[str, Any]) -> tuple[Cell, Cell, Cell, Cell, Cell]:
    """Trigger, liabilities (none: a futures wallet owes nothing), fee, shortfall, returned."""
    return (
        trigger_text(liquidation),
        None,
        fee_text(liquidation["fee"]),
        in_asset(liquidation["shortfall"], liquidation["asset"]),
        None,
    )


LIQUIDATION_CELLS[FuturesLiquidationKind.FUTURES] = futures_liquidation_cells


def trigger_text(liquidation: dict[str, Any]) -> str:
    trigger = liquidation["trigger"]
    scope = liquidation["scope"]
    what = "cross positions" if scope["symbol"] is None else f"isolated {scope['symbol']} {scope['slot']}"
    ratio = trigger["margin_ratio"] if trigger["margin_ratio"] is not None else "-"
    return (
        f"{trigger.get('at') or '-'} ({what})\nmargin ratio {ratio} >= {trigger['threshold']}\n"
        f"margin balance {trigger['margin_balance']}, maintenance margin {trigger['maintenance_margin']}\n"
        f"prices {prices_text(trigger['prices'])}\nparameters version {trigger['parameters_version']}"
    )


def status_text(wallet: dict[str, Any]) -> str:
    liquidation = wallet.get("liquidation_id")
    return wallet["status"] if liquidation is None else f"{wallet['status']}\n{liquidation}"


def in_asset(amount: str | None, asset: str) -> str | None:
    return None if amount is None else f"{amount} {asset}"
