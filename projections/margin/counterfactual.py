"""What `ledger replay` compares of a spot-margin account: where it ended."""

from __future__ import annotations

from typing import Any

from ledger.domain.product import Product
from projections.counterfactual import ACCOUNT_OUTCOMES


@ACCOUNT_OUTCOMES.register(Product.MARGIN)
def margin_account_outcome(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "balances": state["balances"],
        "debts": state["debts"],
        "interest": state["interest"],
        "margin_level": state["margin_level"],
        "status": state["status"],
    }
