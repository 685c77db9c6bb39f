"""The risk index evaluates exactly only the accounts within its error bound. It must
change nothing: the same inputs give the same events as evaluating every account
exactly on every mark. (The quiet bands of the domain, tested here too, no longer
serve the drivers.)"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.bootstrap import open_ledger
from ledger.domain.margin.account import Account
from ledger.domain.margin.rules import margin_position, quiet_price_bands
from ledger.domain.parameters import RiskParameters, default_parameter_data
from ledger.domain.prices import Mark, PriceBook
from ledger.log import stored_events
from ledger.processes.inline import run_inputs
from ledger.processes.margin.assessment import margin_decision
from ledger.processes.margin.indexes import MarginRisk
from ledger.runs import validate
from ledger.unit_of_work import UnitOfWork
from projections.report import build_report

PARAMETERS = RiskParameters(default_parameter_data(), 1)
TIER_5X = PARAMETERS.margin_tier("cross_classic", 5)


def _prices(**marks: str) -> PriceBook:
    return PriceBook({asset: Mark(Decimal(price), "USDC") for asset, price in marks.items()}, PARAMETERS)


def test_a_quiet_band_stops_short_of_the_margin_call() -> None:
    """10 BTC, 400000 USDC owed, BTC 50000: slack = 500000 - 1.16 x 400000 = 36000;
    one moving asset gets 36000 / 2 = 18000 of it, 1800 per BTC: quiet down to 48200."""
    balances, owed = {"BTC": Decimal(10)}, {"USDC": Decimal(400000)}
    prices = _prices(BTC="50000")
    position = margin_position("cross_classic", balances, owed, prices)
    bands = quiet_price_bands(position, balances, owed, prices, TIER_5X, in_margin_call=False)
    assert bands == {"BTC": (Decimal(48200), None)}
    at_edge = margin_position("cross_classic", balances, owed, _prices(BTC="48200"))
    assert not at_edge.is_at_or_below_margin_call(TIER_5X)


def test_in_a_margin_call_the_band_guards_both_liquidation_and_recovery() -> None:
    """ML 1.15 at BTC 46000: liquidation slack 460000 - 440000 = 20000 -> down to 45000;
    recovery slack 464000 - 460000 = 4000 -> up to 46200."""
    balances, owed = {"BTC": Decimal(10)}, {"USDC": Decimal(400000)}
    prices = _prices(BTC="46000")
    position = margin_position("cross_classic", balances, owed, prices)
    bands = quiet_price_bands(position, balances, owed, prices, TIER_5X, in_margin_call=True)
    assert bands == {"BTC": (Decimal(45000), Decimal(46200))}


def test_a_mark_quoted_in_another_asset_gives_no_band() -> None:
    balances, owed = {"BTC": Decimal(10)}, {"USDC": Decimal(400000)}
    prices = PriceBook({"BTC": Mark(Decimal(50000), "USDT")}, PARAMETERS)
    position = margin_position("cross_classic", balances, owed, prices)
    assert quiet_price_bands(position, balances, owed, prices, TIER_5X, in_margin_call=False) is None


def _every_account(_index: MarginRisk, _mark: object, uow: UnitOfWork) -> list[str]:
    """The reference: no index, every account evaluated exactly on every mark."""
    prices = uow.prices()
    return sorted(
        name
        for name in uow.app.account_names()
        if isinstance(account := uow.account(name), Account) and margin_decision(account, prices) is not None
    )


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
