"""The futures wallet's section of the report, and the report's `trades` list
(scenario.md, "Futures inputs").

Every figure is `WalletFigures`' (the domain's one computation of a wallet at marks, the
one the account's rules use), from the wallet's view rows, the latest symbol marks and
the parameters in force: nothing is recomputed here. Notional, margins, uPnL, margin
balance, available balance, ratios and liquidation prices are reported half-even to 8
places (`contracts.reported`); recorded amounts (wallet, isolated margin, quantity,
entry price, trade costs) as they are.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from ledger.domain.futures.account import DEFAULT_LEVERAGE, WALLET_TOTALS
from ledger.domain.futures.contracts import reported, symbol_of
from ledger.domain.futures.exact import decimal_sum
from ledger.domain.futures.wallet import MarginType, PositionFigures, WalletFigures, held_position
from ledger.domain.money import normalized
from ledger.domain.prices import PriceBook
from ledger.domain.product import Product
from projections.futures.queries import FuturesReader
from projections.queries import Row, ViewReader
from projections.report import ACCOUNT_SECTIONS, REPORT_LISTS

# A symbol no `leverage` input set: the account's own default (`FuturesAccount.setting`).
DEFAULT_SETTING = (DEFAULT_LEVERAGE, MarginType.CROSS)


@ACCOUNT_SECTIONS.register(Product.FUTURES)
def wallet_report(reader: ViewReader, row: Row, prices: PriceBook) -> dict[str, Any]:
    views = FuturesReader(reader.engine)
    name = row["account"]
    wallet = views.wallet(name)
    assert wallet is not None, f"futures account {name} has no row in view_futures_wallets"
    figures = wallet_figures(wallet, views.positions(name), views.settings(name), prices)
    return wallet_section(wallet, figures)


@REPORT_LISTS.register(Product.FUTURES)
def report_lists(reader: ViewReader) -> dict[str, list[dict[str, Any]]]:
    """`trades`: each accepted trade that opened or increased a position (a flip's opening
    part), with its recorded cost to open."""
    return {
        "trades": [
            {
                "source": trade["source"],
                "line": trade["line"],
                "account": trade["account"],
                "symbol": trade["symbol"],
                "initial_margin": normalized(trade["initial_margin"]),
                "open_loss": normalized(trade["open_loss"]),
                "cost": normalized(trade["cost"]),
            }
            for trade in FuturesReader(reader.engine).trades()
        ]
    }


# --- the figures, from the rows --------------------------------------------------------------


def wallet_figures(wallet: Row, positions: list[Row], settings: list[Row], prices: PriceBook) -> WalletFigures:
    """The wallet at the marks, as the account computes it (`FuturesAccount.figures`)."""
    chosen = {row["symbol"]: (row["leverage"], MarginType(row["margin_type"])) for row in settings}
    held = [
        held_position(
            symbol_of(prices.parameters, row["symbol"]),
            row["slot"],
            *chosen.get(row["symbol"], DEFAULT_SETTING),
            {**row, "entry_price": Fraction(row["entry_price"])},  # the view keeps the rational's text
        )
        for row in positions
    ]
    return WalletFigures(wallet["cross_wallet_balance"], held, {h.symbol: mark_of(prices, h.symbol) for h in held})


def mark_of(prices: PriceBook, symbol: str) -> Decimal:
    mark = prices.symbol_mark(symbol)
    # A position is opened by a trade, which needs a mark: one is always there.
    assert mark is not None, f"{symbol} is held but has no mark"
    return mark


# --- the section -------------------------------------------------------------------------------


def wallet_section(wallet: Row, figures: WalletFigures) -> dict[str, Any]:
    """The wallet as the report shows it, from its row in view_futures_wallets (or one
    made alike from the aggregate, `projections.futures.views.wallet_row`)."""
    asset = wallet["asset"]
    # What the wallet holds of its asset, its balance book: the wallet balance, and the
    # margin of isolated positions a liquidation is settling (none once it has ended).
    held = decimal_sum(figures.wallet_balance, wallet["settling"])
    section: dict[str, Any] = {
        "mode": wallet["mode"],
        "asset": asset,
        "position_mode": wallet["position_mode"],
        "status": wallet["status"],
        "balances": {asset: normalized(held)} if held != 0 else {},
        "wallet_balance": normalized(figures.wallet_balance),
        "cross_wallet_balance": normalized(figures.cross_wallet_balance),
        "margin_balance": reported_text(figures.margin_balance),
        "available_balance": reported_text(figures.available_balance),
        "margin_ratio": reported_text(figures.margin_ratio),
        "positions": [position_section(position) for position in figures.positions],
        **{total: normalized(wallet[total]) for total in WALLET_TOTALS},
    }
    if wallet["liquidation_id"] is not None:
        section["liquidation_id"] = wallet["liquidation_id"]
    return section


def position_section(figures: PositionFigures) -> dict[str, Any]:
    held = figures.held
    position = held.position
    section: dict[str, Any] = {
        "symbol": held.symbol,
        "side": position.side.name.lower(),
        "quantity": normalized(position.quantity),
        "entry_price": reported_text(position.entry_price),
        "mark_price": normalized(figures.mark),
        "notional": reported_text(figures.notional),
        "leverage": held.leverage,
        "margin_type": held.margin_type.value,
    }
    if held.is_isolated:
        section["isolated_margin"] = normalized(held.isolated_margin)
    section.update(
        {
            "initial_margin": reported_text(figures.initial_margin),
            "maintenance_margin": reported_text(figures.maintenance_margin),
            "unrealized_pnl": reported_text(figures.unrealized_pnl),
            "liquidation_price": reported_text(figures.liquidation_price),
        }
    )
    return section


def reported_text(figure: Fraction | Decimal | None) -> str | None:
    """Half-even to 8 places, without trailing zeros; None stays null."""
    return None if figure is None else normalized(reported(figure))
