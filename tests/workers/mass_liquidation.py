"""A scenario in which one mark liquidates many accounts: regular ones (seed user A's
shape) and takeovers (user B's), an hour of interest on the desks, then liquidity."""

from __future__ import annotations

import json
from typing import Any


def mass_liquidation_lines(regular: int, takeovers: int) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = [
        {
            "op": "params",
            "at": "2026-01-05T10:00:00Z",
            "assets": {"SUPER": {"liquid": False, "precision": 8}, "USDC": {"hourly_interest": "0.00001"}},
        },
        {"op": "mark", "asset": "BTC", "price": "50000"},
        {"op": "mark", "asset": "SUPER", "price": "1"},
    ]
    for index in range(regular):
        name = f"R{index:05d}"
        lines += [
            {"op": "open", "account": name, "mode": "cross_classic", "leverage": 5},
            {"op": "deposit", "account": name, "asset": "BTC", "amount": "2"},
            {"op": "borrow", "account": name, "asset": "USDC", "amount": "390000"},
            {
                "op": "fill",
                "account": name,
                "side": "buy",
                "base": "BTC",
                "quote": "USDC",
                "quantity": "7.8",
                "price": "50000",
            },
        ]
    for index in range(takeovers):
        name = f"T{index:05d}"
        lines += [
            {"op": "open", "account": name, "mode": "cross_classic", "leverage": 5},
            {"op": "deposit", "account": name, "asset": "SUPER", "amount": "1000"},
            {"op": "borrow", "account": name, "asset": "USDC", "amount": "3900"},
            {
                "op": "fill",
                "account": name,
                "side": "buy",
                "base": "SUPER",
                "quote": "USDC",
                "quantity": "3900",
                "price": "1",
            },
        ]
    lines += [
        {"op": "mark", "asset": "BTC", "price": "43000", "at": "2026-01-05T10:20:00Z"},
        {"op": "mark", "asset": "SUPER", "price": "0.86", "at": "2026-01-05T10:20:00Z"},
        {"op": "clock", "at": "2026-01-05T11:30:00Z"},
        {
            "op": "liquidity",
            "asset": "SUPER",
            "price": "0.87",
            "quantity": str(5000 * takeovers),
            "at": "2026-01-05T11:45:00Z",
        },
    ]
    return lines


def mass_liquidation_text(regular: int, takeovers: int) -> str:
    return "\n".join(json.dumps(line) for line in mass_liquidation_lines(regular, takeovers)) + "\n"
