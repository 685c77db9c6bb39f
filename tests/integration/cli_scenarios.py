"""Scenarios the command tests build: written as files, run through `ledger run` as a
user runs them. Times only move forward (a store has one clock)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from ledger.entrypoints.cli import app

START = "2026-01-05T10:00:00Z"
FALL = "2026-01-05T10:20:00Z"
OFFER = "2026-01-05T10:25:00Z"


def ledger(*args: str) -> Result:
    """The real `ledger` command, run in this process (one start-up for the whole module)."""
    return CliRunner().invoke(app, list(args))


def write_scenario(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def run_json(scenario: Path, store_url: str) -> dict[str, Any]:
    result = ledger("run", str(scenario), "--store", store_url, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def regular_liquidations(*accounts: str, fall_price: str = "44000") -> list[dict[str, Any]]:
    """Seed 004's user A once per account: 2 BTC, 400,000 USDC borrowed, 8 BTC bought at
    50,000; BTC at 44,000 (or any `fall_price` below) liquidates every one of them at 10:20."""
    lines: list[dict[str, Any]] = [
        {"op": "params", "at": START, "assets": {"USDC": {"hourly_interest": "0"}}},
        {"op": "mark", "asset": "BTC", "price": "50000"},
    ]
    for account in accounts:
        lines += [
            {"op": "open", "account": account, "mode": "cross_classic", "leverage": 5},
            {"op": "deposit", "account": account, "asset": "BTC", "amount": "2"},
            {"op": "borrow", "account": account, "asset": "USDC", "amount": "400000"},
            {
                "op": "fill",
                "account": account,
                "side": "buy",
                "base": "BTC",
                "quote": "USDC",
                "quantity": "8",
                "price": "50000",
            },
        ]
    return [*lines, {"op": "mark", "asset": "BTC", "price": fall_price, "at": FALL}]


def takeover_below_the_debt(
    account: str = "B", start: str = START, fall: str = FALL, offer: str = OFFER
) -> list[dict[str, Any]]:
    """Seed 004's user B, but the market takes SUPER at 0.5: 500,000 SUPER fetch 250,000
    USDC against a 400,000 USDC debt, and the empty insurance fund covers 150,000."""
    return [
        {
            "op": "params",
            "at": start,
            "assets": {"SUPER": {"liquid": False, "precision": 8}, "USDC": {"hourly_interest": "0"}},
        },
        {"op": "open", "account": account, "mode": "cross_classic", "leverage": 5},
        {"op": "mark", "asset": "SUPER", "price": "1"},
        {"op": "deposit", "account": account, "asset": "SUPER", "amount": "100000"},
        {"op": "borrow", "account": account, "asset": "USDC", "amount": "400000"},
        {
            "op": "fill",
            "account": account,
            "side": "buy",
            "base": "SUPER",
            "quote": "USDC",
            "quantity": "400000",
            "price": "1",
        },
        {"op": "mark", "asset": "SUPER", "price": "0.88", "at": fall},
        {"op": "liquidity", "asset": "SUPER", "price": "0.5", "quantity": "500000", "at": offer},
    ]
