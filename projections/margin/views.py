"""The spot-margin product's views: its accounts (a row each, and a row per asset
held or owed) and its liquidations (a row each, with the summary the report lists),
registered on `LedgerViews.update` by event class."""

from __future__ import annotations

from typing import Any

from ledger.domain.margin.account import Account
from ledger.domain.margin.liquidation import Liquidation
from ledger.domain.money import normalized
from projections import tables
from projections.values import amounts_text, json_safe
from projections.views import LedgerViews, RowChanges, liquidation_of


# Registered by explicit class: an annotation-based registration would take the first
# annotated parameter (`views`) as the dispatch type.
@LedgerViews.update.register(Account.Event)
def _account(views: LedgerViews, event: Account.Event, notification_id: int) -> None:
    views.follow_rows(event, notification_id, account_rows, account_asset_names)


def account_rows(
    changes: RowChanges, account: Account, event: Account.Event, notification_id: int, held_before: set[str]
) -> None:
    """The account's row and a row per asset it holds or owes, after `event`; the rows of
    the assets it held before (`held_before`) and no longer does, deleted."""
    changes.put(
        tables.accounts,
        {
            "account": account.name,
            "account_id": str(account.id),
            "mode": account.mode,
            "leverage": account.leverage,
            "pair": account.pair,
            "status": account.status,
            "auto_topup": json_safe(account.auto_topup),
            "liquidation_id": None if account.liquidation_id is None else str(account.liquidation_id),
            "liquidations": account.liquidations_started,
            "version": account.version,
            "notification_id": notification_id,
            "at": event.at,
        },
    )
    held = account_asset_names(account)
    for gone in held_before - held:
        changes.delete(tables.account_assets, (account.name, gone))
    for asset in sorted(held):
        changes.put(
            tables.account_assets,
            {
                "account": account.name,
                "asset": asset,
                "balance": account.balances.get(asset),
                "principal": account.principal.get(asset),
                "interest": account.interest.get(asset),
            },
        )


@LedgerViews.update.register(Liquidation.Event)
def _liquidation(views: LedgerViews, event: Liquidation.Event, notification_id: int) -> None:
    views.follow_liquidation(event, notification_id, liquidation_summary)


@liquidation_of.register(Liquidation.Event)
def _liquidation_event(event: Liquidation.Event) -> Any:
    return event.originator_id


def account_asset_names(account: Account | None) -> set[str]:
    """The assets an account has a row for: any it holds, owes or owes interest on."""
    if account is None:
        return set()
    return set(account.balances) | set(account.principal) | set(account.interest)


def liquidation_summary(liquidation: Liquidation) -> dict[str, Any]:
    """The liquidation as the report shows it."""
    trigger = liquidation.trigger
    return {
        "id": str(liquidation.id),
        "account": liquidation.account,
        "kind": liquidation.kind,
        "status": liquidation.status,
        "trigger": {
            "margin_level": normalized(trigger["margin_level"]),
            "threshold": normalized(trigger["threshold"]),
            "prices": amounts_text(trigger["prices"]),
            "parameters_version": trigger["parameters_version"],
            "at": trigger["at"].isoformat().replace("+00:00", "Z"),
        },
        "liabilities": amounts_text(liquidation.liabilities_at_trigger),
        "fee": {"amounts": amounts_text(liquidation.fee_amounts or {}), "value": normalized(liquidation.fee_value)},
        "returned": amounts_text(liquidation.returned),
        "shortfall": amounts_text(liquidation.shortfall),
        "desk": {
            "balances": amounts_text(liquidation.desk_balances),
            "liabilities": amounts_text(liquidation.desk_liabilities()),
        },
    }
