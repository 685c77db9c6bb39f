"""What `ledger replay` compares of a futures wallet: where it ended."""

from __future__ import annotations

from typing import Any

from ledger.domain.product import Product
from projections.counterfactual import ACCOUNT_OUTCOMES


@ACCOUNT_OUTCOMES.register(Product.FUTURES)
def wallet_outcome(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "balances": state["balances"],
        "wallet_balance": state["wallet_balance"],
        "realized_pnl": state["realized_pnl"],
        "funding": state["funding"],
        "margin_ratio": state["margin_ratio"],
        "positions": [
            {"symbol": position["symbol"], "side": position["side"], "quantity": position["quantity"]}
            for position in state["positions"]
        ],
        "status": state["status"],
    }
