"""Assessing an account's margin: what its level calls for now, recorded nowhere
(`assess_margin`, from the store's marks; `margin_decision`, from any price book).

Which marks may change whom is the risk index's (`ledger.processes.margin.indexes`,
`MarginRisk`), fed from the accounts' events, not from the assessments.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.domain.margin.account import Account
from ledger.domain.margin.decisions import MarginAction, margin_action, margin_tier_of
from ledger.domain.margin.rules import MarginPosition, margin_position
from ledger.domain.parameters import MarginTier
from ledger.domain.prices import MissingPrice, PriceBook
from ledger.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class MarginAssessment:
    action: MarginAction
    tier: MarginTier
    prices: PriceBook
    position: MarginPosition


def assess_margin(uow: UnitOfWork, account: Account) -> MarginAssessment | None:
    """What the account's level calls for now at the store's marks, if anything."""
    return margin_decision(account, uow.prices())


def margin_decision(account: Account, prices: PriceBook) -> MarginAssessment | None:
    """What the account's level calls for at `prices`, exactly, if anything: nothing for an
    account without a level to assess, or with an asset that has no price."""
    tier = margin_tier_of(account, prices.parameters)
    if tier is None:
        return None
    try:
        position = margin_position(account.mode, account.balances, account.liabilities(), prices)
    except MissingPrice:
        return None  # the level is unknown until it is marked
    action = margin_action(position, tier, account.status)
    if action is None:
        return None
    return MarginAssessment(action, tier, prices, position)
