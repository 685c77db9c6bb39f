#!/usr/bin/env python3
"""A deterministic load scenario for `ledger run` (JSON Lines, ../shared/spec/scenario.md).

    python bench/generate_scenario.py --accounts 1000 --inputs 50000 --seed 7 --out bench/out/s.jsonl

Same arguments, same file. The scenario:

- declares SUPER (illiquid) and a small USDC hourly interest, marks BTC, ETH and SUPER;
- opens N cross_classic 5x accounts. Most deposit BTC/ETH/USDC, borrow USDC near
  the 5x limit (asset value x 4 >= liabilities x 5 after the borrow) and buy BTC
  or ETH with it. A subset holds SUPER: "pure" holders (SUPER only, all borrowed
  USDC spent on SUPER: their liquidation is a takeover) and "mixed" holders
  (BTC and SUPER: the regular part sells the BTC, then the desk takes over);
- then fills the input budget with account activity (deposits, buys, sells,
  repays, borrows, withdrawals), a random walk of BTC/ETH marks, a few
  deliberately over-limit borrows (rejections), `clock` inputs at each hh:00,
  a few sharp drops (BTC, ETH, SUPER) sized to liquidate a target number of
  accounts, USDC deposits answering the margin calls a drop leaves, and
  `liquidity` inputs for SUPER after the SUPER drop.

The generator keeps the ledger's state of every account in exact decimals
(balances, principal, interest, hour by hour), so it knows which accounts a
drop liquidates and keeps every other account above the liquidation level
between drops: the random walk never goes below the last drop's price (the
"floor"), and any activity must leave the margin level at the floor prices at
or above SAFE_LEVEL. What it expects (rejections, liquidations by kind) is
written beside the scenario as NAME.meta.json.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path
from typing import Any, TextIO

D = Decimal
ZERO = D(0)
LEVERAGE = 5
LIQUIDATION_LEVEL = D("1.1")  # cross_classic 5x default
SAFE_LEVEL = D("1.13")  # what activity must leave at the floor prices
TOPUP_LEVEL = D("1.3")  # margin-call answers bring the floor level back here
HOURLY_INTEREST = D("0.000005")  # USDC, per hour
DECIMALS = {"BTC": 6, "ETH": 5, "USDC": 2, "SUPER": 3}  # what the generator writes (all <= 8)
START = datetime(2024, 3, 1, 0, 40, tzinfo=UTC)
SPAN = timedelta(hours=3)  # hh:00 boundaries at 01:00, 02:00 and 03:00
INITIAL_PRICES = {"BTC": D("60000"), "ETH": D("3000"), "SUPER": D("10")}
WALKED = ("BTC", "ETH")
# (fraction of the input budget, asset): the sharp drops.
DROPS = ((0.30, "BTC"), (0.42, "ETH"), (0.55, "SUPER"), (0.68, "BTC"), (0.78, "ETH"))
LIQUIDITY_SLOTS = 8  # liquidity inputs for SUPER, from the SUPER drop to 97%
SETUP_INPUTS_PER_ACCOUNT = 7  # an upper bound, to check the budget


def quantize(amount: Decimal, places: int, rounding: str = ROUND_FLOOR) -> Decimal:
    return amount.quantize(D(1).scaleb(-places), rounding=rounding)


def text(amount: Decimal) -> str:
    """A decimal string without exponent; at most 8 decimals by construction."""
    result = format(amount.normalize(), "f")
    assert "." not in result or len(result.split(".")[1]) <= 8, result
    return result


def first_hour_interest(amount: Decimal) -> Decimal:
    return quantize(amount * HOURLY_INTEREST, 8, ROUND_HALF_EVEN)


@dataclass
class Account:
    name: str
    kind: str  # regular | super_pure | super_mixed
    balances: dict[str, Decimal] = field(default_factory=dict)
    principal: Decimal = ZERO
    interest: Decimal = ZERO
    alive: bool = True

    def add(self, asset: str, amount: Decimal) -> None:
        total = self.balances.get(asset, ZERO) + amount
        assert total >= 0, (self.name, asset, total)
        if total == 0:
            self.balances.pop(asset, None)
        else:
            self.balances[asset] = total

    def balance(self, asset: str) -> Decimal:
        return self.balances.get(asset, ZERO)

    @property
    def liabilities(self) -> Decimal:
        return self.principal + self.interest

    def value(self, prices: dict[str, Decimal]) -> Decimal:
        return sum((quantity * prices[asset] for asset, quantity in self.balances.items()), ZERO)


class ScenarioGenerator:
    def __init__(
        self,
        accounts: int,
        inputs: int,
        seed: int = 1,
        mark_share: float = 0.01,
        reject_share: float = 0.001,
        super_share: float = 0.06,
        liquidation_share: float = 0.03,
    ):
        if accounts < 20:
            raise ValueError("at least 20 accounts")
        minimum = accounts * SETUP_INPUTS_PER_ACCOUNT + 200
        if inputs < minimum:
            raise ValueError(f"{accounts} accounts need at least {minimum} inputs (setup alone takes ~6 each)")
        self.n_accounts = accounts
        self.n_inputs = inputs
        self.seed = seed
        self.mark_share = mark_share
        self.reject_share = reject_share
        self.rng = random.Random(seed)
        self.prices: dict[str, Decimal] = {"USDC": D(1), **INITIAL_PRICES}
        self.floors: dict[str, Decimal] = {
            "USDC": D(1),
            "SUPER": INITIAL_PRICES["SUPER"],
            **{a: quantize(INITIAL_PRICES[a] * D("0.96"), 2) for a in WALKED},
        }
        self.anchors: dict[str, Decimal] = {a: INITIAL_PRICES[a] for a in WALKED}
        n_super = max(10, round(accounts * super_share))
        self.n_pure = n_super // 2
        self.n_mixed = n_super - self.n_pure
        self.regular_target = max(10, round(accounts * liquidation_share))
        self.accounts: list[Account] = []
        self.active: list[Account] = []  # regular accounts that take part in activity
        self.queue: deque[dict[str, Any]] = deque()
        self.takeover_queue: deque[list[Any]] = deque()  # [account name, SUPER left to sell], oldest first
        # bookkeeping
        self.slot = 0
        self.last_time: datetime | None = None
        self.next_hour = START.replace(minute=0, second=0) + timedelta(hours=1)
        self.ops: Counter[str] = Counter()
        self.expected_rejections = 0
        self.predicted: Counter[str] = Counter()
        self.drops: list[dict[str, Any]] = []
        self.liquidity: list[dict[str, Any]] = []
        self.topups = 0
        self.hours = 0
        self.out: TextIO | None = None

    # --- writing ---------------------------------------------------------------------

    def time_of(self, slot: int) -> datetime:
        return START + timedelta(seconds=int(slot * SPAN.total_seconds() // self.n_inputs))

    def clock_due(self) -> bool:
        return self.time_of(self.slot) >= self.next_hour

    def write(self, item: dict[str, Any]) -> None:
        at = item.pop("at", None) or self.time_of(self.slot)
        line = dict(item)
        if at != self.last_time:
            line["at"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
            self.last_time = at
        assert self.out is not None
        self.out.write(json.dumps(line, separators=(",", ":")) + "\n")
        self.ops[item["op"]] += 1
        self.slot += 1

    def emit(self, item: dict[str, Any]) -> None:
        """Writes an input; an hh:00 that its time passes gets its `clock` input first."""
        if self.clock_due():
            self.emit_clock()
        self.write(item)

    def emit_clock(self) -> None:
        hour = self.next_hour
        self.write({"op": "clock", "at": hour})
        self.next_hour = hour + timedelta(hours=1)
        self.hours += 1
        for account in self.accounts:  # the ledger accrues the hour on every open debt
            if account.principal > 0:
                account.interest += quantize(account.principal * HOURLY_INTEREST, 8, ROUND_HALF_EVEN)

    # --- margin arithmetic (exact, as the ledger does it) --------------------------------

    def floor_headroom(self, account: Account, extra_value: Decimal = ZERO) -> Decimal:
        """Value at the floor prices above SAFE_LEVEL x liabilities."""
        return account.value(self.floors) + extra_value - SAFE_LEVEL * account.liabilities

    def max_borrow(self, account: Account) -> Decimal:
        """The largest USDC borrow the ledger admits now, that also keeps the floor level safe."""
        value = account.value(self.prices)
        limit = (4 * value - 5 * account.liabilities) / (1 + 5 * HOURLY_INTEREST)
        safe = self.floor_headroom(account) / (SAFE_LEVEL - 1 + SAFE_LEVEL * HOURLY_INTEREST)
        return max(ZERO, quantize(min(limit, safe), 2))

    def borrow_admitted(self, account: Account, amount: Decimal) -> bool:
        value = account.value(self.prices) + amount
        liabilities = account.liabilities + amount + first_hour_interest(amount)
        return value * (LEVERAGE - 1) >= liabilities * LEVERAGE

    def borrow(self, account: Account, amount: Decimal) -> dict[str, Any]:
        assert self.borrow_admitted(account, amount)
        account.add("USDC", amount)
        account.principal += amount
        account.interest += first_hour_interest(amount)
        return {"op": "borrow", "account": account.name, "asset": "USDC", "amount": text(amount)}

    def buy(self, account: Account, asset: str, quantity: Decimal, price: Decimal) -> dict[str, Any]:
        cost = quantity * price
        assert 0 < cost <= account.balance("USDC") and cost == quantize(cost, 8)
        account.add("USDC", -cost)
        account.add(asset, quantity)
        return {
            "op": "fill",
            "account": account.name,
            "side": "buy",
            "base": asset,
            "quote": "USDC",
            "quantity": text(quantity),
            "price": text(price),
        }

    def deposit(self, account: Account, asset: str, amount: Decimal) -> dict[str, Any]:
        account.add(asset, amount)
        return {"op": "deposit", "account": account.name, "asset": asset, "amount": text(amount)}

    def uniform(self, low: float, high: float, places: int) -> Decimal:
        return quantize(D(repr(self.rng.uniform(low, high))), places)

    # --- the scenario ------------------------------------------------------------------

    def generate(self, out: TextIO) -> dict[str, Any]:
        self.out = out
        with localcontext() as context:
            context.prec = 80
            self.header()
            self.setup()
            self.run()
        assert self.slot == self.n_inputs, (self.slot, self.n_inputs)
        return self.meta()

    def header(self) -> None:
        self.emit({"op": "params", "at": START, "assets": {"SUPER": {"liquid": False, "precision": 8}}})
        self.emit({"op": "params", "assets": {"USDC": {"hourly_interest": text(HOURLY_INTEREST)}}})
        for asset in ("BTC", "ETH", "SUPER"):
            self.emit({"op": "mark", "asset": asset, "price": text(self.prices[asset])})

    def setup(self) -> None:
        kinds = ["super_pure"] * self.n_pure + ["super_mixed"] * self.n_mixed
        kinds += ["regular"] * (self.n_accounts - len(kinds))
        self.rng.shuffle(kinds)
        width = len(str(self.n_accounts))
        for number, kind in enumerate(kinds, start=1):
            account = Account(name=f"u{number:0{width}d}", kind=kind)
            self.accounts.append(account)
            self.emit({"op": "open", "account": account.name, "mode": "cross_classic", "leverage": LEVERAGE})
            if kind == "regular":
                self.setup_regular(account)
                self.active.append(account)
            else:
                self.setup_super(account)

    def setup_regular(self, account: Account) -> None:
        wanted = [
            asset for asset, chance in (("BTC", 0.8), ("ETH", 0.7), ("USDC", 0.8)) if self.rng.random() < chance
        ] or ["USDC"]
        ranges = {"BTC": (0.02, 1.5), "ETH": (0.2, 25.0), "USDC": (500.0, 50000.0)}
        for asset in wanted:
            self.emit(self.deposit(account, asset, self.uniform(*ranges[asset], DECIMALS[asset])))
        amount = quantize(self.max_borrow(account) * D(repr(self.rng.uniform(0.9, 0.995))), 2)
        while amount > 0 and not self.borrow_admitted(account, amount):
            amount -= D("0.01")
        if amount <= 0:
            return
        self.emit(self.borrow(account, amount))
        asset = self.rng.choice(WALKED)
        spend = min(account.balance("USDC"), self.safe_spend(account, asset)) * D(repr(self.rng.uniform(0.85, 1.0)))
        quantity = quantize(spend / self.prices[asset], DECIMALS[asset])
        if quantity > 0:
            self.emit(self.buy(account, asset, quantity, self.prices[asset]))

    def setup_super(self, account: Account) -> None:
        price = self.prices["SUPER"]
        if account.kind == "super_mixed":
            self.emit(self.deposit(account, "BTC", self.uniform(0.02, 0.5, DECIMALS["BTC"])))
        self.emit(self.deposit(account, "SUPER", self.uniform(200.0, 20000.0, DECIMALS["SUPER"])))
        amount = quantize(self.max_borrow(account) * D(repr(self.rng.uniform(0.85, 0.995))), 1)
        while amount > 0 and not self.borrow_admitted(account, amount):
            amount -= D("0.1")
        if amount <= 0:
            return
        self.emit(self.borrow(account, amount))
        # Every borrowed USDC buys SUPER (price 10, amount to 0.1: the quantity is exact):
        # no USDC is left, so nothing repays directly in a liquidation.
        self.emit(self.buy(account, "SUPER", amount / price, price))

    def safe_spend(self, account: Account, asset: str) -> Decimal:
        """USDC that can buy `asset` at the mark and keep the floor level safe."""
        loss_share = 1 - self.floors[asset] / self.prices[asset]
        headroom = self.floor_headroom(account)
        if headroom <= 0:
            return ZERO
        if loss_share <= 0:
            return account.balance("USDC")
        return headroom / loss_share

    def run(self) -> None:
        schedule = deque(sorted((int(fraction * self.n_inputs), ("drop", asset)) for fraction, asset in DROPS))
        super_drop_slot = next(slot for slot, (_, asset) in schedule if asset == "SUPER")
        last = int(0.97 * self.n_inputs)
        step = (last - super_drop_slot) / LIQUIDITY_SLOTS
        for index in range(1, LIQUIDITY_SLOTS + 1):
            schedule.append((super_drop_slot + int(step * index), ("liquidity", index == LIQUIDITY_SLOTS)))
        schedule = deque(sorted(schedule, key=lambda entry: entry[0]))
        while self.slot < self.n_inputs:
            if self.clock_due():
                self.emit_clock()
            elif self.queue:
                self.write(self.queue.popleft())
            elif schedule and schedule[0][0] <= self.slot:
                _, (what, argument) = schedule.popleft()
                if what == "drop":
                    self.drop(argument)
                else:
                    self.offer_liquidity(final=argument)
            else:
                roll = self.rng.random()
                if roll < self.mark_share:
                    self.write(self.walk())
                elif roll < self.mark_share + self.reject_share:
                    self.write(self.over_limit_borrow())
                else:
                    self.write(self.activity())

    # --- marks, drops, liquidity ---------------------------------------------------------

    def walk(self) -> dict[str, Any]:
        asset = "BTC" if self.rng.random() < 0.6 else "ETH"
        price, anchor = float(self.prices[asset]), float(self.anchors[asset])
        log_price = math.log(price) + 0.03 * (math.log(anchor) - math.log(price)) + self.rng.gauss(0, 0.002)
        new = quantize(D(repr(math.exp(log_price))), 2)
        new = min(max(new, self.floors[asset]), quantize(self.anchors[asset] * D("1.08"), 2))
        self.prices[asset] = new
        return {"op": "mark", "asset": asset, "price": text(new)}

    def drop(self, asset: str) -> None:
        """A mark that takes a target number of the asset's holders to the liquidation level."""
        holders = [a for a in self.accounts if a.alive and a.balance(asset) > 0 and a.liabilities > 0]
        if asset == "SUPER":
            target = max(1, len(holders) // 2)
        else:
            target = max(1, self.regular_target // sum(1 for _, a in DROPS if a != "SUPER"))
        critical = []  # the price of `asset` at or below which each holder is liquidated
        for account in holders:
            others = account.value(self.prices) - account.balance(asset) * self.prices[asset]
            price = (LIQUIDATION_LEVEL * account.liabilities - others) / account.balance(asset)
            if price > 0:
                critical.append(price)
        critical.sort(reverse=True)
        old = self.prices[asset]
        if not critical:
            new = quantize(old * D("0.9"), 2)
        else:
            new = quantize(critical[min(target, len(critical)) - 1], 2)
            new = min(new, quantize(old * D("0.98"), 2))
            if new <= 0:
                new = D("0.01")
        self.prices[asset] = new
        self.floors[asset] = min(self.floors[asset], new)
        if asset in self.anchors:
            self.anchors[asset] = quantize(new * D("1.03"), 2)
        self.write({"op": "mark", "asset": asset, "price": text(new)})
        liquidated = Counter()
        for account in holders:
            if account.value(self.prices) <= LIQUIDATION_LEVEL * account.liabilities:
                liquidated[self.liquidate(account)] += 1
        self.drops.append(
            {
                "slot": self.slot,
                "asset": asset,
                "from": text(old),
                "to": text(new),
                "change": f"{float((new - old) / old):.2%}",
                "holders": len(holders),
                "predicted_liquidations": dict(liquidated),
            }
        )
        self.answer_margin_calls()

    def liquidate(self, account: Account) -> str:
        """What the ledger will do with an account at the liquidation level, predicted."""
        account.alive = False
        owed = account.liabilities
        direct = min(account.balance("USDC"), owed)
        liquid = sum((account.balance(a) * self.prices[a] for a in WALKED), ZERO)
        super_left = account.balance("SUPER")
        if direct + liquid >= owed or super_left == 0:
            kind = "regular"
        else:
            kind = "mixed" if direct + liquid > 0 else "takeover"
            self.takeover_queue.append([account.name, super_left])
        account.balances, account.principal, account.interest = {}, ZERO, ZERO
        self.predicted[kind] += 1
        return kind

    def answer_margin_calls(self) -> None:
        """USDC deposits for every live account the drop left below SAFE_LEVEL at the floor."""
        for account in self.accounts:
            if account.alive and account.liabilities > 0 and self.floor_headroom(account) < 0:
                amount = quantize(TOPUP_LEVEL * account.liabilities - account.value(self.floors), 2, ROUND_CEILING)
                self.queue.append(self.deposit(account, "USDC", amount))
                self.topups += 1

    def offer_liquidity(self, final: bool) -> None:
        pending = sum((entry[1] for entry in self.takeover_queue), ZERO)
        share = D("1.2") if final else D("0.35")
        quantity = quantize(max(pending * share, D(100)), DECIMALS["SUPER"])
        price = quantize(self.prices["SUPER"] * D("0.98"), 2)
        left = quantity
        while left > 0 and self.takeover_queue:
            entry = self.takeover_queue[0]
            sold = min(entry[1], left)
            entry[1] -= sold
            left -= sold
            if entry[1] == 0:
                self.takeover_queue.popleft()
        self.liquidity.append(
            {"slot": self.slot, "quantity": text(quantity), "price": text(price), "pending_before": text(pending)}
        )
        self.write({"op": "liquidity", "asset": "SUPER", "price": text(price), "quantity": text(quantity)})

    # --- account activity ------------------------------------------------------------------

    def pick_active(self) -> Account:
        while True:
            index = self.rng.randrange(len(self.active))
            account = self.active[index]
            if account.alive:
                return account
            self.active[index] = self.active[-1]
            self.active.pop()

    def over_limit_borrow(self) -> dict[str, Any]:
        account = self.pick_active()
        room = max(ZERO, account.value(self.prices) * 4 - account.liabilities * 5)
        amount = quantize(2 * room + 1000, 2)
        assert not self.borrow_admitted(account, amount)
        self.expected_rejections += 1
        return {"op": "borrow", "account": account.name, "asset": "USDC", "amount": text(amount)}

    def activity(self) -> dict[str, Any]:
        account = self.pick_active()
        roll = self.rng.random()
        item = None
        if roll < 0.25:
            item = self.activity_buy(account)
        elif roll < 0.45:
            item = self.activity_sell(account)
        elif roll < 0.55:
            item = self.activity_repay(account)
        elif roll < 0.65:
            item = self.activity_borrow(account)
        elif roll < 0.75:
            item = self.activity_withdraw(account)
        return item or self.activity_deposit(account)

    def activity_deposit(self, account: Account) -> dict[str, Any]:
        roll = self.rng.random()
        if roll < 0.5:
            return self.deposit(account, "USDC", self.uniform(10.0, 2000.0, 2))
        asset = "BTC" if roll < 0.75 else "ETH"
        low, high = (0.0005, 0.05) if asset == "BTC" else (0.005, 0.5)
        return self.deposit(account, asset, self.uniform(low, high, DECIMALS[asset]))

    def activity_buy(self, account: Account) -> dict[str, Any] | None:
        asset = self.rng.choice(WALKED)
        price = self.prices[asset]
        spend = min(account.balance("USDC"), self.safe_spend(account, asset)) * D(repr(self.rng.uniform(0.1, 0.6)))
        quantity = quantize(spend / price, DECIMALS[asset])
        if quantity <= 0:
            return None
        return self.buy(account, asset, quantity, price)

    def activity_sell(self, account: Account) -> dict[str, Any] | None:
        held = [asset for asset in WALKED if account.balance(asset) > 0]
        if not held:
            return None
        asset = self.rng.choice(held)
        quantity = quantize(account.balance(asset) * D(repr(self.rng.uniform(0.05, 0.5))), DECIMALS[asset])
        price = self.prices[asset]
        if quantity <= 0 or quantity * price < D("0.01"):
            return None
        account.add(asset, -quantity)
        account.add("USDC", quantity * price)
        return {
            "op": "fill",
            "account": account.name,
            "side": "sell",
            "base": asset,
            "quote": "USDC",
            "quantity": text(quantity),
            "price": text(price),
        }

    def activity_repay(self, account: Account) -> dict[str, Any] | None:
        most = min(account.balance("USDC"), account.liabilities)
        amount = quantize(most * D(repr(self.rng.uniform(0.05, 0.5))), 2)
        if amount <= 0:
            return None
        interest_paid = min(amount, account.interest)
        account.interest -= interest_paid
        account.principal -= amount - interest_paid
        account.add("USDC", -amount)
        return {"op": "repay", "account": account.name, "asset": "USDC", "amount": text(amount)}

    def activity_borrow(self, account: Account) -> dict[str, Any] | None:
        amount = quantize(self.max_borrow(account) * D(repr(self.rng.uniform(0.1, 0.6))), 2)
        if amount <= 0 or not self.borrow_admitted(account, amount):
            return None
        return self.borrow(account, amount)

    def activity_withdraw(self, account: Account) -> dict[str, Any] | None:
        held = [asset for asset in ("USDC", *WALKED) if account.balance(asset) > 0]
        if not held:
            return None
        asset = self.rng.choice(held)
        amount = quantize(account.balance(asset) * D(repr(self.rng.uniform(0.02, 0.2))), DECIMALS[asset])
        if amount <= 0:
            return None
        value_after = account.value(self.prices) - amount * self.prices[asset]
        if account.liabilities > 0 and value_after * (LEVERAGE - 1) < account.liabilities * LEVERAGE:
            return None
        if self.floor_headroom(account, -amount * self.floors[asset]) < 0:
            return None
        account.add(asset, -amount)
        return {"op": "withdraw", "account": account.name, "asset": asset, "amount": text(amount)}

    # --- what to expect --------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        return {
            "accounts": self.n_accounts,
            "inputs": self.n_inputs,
            "seed": self.seed,
            "mark_share": self.mark_share,
            "reject_share": self.reject_share,
            "super_holders": {"pure": self.n_pure, "mixed": self.n_mixed},
            "ops": dict(sorted(self.ops.items())),
            "hours_passed": self.hours,
            "expected_rejections": self.expected_rejections,
            "predicted_liquidations": dict(self.predicted),
            "predicted_takeovers_waiting_at_end": len(self.takeover_queue),
            "margin_call_topups": self.topups,
            "drops": self.drops,
            "liquidity": self.liquidity,
            "final_prices": {asset: text(price) for asset, price in self.prices.items() if asset != "USDC"},
        }


def write_scenario(path: Path, accounts: int, inputs: int, seed: int, **options: Any) -> dict[str, Any]:
    """Writes the scenario to `path` and its expectations to NAME.meta.json; returns them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    generator = ScenarioGenerator(accounts, inputs, seed, **options)
    with path.open("w", buffering=1 << 20) as out:
        meta = generator.generate(out)
    meta_path(path).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def meta_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".jsonl") + ".meta.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=10000)
    parser.add_argument("--inputs", type=int, default=1000000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--mark-share", type=float, default=0.01, help="share of random-walk marks among the inputs (default 0.01)"
    )
    parser.add_argument(
        "--reject-share", type=float, default=0.001, help="share of deliberately over-limit borrows (default 0.001)"
    )
    parser.add_argument("--out", type=Path, required=True, help="the scenario file (.jsonl) to write")
    args = parser.parse_args(argv)
    try:
        meta = write_scenario(
            args.out, args.accounts, args.inputs, args.seed, mark_share=args.mark_share, reject_share=args.reject_share
        )
    except ValueError as exc:
        parser.error(str(exc))
    print(
        json.dumps(
            {key: meta[key] for key in ("ops", "expected_rejections", "predicted_liquidations", "margin_call_topups")},
            indent=2,
        ),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
