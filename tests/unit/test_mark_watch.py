"""The risk index evaluates exactly only the accounts within its error bound. It must
change nothing: the same inputs give the same events as evaluating every account
exactly on every mark."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ledger.bootstrap import open_ledger
from ledger.domain.margin.account import Account
from ledger.log import stored_events
from ledger.processes.inline import run_inputs
from ledger.processes.margin.assessment import margin_decision
from ledger.processes.margin.indexes import MarginRisk
from ledger.runs import validate
from ledger.unit_of_work import UnitOfWork
from projections.report import build_report


def _every_account(_index: MarginRisk, _mark: object, uow: UnitOfWork) -> list[str]:
    """The reference: no index, every account evaluated exactly on every mark, the accounts
    it changes lowest exact level first, ties by name."""
    prices = uow.prices()
    changed = [
        (decision.position.level(), name)
        for name in uow.app.account_names()
        if isinstance(account := uow.account(name), Account)
        and (decision := margin_decision(account, prices)) is not None
    ]
    return [name for _level, name in sorted(changed)]


def _random_scenario(seed: int) -> str:
    rng = random.Random(seed)
    lines: list[dict] = [
        {"op": "params", "at": "2026-01-05T10:00:00Z", "assets": {"USDC": {"hourly_interest": "0.0002"}}},
        {"op": "mark", "asset": "BTC", "price": "50000"},
        {"op": "mark", "asset": "ETH", "price": "3000"},
        {"op": "open", "account": "S", "mode": "spot"},
        {"op": "deposit", "account": "S", "asset": "USDC", "amount": "20000"},
    ]
    for index in range(12):
        name = f"U{index}"
        mode, leverage = rng.choice([("cross_classic", 3), ("cross_classic", 5), ("cross_pro", 10)])
        lines += [
            {"op": "open", "account": name, "mode": mode, "leverage": leverage},
            {"op": "deposit", "account": name, "asset": "BTC", "amount": str(rng.randint(1, 3))},
            {"op": "deposit", "account": name, "asset": "ETH", "amount": str(rng.randint(0, 20) + 1)},
            {"op": "borrow", "account": name, "asset": "USDC", "amount": str(rng.randint(30000, 160000))},
            {"op": "borrow", "account": name, "asset": "ETH", "amount": str(rng.randint(1, 5))},
            {
                "op": "fill",
                "account": name,
                "side": "buy",
                "base": "BTC",
                "quote": "USDC",
                "quantity": str(rng.randint(5, 30) / 10),
                "price": "50000",
            },
        ]
        if index % 4 == 0:
            lines.append({"op": "auto_topup", "account": name, "source": "S", "assets": ["USDC"]})
    prices = {"BTC": 50000, "ETH": 3000}
    minute = 0
    for _ in range(160):
        asset = rng.choice(["BTC", "ETH"])
        prices[asset] = max(prices[asset] // 4, int(prices[asset] * (1 + rng.uniform(-0.07, 0.045))))
        minute += rng.randint(1, 9)
        at = f"2026-01-05T{10 + minute // 60:02d}:{minute % 60:02d}:00Z"
        lines.append({"op": "mark", "asset": asset, "price": str(prices[asset]), "at": at})
        if rng.random() < 0.15:
            lines.append(
                {
                    "op": "deposit",
                    "account": f"U{rng.randrange(12)}",
                    "asset": "USDC",
                    "amount": str(rng.randint(100, 5000)),
                }
            )
    return "\n".join(json.dumps(line) for line in lines)


def _run(path: Path, text: str) -> tuple[dict, list]:
    app = open_ledger(f"sqlite:///{path}")
    run_inputs(app, validate(app, text, "random"))
    events = [
        (type(e).__qualname__, getattr(e, "account", None), e.originator_version, vars(e).get("amount"))
        for e in stored_events(app)
    ]
    report = build_report(app)
    app.close()
    return report, events


@pytest.mark.parametrize("seed", range(6))
def test_the_index_gives_the_events_of_evaluating_everyone(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _random_scenario(seed)
    indexed = _run(tmp_path / "indexed.db", text)
    monkeypatch.setattr(MarginRisk, "accounts_a_mark_may_change", _every_account)
    reference = _run(tmp_path / "reference.db", text)
    assert indexed == reference
    assert indexed[0]["liquidations"], "the random walk should liquidate someone"
