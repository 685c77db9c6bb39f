"""The futures product's views, registered on `LedgerViews.update` by event class:

- each wallet: its row in the shared view_accounts (so that the report, history and
  reconciliation find it by its mode) and its own in view_futures_wallets;
- its open positions and its per-symbol settings (leverage, margin type), a row each;
- the marks of each symbol (view_symbol_marks);
- each accepted trade that opened or increased a position, with its cost to open;
- its liquidations, in the shared view_liquidations (kind "futures").

Rows are read off the aggregate as its own mutators leave it (`views.follow`), so a row
says what the account says. The books are posted from each event's entries by
`LedgerViews.process`, whatever the product: a wallet's balance book in its asset is its
wallet balance (deposits, realized PnL, funding, commissions, clearance fees and
shortfalls are its entries; isolated margin moves within the wallet and has none).
"""

from __future__ import annotations

from typing import Any

from ledger.domain.futures.account import FuturesAccount
from ledger.domain.futures.exact import decimal_sum
from ledger.domain.futures.liquidation import FuturesLiquidation
from ledger.domain.futures.market import SymbolMarket
from ledger.domain.money import normalized
from projections import tables
from projections.values import amounts_text, json_safe
from projections.views import LedgerViews, RowChanges, liquidation_of


# Registered by explicit class: an annotation-based registration would take the first
# annotated parameter (`views`) as the dispatch type.
@LedgerViews.update.register(FuturesAccount.Event)
def _wallet(views: LedgerViews, event: FuturesAccount.Event, notification_id: int) -> None:
    views.follow_rows(event, notification_id, wallet_rows, position_keys)


def wallet_rows(
    changes: RowChanges,
    account: FuturesAccount,
    event: FuturesAccount.Event,
    notification_id: int,
    positions_before: set[tuple[str, str]],
) -> None:
    """The wallet's rows after `event`: in view_accounts and view_futures_wallets, a row per
    open position (those open before, in `positions_before`, and closed since, deleted) and
    per symbol's settings."""
    changes.put(tables.accounts, account_row(account, event, notification_id))
    changes.put(tables.futures_wallets, wallet_row(account))
    for symbol, slot in positions_before - position_keys(account):
        changes.delete(tables.futures_positions, (account.name, symbol, slot))
    for symbol, slots in sorted(account.positions.items()):
        for slot, position in sorted(slots.items()):
            changes.put(tables.futures_positions, position_row(account.name, symbol, slot, position))
    for symbol in sorted(account.settings):
        leverage, margin_type = account.setting(symbol)
        changes.put(
            tables.futures_settings,
            {"account": account.name, "symbol": symbol, "leverage": leverage, "margin_type": margin_type.value},
        )


@LedgerViews.update.register(FuturesAccount.Traded)
def _traded(views: LedgerViews, event: FuturesAccount.Traded, notification_id: int) -> None:
    """The wallet's rows, and the trade's cost to open when it opened or increased a
    position (for a flip, its opening part)."""
    _wallet(views, event, notification_id)
    if event.opened_quantity > 0:
        views.changes.put(
            tables.futures_trades,
            {
                "notification_id": notification_id,
                "source": event.cause.get("source"),
                "line": event.cause.get("line"),
                "account": event.account,
                "symbol": event.symbol,
                "opened_quantity": event.opened_quantity,
                "initial_margin": event.initial_margin,
                "open_loss": event.open_loss,
                "cost": event.cost,
                "at": event.at,
            },
        )


@LedgerViews.update.register(SymbolMarket.MarkRecorded)
def _symbol_mark(views: LedgerViews, event: SymbolMarket.MarkRecorded, notification_id: int) -> None:
    views.changes.put(
        tables.symbol_marks,
        {"symbol": event.symbol, "notification_id": notification_id, "price": event.price, "at": event.at},
    )


@LedgerViews.update.register(FuturesLiquidation.Event)
def _liquidation(views: LedgerViews, event: FuturesLiquidation.Event, notification_id: int) -> None:
    views.follow_liquidation(event, notification_id, liquidation_summary)


@liquidation_of.register(FuturesLiquidation.Event)
def _liquidation_event(event: FuturesLiquidation.Event) -> Any:
    return event.originator_id


# --- rows ---------------------------------------------------------------------------------


def account_row(account: FuturesAccount, event: FuturesAccount.Event, notification_id: int) -> dict[str, Any]:
    """The wallet in view_accounts, the table every product's accounts share (no leverage,
    pair or auto top-up: a futures wallet sets leverage per symbol)."""
    return {
        "account": account.name,
        "account_id": str(account.id),
        "mode": account.mode,
        "leverage": None,
        "pair": None,
        "status": account.status,
        "auto_topup": None,
        "liquidation_id": None if account.liquidation_id is None else str(account.liquidation_id),
        "liquidations": account.liquidations_started,
        "version": account.version,
        "notification_id": notification_id,
        "at": event.at,
    }


def wallet_row(account: FuturesAccount) -> dict[str, Any]:
    return {
        "account": account.name,
        "mode": account.mode,
        "asset": account.asset,
        "position_mode": account.position_mode,
        "cross_wallet_balance": account.cross_wallet,
        "settling": decimal_sum(*account.settling.values()),
        **account.totals,
        "status": account.status,
        "liquidation_id": None if account.liquidation_id is None else str(account.liquidation_id),
    }


def position_row(account: str, symbol: str, slot: str, position: dict[str, Any]) -> dict[str, Any]:
    liquidation_id = position.get("liquidation_id")
    return {
        "account": account,
        "symbol": symbol,
        "slot": slot,
        "side": position["side"],
        "quantity": position["quantity"],
        "entry_price": str(position["entry_price"]),  # the exact rational's text
        "isolated_margin": position["isolated_margin"],
        "liquidation_id": None if liquidation_id is None else str(liquidation_id),
    }


def position_keys(account: FuturesAccount | None) -> set[tuple[str, str]]:
    """(symbol, slot) of each open position."""
    if account is None:
        return set()
    return {(symbol, slot) for symbol, slots in account.positions.items() for slot in slots}


def liquidation_summary(liquidation: FuturesLiquidation) -> dict[str, Any]:
    """The liquidation as the report lists it (scenario.md, "Futures inputs"; domain.md,
    "Futures liquidation"): its trigger as recorded (the figures were reported, 8 places,
    when it was triggered), the clearance fee in the wallet asset and its value in the
    quote currency, the shortfall the insurance fund covered."""
    trigger = liquidation.trigger
    ratio = trigger["margin_ratio"]
    fee = liquidation.fee
    return {
        "id": str(liquidation.id),
        "account": liquidation.account,
        "kind": liquidation.kind.value,
        "status": liquidation.status,
        "asset": liquidation.asset,  # the wallet's: of the fee and the shortfall
        "scope": {"symbol": liquidation.symbol, "slot": liquidation.slot},  # symbol None: the cross positions
        "trigger": {
            "margin_ratio": None if ratio is None else normalized(ratio),
            "margin_balance": normalized(trigger["margin_balance"]),
            "maintenance_margin": normalized(trigger["maintenance_margin"]),
            "threshold": normalized(trigger["threshold"]),
            "prices": amounts_text(trigger["prices"]),
            "parameters_version": trigger["parameters_version"],
            "at": trigger["at"].isoformat().replace("+00:00", "Z"),
        },
        "positions": json_safe(liquidation.positions_at_trigger),
        "closed": json_safe(liquidation.closed),
        "fee": {
            "amounts": amounts_text({liquidation.asset: fee} if fee > 0 else {}),
            "value": normalized(liquidation.fee_value),
        },
        "shortfall": normalized(liquidation.shortfall),
    }
