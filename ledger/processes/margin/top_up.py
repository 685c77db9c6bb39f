"""The auto top-up: once per descent, right after the margin call, transfers from the
account's spot source lift it towards its target level. Lifted above the margin-call
level, the account is normal again; else it stays in margin call, with no further
top-up until it has recovered (an hour, a deposit into the source start none)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.domain.margin.account import Account
from ledger.domain.margin.decisions import top_up_target
from ledger.domain.margin.rules import MarginPosition, plan_auto_topup, reported_level
from ledger.domain.prices import PriceBook
from ledger.unit_of_work import UnitOfWork


def auto_topup(
    uow: UnitOfWork,
    account: Account,
    position: MarginPosition,
    prices: PriceBook,
    at: datetime,
    cause: dict[str, Any],
) -> MarginPosition:
    """Transfers from the source spot account, asset by asset in rank order, until the
    level reaches the target or the source has nothing usable left, and records the
    outcome: applied, partial or failed, with its reason. Returns the position after."""
    settings = account.auto_topup
    assert settings is not None
    target = top_up_target(settings["target"], prices.parameters)
    source = uow.account(settings["source"])
    cause = {**cause, "step": "auto_topup"}
    plan = plan_auto_topup(
        account.mode,
        account.balances,
        account.liabilities(),
        prices,
        source=source.name,
        source_balances=source.balances,
        ranked=settings["assets"],
        pair=account.pair,
        target=target,
    )
    level_before = reported_level(position.level())
    for asset, quantity in plan.transfers.items():
        source.transfer_out(asset, quantity, account.name, prices, at, cause)
        account.transfer_in(asset, quantity, source.name, at, cause)
    if plan.transfers:
        account.record_auto_topup(
            account=account.name,
            transfers=plan.transfers,
            margin_level_before=level_before,
            margin_level_after=reported_level(plan.position.level()),
            target=target,
            target_reached=plan.target_reached,
            outcome=plan.outcome,
            reason=plan.reason,
            at=at,
            cause=cause,
        )
    else:
        account.record_auto_topup_failure(
            account=account.name, margin_level=level_before, reason=plan.reason, at=at, cause=cause
        )
    return plan.position
