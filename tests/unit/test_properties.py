"""Property tests of the spot-margin ledger (hypothesis).

Random sequences of VALID inputs (every one passes `ledger run`'s validation;
business-rule rejections are expected and welcome) are applied one input at a
time to a fresh SQLite store, and after every input these properties are checked:

1. Conservation.
   a. The report's `conservation` list is empty: per asset, the balance book and
      the debt book each net to zero over all accounts, system accounts included.
   b. EVERY stored event that has `entries()` has entries netting to zero per
      (asset, book) on its own -- no exception is allowed here, because the code
      puts both legs of a movement on ONE event.
   c. The one exception the code makes is of a different kind: some events are
      the "mirror" of another event and carry NO entries at all (their
      counterpart carries both legs, one of which names the mirror's account):
        - `Account.TransferredIn`        (legs on the sender's `TransferredOut`,
                                          whose entries name the receiving account)
        - `Liquidation.TakeoverStarted`  (legs on the account's `HandedOverToTakeover`)
        - `Liquidation.ProceedsReturned` (legs on the account's `TakeoverProceedsReturned`)
        - `Liquidation.FeeCharged` with a payer other than `takeover-desk`
                                         (legs on the account's `LiquidationFeePaid`)
      We assert that these mirrors have empty entries (so nothing is counted
      twice), that each one is paired with exactly one counterpart of the same
      content, and that the balance sheet built from entries alone equals
      every user account's aggregate state (balances, and principal + interest
      on the debt book), so the mirrors' state changes are all accounted for.
2. No user account balance, debt (principal) or accrued interest is ever negative
   (in the report and on the balance sheet); the takeover desk never holds a
   negative balance nor a negative debt, nor does any liquidation's desk.
3. Locked accounts: in the event history, between an account's
   `LiquidationStarted` and `LiquidationEnded`, no `Borrowed`, `Withdrawn`,
   `Filled` or `TransferredOut` event of that account is recorded. And at the
   report level: a borrow / withdraw / fill / transfer out on an account that the
   previous report showed `liquidating` or `taken_over` is listed as a rejection
   and does not grow its debts.
4. Replay: a second ledger opened on the same store (a new `LedgerSession(url)`)
   reports exactly the same thing (state comes from the events only); a `reopen`
   step also continues the run on the reopened ledger.
5. Idempotency: re-sending the previous input with the same `id` (and content,
   possibly a later `at` within the same hour) leaves the report unchanged;
   re-using that `id` with different content is listed as one new rejection
   naming the id, and changes nothing else.
6. (beyond the brief) Margin is evaluated after every input: no unlocked margin
   account is left at or below its liquidation level at the current marks, and
   its status is `margin_call` exactly when its level is at or below the
   margin-call level (`normal` otherwise, and when it owes nothing).

`PROPERTY_EXAMPLES=500` (environment) runs a longer search than the default 25 (each CI run
searches anew: hypothesis keeps no example database between clean checkouts).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st

from ledger.domain.entries import DEBT, TAKEOVER_DESK, imbalances
from ledger.domain.margin.account import Account
from ledger.domain.margin.liquidation import Liquidation
from ledger.log import stored_events
from projections.balance_sheet import BalanceSheet
from projections.counterfactual import views_in_memory
from projections.report import read_report
from tests.conftest import LedgerSession

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
UNIT = Decimal("0.00000001")
LOCKED = ("liquidating", "taken_over")

SPOTS = ("S", "T")
MARGINS = ("C3", "C5", "I")
ACCOUNTS = SPOTS + MARGINS
ASSETS = ("USDC", "BTC", "ETH", "SUPER")
MARKED = ("BTC", "ETH", "SUPER")
INITIAL_MARKS = {"BTC": Decimal(50000), "ETH": Decimal(3000), "SUPER": Decimal(1)}
TIERS = {  # (margin call, liquidation) levels of the default parameter set
    ("cross_classic", 3): (Decimal("1.3"), Decimal("1.1")),
    ("cross_classic", 5): (Decimal("1.16"), Decimal("1.1")),
    ("isolated", 3): (Decimal("1.22"), Decimal("1.18")),
    ("isolated", 5): (Decimal("1.19"), Decimal("1.15")),
    ("isolated", 10): (Decimal("1.1"), Decimal("1.05")),
}
RATES = ("0", "0.0001", "0.001", "0.005")


def fmt(amount: Decimal) -> str:
    """A positive decimal string of at most 8 decimals (the smallest unit if it rounds to 0)."""
    quantized = amount.quantize(UNIT, rounding=ROUND_DOWN)
    if quantized <= 0:
        quantized = UNIT
    return format(quantized.normalize(), "f")


def price_text(price: Decimal) -> str:
    return format(price.quantize(UNIT, rounding=ROUND_DOWN).normalize(), "f")


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- strategies ------------------------------------------------------------------------

advance = st.sampled_from([0, 0, 0, 0, 0, 10, 30, 60])

# each kind of step, and how many of 100 steps are of that kind (on average)
STEPS: dict[str, tuple[int, st.SearchStrategy[tuple[Any, ...]]]] = {
    "deposit": (
        8,
        st.tuples(
            st.just("deposit"), st.sampled_from(ACCOUNTS), st.sampled_from(ASSETS), st.integers(1, 1000), advance
        ),
    ),
    "withdraw": (
        6,
        st.tuples(
            st.just("withdraw"), st.sampled_from(ACCOUNTS), st.sampled_from(ASSETS), st.integers(1, 1200), advance
        ),
    ),
    "transfer": (
        6,
        st.tuples(
            st.just("transfer"),
            st.sampled_from(ACCOUNTS),
            st.sampled_from(ACCOUNTS),
            st.sampled_from(ASSETS),
            st.integers(1, 1200),
            advance,
        ),
    ),
    "borrow": (
        7,
        st.tuples(
            st.just("borrow"),
            st.sampled_from(ACCOUNTS),
            st.sampled_from(("USDC", "BTC", "ETH")),
            st.integers(1, 1100),
            advance,
        ),
    ),
    "repay": (
        5,
        st.tuples(
            st.just("repay"),
            st.sampled_from(ACCOUNTS),
            st.sampled_from(("USDC", "BTC", "ETH")),
            st.integers(1, 1100),
            advance,
        ),
    ),
    "fill": (
        7,
        st.tuples(
            st.just("fill"),
            st.sampled_from(ACCOUNTS),
            st.sampled_from(("buy", "sell")),
            st.sampled_from(MARKED),
            st.integers(1, 1100),
            st.integers(-300, 300),
            advance,
        ),
    ),
    # borrow USDC up to the initial level, then buy a base asset with it (leverage up)
    "lever": (
        15,
        st.tuples(st.just("lever"), st.sampled_from(MARGINS), st.sampled_from(MARKED), st.integers(700, 1000), advance),
    ),
    "mark": (12, st.tuples(st.just("mark"), st.sampled_from(MARKED), st.integers(-30, 30), advance)),
    # a fall of the asset last bought with borrowed money (so that liquidations happen)
    "hot_mark": (18, st.tuples(st.just("hot_mark"), st.integers(-30, -10), advance)),
    "params": (
        4,
        st.tuples(st.just("params"), st.sampled_from(("USDC", "BTC", "ETH", "SUPER")), st.sampled_from(RATES), advance),
    ),
    "clock": (5, st.tuples(st.just("clock"), st.integers(0, 180))),
    "liquidity": (5, st.tuples(st.just("liquidity"), st.integers(-50, 10), st.integers(1, 200_000), advance)),
    "auto_topup": (
        3,
        st.tuples(
            st.just("auto_topup"),
            st.sampled_from(MARGINS),
            st.sampled_from(SPOTS),
            st.lists(st.sampled_from(("USDC", "BTC", "ETH")), min_size=1, max_size=3, unique=True),
            st.sampled_from((None, "1.5", "2")),
        ),
    ),
    # deposit to an account locked by a liquidation (allowed), then try an effect that is not
    "poke_locked": (
        4,
        st.tuples(
            st.just("poke_locked"),
            st.sampled_from(("borrow", "withdraw", "fill", "transfer")),
            st.integers(1, 1000),
            advance,
        ),
    ),
    # many inputs on one account in one run (as a scenario file does): aggregates past their
    # snapshot interval, so that a reopened ledger starts from snapshots
    "burst": (1, st.tuples(st.just("burst"), st.sampled_from(ACCOUNTS))),
    "dup": (3, st.tuples(st.just("dup"), st.sampled_from((0, 0, 1, 20)))),
    "conflict": (3, st.tuples(st.just("conflict"))),
    "reopen": (2, st.tuples(st.just("reopen"))),
}
WEIGHTED_KINDS = [kind for kind, (weight, _) in STEPS.items() for _ in range(weight)]
actions = st.sampled_from(WEIGHTED_KINDS).flatmap(lambda kind: STEPS[kind][1])

prologues = st.fixed_dictionaries(
    {
        "isolated_leverage": st.sampled_from((3, 5, 10)),
        "auto_topup": st.lists(st.sampled_from(MARGINS), unique=True, max_size=1),
        "deposits": st.fixed_dictionaries(
            {
                "S": st.tuples(st.integers(0, 200_000), st.integers(0, 4), st.integers(0, 100_000)),
                "T": st.tuples(st.integers(0, 100_000), st.integers(0, 2), st.integers(0, 0)),
                "C3": st.tuples(st.integers(0, 50_000), st.integers(1, 3), st.integers(0, 100_000)),
                "C5": st.tuples(st.integers(0, 50_000), st.integers(0, 2), st.integers(1, 100_000)),
                "I": st.tuples(st.integers(0, 50_000), st.integers(1, 2), st.integers(0, 0)),
            }
        ),
    }
)


# --- the driver: turns abstract actions into valid inputs, applies and checks them ------


class Run:
    def __init__(self, url: str):
        self.url = url
        self.session = LedgerSession(url)
        self.clock = T0
        self.marks = dict(INITIAL_MARKS)
        self.lines: list[dict[str, Any]] = []
        self.sequence = 0
        self.report: dict[str, Any] = {}
        self.hot = "BTC"
        self.locked_attempts = 0  # effects tried on an account locked before the input

    def close(self) -> None:
        self.session.close()

    # --- reading the last report ---

    def account(self, name: str) -> dict[str, Any]:
        return self.report["accounts"][name]

    def balance(self, name: str, asset: str) -> Decimal:
        return Decimal(self.account(name)["balances"].get(asset, "0"))

    def owed(self, name: str, asset: str) -> Decimal:
        acct = self.account(name)
        return Decimal(acct["debts"].get(asset, "0")) + Decimal(acct["interest"].get(asset, "0"))

    def value_of_one(self, asset: str) -> Decimal:
        return self.marks.get(asset, Decimal(1))

    def value(self, book: dict[str, str]) -> Decimal:
        return sum((Decimal(q) * self.value_of_one(a) for a, q in book.items()), Decimal(0))

    def borrowable_value(self, name: str) -> Decimal:
        """Value that can be borrowed before the initial level: V(L-1) - D L (interest ignored)."""
        acct = self.account(name)
        if acct["mode"] == "spot":
            return Decimal(0)
        leverage = Decimal(acct["leverage"])
        liabilities = self.value(acct["debts"]) + self.value(acct["interest"])
        return self.value(acct["balances"]) * (leverage - 1) - liabilities * leverage

    # --- applying ---

    def send(self, line: dict[str, Any], minutes: int = 0) -> dict[str, Any]:
        """Every input carries an explicit `at` (the test's clock) and a fresh `id`."""
        self.clock += timedelta(minutes=minutes)
        self.sequence += 1
        return self.apply({**line, "at": stamp(self.clock), "id": f"in-{self.sequence}"})

    def apply(self, *lines: dict[str, Any], fresh: bool = True) -> dict[str, Any]:
        """Applies the lines as one run; the checks follow (after every input, unless a burst)."""
        before = self.report
        self.lines.extend(lines)
        note(json.dumps(lines[0]) if len(lines) == 1 else f"... {len(lines)} lines like {json.dumps(lines[0])}")
        report = self.session.run_lines(*lines)
        self.report = report
        check_invariants(self, lines[-1], before if fresh else {}, report)
        return report

    def last_with_id(self) -> dict[str, Any]:
        """The latest input that introduced its id (its content is the one the store keeps)."""
        seen: dict[str, dict[str, Any]] = {}
        for line in self.lines:
            seen.setdefault(line["id"], line)
        return next(line for line in reversed(self.lines) if seen[line["id"]] is line)

    # --- the actions ---

    def prologue(self, spec: dict[str, Any]) -> None:
        self.send({"op": "params", "assets": {"SUPER": {"liquid": False, "precision": 8}}})
        for name in SPOTS:
            self.send({"op": "open", "account": name, "mode": "spot"})
        self.send({"op": "open", "account": "C3", "mode": "cross_classic", "leverage": 3})
        self.send({"op": "open", "account": "C5", "mode": "cross_classic", "leverage": 5})
        self.send(
            {
                "op": "open",
                "account": "I",
                "mode": "isolated",
                "pair": "BTC/USDC",
                "leverage": spec["isolated_leverage"],
            }
        )
        for asset, price in INITIAL_MARKS.items():
            self.send({"op": "mark", "asset": asset, "price": price_text(price)})
        for name, (usdc, btc, sup) in spec["deposits"].items():
            for asset, amount in (("USDC", usdc), ("BTC", btc), ("SUPER", sup)):
                if amount:
                    self.send({"op": "deposit", "account": name, "asset": asset, "amount": str(amount)})
        for name in spec["auto_topup"]:
            self.send({"op": "auto_topup", "account": name, "source": "S", "assets": ["USDC", "BTC"]})

    def act(self, action: tuple[Any, ...]) -> None:
        kind = action[0]
        if kind == "deposit":
            _, name, asset, size, minutes = action
            unit = Decimal("0.01") if asset in ("BTC", "ETH") else Decimal(10)
            self.send({"op": "deposit", "account": name, "asset": asset, "amount": fmt(unit * size)}, minutes)
        elif kind == "withdraw":
            _, name, asset, frac, minutes = action
            amount = self.balance(name, asset) * frac / 1000
            self.send({"op": "withdraw", "account": name, "asset": asset, "amount": fmt(amount)}, minutes)
        elif kind == "transfer":
            _, source, destination, asset, frac, minutes = action
            if source == destination:
                destination = ACCOUNTS[(ACCOUNTS.index(source) + 1) % len(ACCOUNTS)]
            amount = self.balance(source, asset) * frac / 1000
            self.send(
                {"op": "transfer", "from": source, "to": destination, "asset": asset, "amount": fmt(amount)}, minutes
            )
        elif kind == "borrow":
            _, name, asset, frac, minutes = action
            amount = max(self.borrowable_value(name), Decimal(0)) * frac / 1000 / self.value_of_one(asset)
            self.send({"op": "borrow", "account": name, "asset": asset, "amount": fmt(amount)}, minutes)
        elif kind == "repay":
            _, name, asset, frac, minutes = action
            owed = self.owed(name, asset)
            amount = (owed if owed > 0 else self.balance(name, asset)) * frac / 1000
            self.send({"op": "repay", "account": name, "asset": asset, "amount": fmt(amount)}, minutes)
        elif kind == "fill":
            _, name, side, base, frac, bps, minutes = action
            self.fill(name, side, base, frac, bps, minutes)
        elif kind == "lever":
            _, name, base, frac, minutes = action
            if self.account(name)["mode"] == "isolated":
                base = "BTC"  # the pair's base
            amount = max(self.borrowable_value(name), Decimal(0)) * frac / 1000
            self.send({"op": "borrow", "account": name, "asset": "USDC", "amount": fmt(amount)}, minutes)
            self.fill(name, "buy", base, 1000, 0, 0)
            self.hot = base
        elif kind in ("mark", "hot_mark"):
            if kind == "hot_mark":
                _, percent, minutes = action
                asset = self.hot
            else:
                _, asset, percent, minutes = action
            price = self.marks[asset] * (100 + percent) / 100
            low, high = INITIAL_MARKS[asset] / 20, INITIAL_MARKS[asset] * 20
            price = min(max(price, low), high).quantize(UNIT, rounding=ROUND_DOWN)
            self.marks[asset] = price
            self.send({"op": "mark", "asset": asset, "price": price_text(price)}, minutes)
        elif kind == "params":
            _, asset, rate, minutes = action
            self.send({"op": "params", "assets": {asset: {"hourly_interest": rate}}}, minutes)
        elif kind == "clock":
            _, minutes = action
            self.send({"op": "clock"}, minutes)
        elif kind == "liquidity":
            _, percent, quantity, minutes = action
            price = (self.marks["SUPER"] * (100 + percent) / 100).quantize(UNIT, rounding=ROUND_DOWN)
            self.send(
                {"op": "liquidity", "asset": "SUPER", "price": price_text(max(price, UNIT)), "quantity": str(quantity)},
                minutes,
            )
        elif kind == "auto_topup":
            _, name, source, assets, target = action
            line = {"op": "auto_topup", "account": name, "source": source, "assets": assets}
            if target is not None:
                line["target"] = target
            self.send(line)
        elif kind == "poke_locked":
            _, op, frac, minutes = action
            locked = [n for n in MARGINS if self.account(n)["status"] in LOCKED]
            name = locked[0] if locked else MARGINS[frac % len(MARGINS)]
            self.send({"op": "deposit", "account": name, "asset": "BTC", "amount": "1"}, minutes)
            if op == "borrow":
                self.act(("borrow", name, "USDC", frac, 0))
            elif op == "withdraw":
                self.act(("withdraw", name, "BTC", frac, 0))
            elif op == "fill":
                self.fill(name, "sell", "BTC", frac, 0, 0)
            else:
                self.act(("transfer", name, "S", "BTC", frac, 0))
        elif kind == "burst":
            _, name = action
            asset = "BTC" if self.account(name).get("pair") else "USDC"
            lines = []
            for _ in range(210):
                self.sequence += 1
                lines.append(
                    {
                        "op": "deposit",
                        "account": name,
                        "asset": asset,
                        "amount": "0.00001",
                        "at": stamp(self.clock),
                        "id": f"in-{self.sequence}",
                    }
                )
            self.apply(*lines)
        elif kind == "dup":
            self.duplicate(action[1])
        elif kind == "conflict":
            self.conflict()
        elif kind == "reopen":
            self.reopen()
        else:  # pragma: no cover
            raise AssertionError(kind)

    def fill(self, name: str, side: str, base: str, frac: int, bps: int, minutes: int) -> None:
        price = (self.marks[base] * (10000 + bps) / 10000).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
        if side == "buy":
            quantity = self.balance(name, "USDC") / price * frac / 1000
        else:
            quantity = self.balance(name, base) * frac / 1000
        self.send(
            {
                "op": "fill",
                "account": name,
                "side": side,
                "base": base,
                "quote": "USDC",
                "quantity": fmt(quantity),
                "price": price_text(price),
            },
            minutes,
        )

    # --- property 5: idempotency ---

    def duplicate(self, minutes: int) -> None:
        previous = self.last_with_id()
        before = self.report
        later = self.clock + timedelta(minutes=minutes)
        if later.replace(minute=0, second=0) == self.clock.replace(minute=0, second=0):
            self.clock = later  # within the hour: time passes, but no interest falls due
        line = {**previous, "at": stamp(self.clock)}  # `at` is not part of the content
        after = self.apply(line, fresh=False)
        assert after == before, f"a duplicate of id {previous['id']} changed the report"

    def conflict(self) -> None:
        previous = self.last_with_id()
        before = self.report
        line = {
            "op": "deposit",
            "account": "S",
            "asset": "USDC",
            "amount": "0.12345678",
            "id": previous["id"],
            "at": stamp(self.clock),
        }
        if {k: v for k, v in line.items() if k != "at"} == {k: v for k, v in previous.items() if k != "at"}:
            line["amount"] = "0.87654321"
        after = self.apply(line, fresh=False)
        new = after["rejections"][len(before["rejections"]) :]
        assert len(new) == 1, f"id {previous['id']} re-used with other content: rejections added {new}"
        assert new[0]["id"] == previous["id"] and "already used" in new[0]["error"], new[0]
        assert after["rejections"][: len(before["rejections"])] == before["rejections"]
        for key in ("accounts", "system", "liquidations", "conservation", "parameters_version"):
            assert after[key] == before[key], f"re-used id {previous['id']} changed {key}"

    # --- property 4: replay ---

    def reopened_report(self) -> tuple[LedgerSession, dict[str, Any]]:
        """A second ledger on the store, its views rebuilt from event 1 in memory."""
        other = LedgerSession(self.url)
        return other, read_report(views_in_memory(other.app))

    def reopen(self) -> None:
        other, report = self.reopened_report()
        assert report == self.report, "a ledger reopened on the same store reports differently"
        self.session.close()
        self.session = other


# --- the checks --------------------------------------------------------------------------


def _d(book: dict[str, str]) -> dict[str, Decimal]:
    return {asset: Decimal(q) for asset, q in book.items() if Decimal(q) != 0}


def _key(amounts: dict[str, Decimal]) -> tuple[tuple[str, Decimal], ...]:
    return tuple(sorted((a, q) for a, q in amounts.items() if q))


def check_invariants(run: Run, line: dict[str, Any], before: dict[str, Any], report: dict[str, Any]) -> None:
    where = f"after input {json.dumps(line)}"

    # (1a) conservation, as the report states it
    assert report["conservation"] == [], f"{where}: conservation broken: {report['conservation']}"

    events = list(stored_events(run.session.app))
    sheet = BalanceSheet().apply_all(events)
    assert sheet.imbalances() == [], f"{where}: {sheet.imbalances()}"

    # (1b) every event nets to zero; (1c) mirrors carry no entries and are paired
    transfers_out: Counter[tuple[Any, ...]] = Counter()
    transfers_in: Counter[tuple[Any, ...]] = Counter()
    handed: dict[Any, tuple[Any, ...]] = {}
    takeovers: dict[Any, tuple[Any, ...]] = {}
    returned_by_account: dict[Any, tuple[Any, ...]] = {}
    returned_by_desk: dict[Any, tuple[Any, ...]] = {}
    fee_paid: dict[Any, tuple[Any, ...]] = {}
    fee_charged_by_account: dict[Any, tuple[Any, ...]] = {}
    locked: set[str] = set()
    for stored in events:
        name = type(stored).__qualname__
        entries = getattr(stored, "entries", None)
        if entries is not None:
            postings = [(entry.asset, entry.book, entry.amount) for entry in entries()]
            assert not imbalances(postings), f"{where}: event {name} does not net to zero: {entries()}"
        if isinstance(stored, Account.TransferredOut):
            transfers_out[(stored.account, stored.to_account, stored.asset, stored.amount)] += 1
        elif isinstance(stored, Account.TransferredIn):
            assert stored.entries() == [], f"{where}: TransferredIn carries entries (counted twice)"
            transfers_in[(stored.from_account, stored.account, stored.asset, stored.amount)] += 1
        elif isinstance(stored, Account.HandedOverToTakeover):
            handed[stored.liquidation_id] = (
                stored.account,
                _key(stored.assets),
                _key(stored.principal),
                _key(stored.interest),
            )
        elif isinstance(stored, Liquidation.TakeoverStarted):
            assert stored.entries() == [], f"{where}: TakeoverStarted carries entries (counted twice)"
            takeovers[stored.originator_id] = (
                stored.account,
                _key(stored.assets),
                _key(stored.principal),
                _key(stored.interest),
            )
        elif isinstance(stored, Account.TakeoverProceedsReturned):
            returned_by_account[stored.liquidation_id] = (stored.account, _key(stored.amounts))
        elif isinstance(stored, Liquidation.ProceedsReturned):
            assert stored.entries() == [], f"{where}: ProceedsReturned carries entries (counted twice)"
            if stored.amounts:
                returned_by_desk[stored.originator_id] = (stored.account, _key(stored.amounts))
        elif isinstance(stored, Account.LiquidationFeePaid):
            fee_paid[stored.liquidation_id] = (stored.account, _key(stored.amounts))
        elif isinstance(stored, Liquidation.FeeCharged) and stored.payer != TAKEOVER_DESK:
            assert stored.entries() == [], f"{where}: an account-paid FeeCharged carries entries (counted twice)"
            if stored.amounts:
                fee_charged_by_account[stored.originator_id] = (stored.payer, _key(stored.amounts))

        # (3) no borrow / withdraw / fill / transfer out while locked by a liquidation
        if isinstance(stored, Account.LiquidationStarted):
            assert stored.account not in locked, f"{where}: a second liquidation of a locked {stored.account}"
            locked.add(stored.account)
        elif isinstance(stored, Account.LiquidationEnded):
            locked.discard(stored.account)
        elif isinstance(stored, (Account.Borrowed, Account.Withdrawn, Account.Filled, Account.TransferredOut)):
            assert stored.account not in locked, (
                f"{where}: {name} recorded for {stored.account} while it is locked by a liquidation"
            )
    assert transfers_out == transfers_in, f"{where}: transfers out/in are not paired"
    assert handed == takeovers, f"{where}: hand-offs and takeovers do not match"
    assert returned_by_account == returned_by_desk, f"{where}: returns do not match"
    assert fee_paid == fee_charged_by_account, f"{where}: account fees do not match"

    # the balance sheet (entries alone) equals every account's aggregate state
    for name, acct in report["accounts"].items():
        assert sheet.holdings(name) == _d(acct["balances"]), f"{where}: sheet balances of {name}"
        owed = _d(acct["debts"])
        for asset, q in _d(acct["interest"]).items():
            owed[asset] = owed.get(asset, Decimal(0)) + q
        assert sheet.holdings(name, DEBT) == {a: q for a, q in owed.items() if q}, f"{where}: sheet debts of {name}"

    # (2) nothing negative where it cannot be
    for name, acct in report["accounts"].items():
        for book in ("balances", "debts", "interest"):
            for asset, q in acct[book].items():
                assert Decimal(q) >= 0, f"{where}: {name} {book} {asset} = {q}"
    for book in ("balance", DEBT):
        for asset, q in sheet.holdings(TAKEOVER_DESK, book).items():
            assert q >= 0, f"{where}: takeover-desk {book} {asset} = {q}"
    for liquidation in report["liquidations"]:
        for book in ("balances", "liabilities"):
            for asset, q in liquidation["desk"][book].items():
                assert Decimal(q) >= 0, f"{where}: desk {book} of {liquidation['id']} {asset} = {q}"

    # (6) margin is evaluated after every input: no unlocked margin account is left at or
    # below its liquidation level, and `margin_call` is the status exactly at or below the
    # margin-call level (exact comparisons at the marks the test sent)
    for name, acct in report["accounts"].items():
        if acct["mode"] == "spot" or acct["status"] in LOCKED:
            continue
        margin_call, liquidation = TIERS[(acct["mode"], acct["leverage"])]
        assets = sum((Decimal(q) * run.value_of_one(a) for a, q in acct["balances"].items()), Decimal(0))
        owed = sum(
            (Decimal(q) * run.value_of_one(a) for book in ("debts", "interest") for a, q in acct[book].items()),
            Decimal(0),
        )
        if owed == 0:
            assert acct["status"] == "normal", f"{where}: {name} owes nothing but is {acct['status']}"
            continue
        assert assets > liquidation * owed, (
            f"{where}: {name} is {acct['status']} at level {assets / owed} <= liquidation level {liquidation}"
        )
        expected = "margin_call" if assets <= margin_call * owed else "normal"
        assert acct["status"] == expected, (
            f"{where}: {name} is {acct['status']} at level {assets / owed} (margin call at {margin_call})"
        )

    # (3) report level: an effect refused on an account that was locked before the input
    if before:
        target = None
        if line["op"] in ("borrow", "withdraw", "fill"):
            target = line["account"]
        elif line["op"] == "transfer":
            target = line["from"]
        if target is not None and before["accounts"][target]["status"] in LOCKED:
            run.locked_attempts += 1
            new = report["rejections"][len(before["rejections"]) :]
            assert any(r["op"] == line["op"] and r.get("id") == line.get("id") for r in new), (
                f"{where}: not rejected although {target} is {before['accounts'][target]['status']}"
            )
            old_debts = _d(before["accounts"][target]["debts"])
            for asset, q in _d(report["accounts"][target]["debts"]).items():
                assert q <= old_debts.get(asset, Decimal(0)), f"{where}: debts of locked {target} grew"


# --- the test ------------------------------------------------------------------------------


@settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "25")),
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(spec=prologues, steps=st.lists(actions, min_size=20, max_size=60))
def test_ledger_properties_hold_on_random_valid_inputs(spec: dict[str, Any], steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        run = Run(f"sqlite:///{Path(directory) / 'ledger.db'}")
        try:
            run.prologue(spec)
            for step in steps:
                run.act(step)
            # (4) replay: a second ledger on the same store reports the same
            other, report = run.reopened_report()
            other.close()
            assert report == run.report, "a ledger reopened on the same store reports differently"
            kinds = sorted({liq["kind"] for liq in run.report["liquidations"]})
            event(f"liquidations: {len(run.report['liquidations'])} {kinds}")
            event(f"effects tried on locked accounts: {min(run.locked_attempts, 3)}")
        finally:
            run.close()
