"""A futures liquidation told step by step (domain.md, "Futures liquidation"): the
wallet just before the input that set it off, then after each event of the
liquidation (trigger and lock, each position closed at the mark, clearance fee,
shortfall, unlock, completed), each state the one `ledger history` gives at that point
(`projections.futures.history.wallet_state`); around the steps, the input followed back
through the events' causes (`projections.postmortem`) and the symbols' parameters in
force at the trigger, the account's events before the trigger and the liquidation's own
(each step names its event's notification and the actor behind it); and, for the chart,
the liquidated scope's margin ratio over time (the cross positions', or the isolated
position's), with its symbols' marks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger.application import Ledger
from ledger.causes import actor_of
from ledger.domain.futures.account import FuturesAccount
from ledger.domain.futures.liquidation import FuturesLiquidation
from ledger.domain.futures.wallet import PositionFigures, WalletFigures
from ledger.domain.money import normalized
from ledger.domain.product import Product
from projections.futures.history import wallet_state
from projections.futures.queries import FuturesReader
from projections.futures.report import reported_text
from projections.history import iso
from projections.postmortem import (
    POSTMORTEMS,
    cause_chain,
    cause_of,
    chain_link,
    event_facts,
    events_before,
    last_account_event,
    point_before_input,
    stored_event,
    told_event,
    trigger_inputs,
)
from projections.queries import Row, ViewReader, as_utc
from projections.values import json_safe

STEP_OF_EVENT = {
    "FuturesLiquidation.Triggered": "trigger",
    "FuturesAccount.LiquidationStarted": "lock",
    "FuturesAccount.PositionLiquidated": "close at mark",
    "FuturesAccount.ClearanceFeeCharged": "clearance fee",
    "FuturesAccount.ShortfallCovered": "shortfall",
    "FuturesAccount.LiquidationEnded": "unlock",
    "FuturesLiquidation.Completed": "completed",
}
CHART_POINT_LIMIT = 500  # the most recent are kept: the descent into the liquidation
# The wallet's figures each step shows (the positions are counted, listed in the state).
STEP_FIGURES = ("status", "wallet_balance", "cross_wallet_balance", "margin_balance", "margin_ratio")


@POSTMORTEMS.register(Product.FUTURES)
def futures_postmortem(app: Ledger, reader: ViewReader, row: Row, account: Row) -> dict[str, Any]:
    indexed = [found for found in reader.liquidation_events(row["liquidation_id"]) if found["event"] in STEP_OF_EVENT]
    triggered = stored_event(app, indexed[0])
    assert type(triggered).__qualname__ == "FuturesLiquidation.Triggered", "a liquidation's first event is its trigger"
    account_id = uuid.UUID(account["account_id"])
    trigger_at = indexed[0]["notification_id"]
    chain = cause_chain(app, triggered.cause)
    before = point_before_input(app, chain, trigger_at)
    steps = [_position_step(app, reader, account_id, row["account"], before)]
    steps += [_event_step(app, reader, account_id, found) for found in indexed]
    return {
        "liquidation": row["summary"],
        "completed_at": iso(as_utc(row["completed_at"])),
        "account": {"name": row["account"], "mode": triggered.mode, "asset": triggered.asset},
        "trigger_inputs": trigger_inputs(app, reader, chain),
        "cause_chain": [chain_link(link) for link in chain],
        "parameters": _parameters_in_force(reader, trigger_at, set(triggered.prices)),
        "events_before": events_before(app, reader, row["account"], trigger_at),
        "events": [told_event(app, found, STEP_OF_EVENT[found["event"]]) for found in indexed],
        "steps": steps,
        "chart": _chart(app, reader, account_id, row["account"], indexed, triggered, before),
    }


def _position_step(app: Ledger, reader: ViewReader, account_id: uuid.UUID, account: str, before: int) -> dict[str, Any]:
    """The wallet as the triggering input found it; its event, the account's last one then."""
    step = _step(app, reader, account_id, "before the input", before)
    last = last_account_event(reader, account, before)
    if last is None:
        return step
    return {**step, "notification_ids": [last["notification_id"]], "actor": actor_of(cause_of(stored_event(app, last)))}


def _event_step(app: Ledger, reader: ViewReader, account_id: uuid.UUID, found: Row) -> dict[str, Any]:
    event = stored_event(app, found)
    step = _step(app, reader, account_id, STEP_OF_EVENT[found["event"]], found["notification_id"])
    return {
        **step,
        "event": found["event"],
        "notification_ids": [found["notification_id"]],
        "at": iso(as_utc(found["at"])),
        "actor": actor_of(cause_of(event)),
        "facts": event_facts(event),
    }


def _step(app: Ledger, reader: ViewReader, account_id: uuid.UUID, name: str, through: int) -> dict[str, Any]:
    """The wallet as it stood after notification `through`."""
    version = reader.aggregate_version_at(str(account_id), through)
    state = None if version is None else wallet_state(app, reader, account_id, version, through)
    return {
        "step": name,
        "notification_id": through,
        "at": iso(reader.event_time(through)) if through > 0 else None,
        "event": None,
        "notification_ids": [],
        "actor": None,
        "facts": {},
        "wallet": None if state is None else {name: state[name] for name in STEP_FIGURES},
        "positions": [] if state is None else state["positions"],
        "prices": {} if state is None else state["prices"],
    }


def _parameters_in_force(reader: ViewReader, through: int, symbols: set[str]) -> dict[str, Any]:
    """The version in force at the trigger, and the liquidated symbols as it declares them."""
    row = reader.parameter_version(through)
    data = {} if row is None else row["data"]
    return {
        "version": 0 if row is None else row["version"],
        "set_at": None if row is None else iso(as_utc(row["at"])),
        "symbols": json_safe({symbol: data.get("symbols", {}).get(symbol) for symbol in sorted(symbols)}),
    }


# --- the chart ------------------------------------------------------------------------------


def _chart(
    app: Ledger,
    reader: ViewReader,
    account_id: uuid.UUID,
    account: str,
    indexed: list[Row],
    triggered: FuturesLiquidation.Triggered,
    before_input: int,
) -> dict[str, Any]:
    """The liquidated scope's margin ratio (maintenance margin / margin balance: liquidated
    at 1) at each of the account's events, each mark of the scope's symbols and each of the
    liquidation's events, from the scope's first opening trade (since its previous
    liquidation) to the liquidation's completion."""
    scope, points = _chart_points(app, reader, account, indexed, triggered, before_input)
    kept = points[-CHART_POINT_LIMIT:]
    wallets = _WalletVersions(app, account_id)
    return {
        "scope": {"symbol": scope.symbol, "slot": scope.slot},  # symbol None: the cross positions
        "threshold": normalized(triggered.threshold),
        "trigger_notification_id": indexed[0]["notification_id"],
        "points": [_chart_point(reader, wallets, scope, notification_id) for notification_id in kept],
        "truncated": len(points) > len(kept),
    }


@dataclass(frozen=True)
class _Scope:
    """What a liquidation liquidates: the cross positions (symbol None) or one isolated
    position; and the symbols charted, whose marks move its ratio: those it held at the
    trigger and, for the cross positions, those the wallet opened positions in since the
    chart's start."""

    symbol: str | None
    slot: str | None
    symbols: frozenset[str]

    def figures(self, wallet: WalletFigures) -> list[PositionFigures]:
        """The scope's positions at that point (an isolated one is gone once closed)."""
        if self.symbol is None:
            return wallet.cross
        return [
            figures
            for figures in wallet.isolated
            if figures.held.symbol == self.symbol and figures.held.slot.value == self.slot
        ]


class _WalletVersions:
    """The wallet at each version the chart asks for, each loaded once (the points between
    two of its events, marks, share one)."""

    def __init__(self, app: Ledger, account_id: uuid.UUID):
        self.app = app
        self.account_id = account_id
        self.loaded: dict[int, FuturesAccount] = {}

    def at(self, reader: ViewReader, through: int) -> FuturesAccount:
        version = reader.aggregate_version_at(str(self.account_id), through)
        assert version is not None, f"the account has no event at or before notification {through}"
        if version not in self.loaded:
            self.loaded[version] = self.app.repository.get(self.account_id, version=version)
        return self.loaded[version]


def _chart_point(reader: ViewReader, wallets: _WalletVersions, scope: _Scope, through: int) -> dict[str, Any]:
    """The scope after notification `through`: the wallet at that version, at the marks and
    parameters in force then, its figures `WalletFigures`' (reported as the report does)."""
    account = wallets.at(reader, through)
    prices = reader.prices(through)
    wallet = account.figures(prices)
    positions = scope.figures(wallet)
    ratio, balance, maintenance = _scope_figures(scope, wallet, positions)
    # The charted symbols as marked then (a closed position's too, so the line of its mark
    # runs through the liquidation), and any other the scope held at that point.
    symbols = scope.symbols | {figures.held.symbol for figures in positions}
    marks = {symbol: prices.symbol_mark(symbol) for symbol in sorted(symbols)}
    return {
        "notification_id": through,
        "at": iso(reader.event_time(through)),
        "margin_ratio": reported_text(ratio),
        "margin_balance": reported_text(balance),
        "maintenance_margin": reported_text(maintenance),
        "positions": len(positions),
        "marks": {symbol: normalized(mark) for symbol, mark in marks.items() if mark is not None},
    }


def _scope_figures(
    scope: _Scope, wallet: WalletFigures, positions: list[PositionFigures]
) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """The scope's margin ratio, margin balance and maintenance margin."""
    if scope.symbol is None:
        return wallet.margin_ratio, wallet.cross_margin_balance, wallet.cross_maintenance_margin
    if not positions:
        return None, None, None  # the isolated position is closed: nothing to measure
    (position,) = positions
    return position.margin_ratio, position.isolated_margin_balance, position.maintenance_margin


def _chart_points(
    app: Ledger,
    reader: ViewReader,
    account: str,
    indexed: list[Row],
    triggered: FuturesLiquidation.Triggered,
    before_input: int,
) -> tuple[_Scope, list[int]]:
    """The scope charted, and its points: the account's events from the chart's start, the
    liquidation's own events, and the marks of the charted symbols (no event of the
    account's records them, yet they move the ratio)."""
    trigger_at, end = indexed[0]["notification_id"], indexed[-1]["notification_id"]
    account_rows = reader.account_events(account, end)
    views = FuturesReader(reader.engine)
    at_trigger = frozenset(triggered.prices)
    since = _previous_end(app, account_rows, triggered, trigger_at)
    trades = views.opening_trades(account, since, trigger_at)
    start = _chart_start(account_rows, trades, at_trigger, since, trigger_at)
    symbols = at_trigger
    if triggered.symbol is None:  # a cross position closed before the trigger moved the ratio too
        symbols |= {trade["symbol"] for trade in trades if trade["notification_id"] >= start}
    scope = _Scope(triggered.symbol, triggered.slot, symbols)
    points = {row["notification_id"] for row in account_rows if row["notification_id"] >= start}
    points |= {row["notification_id"] for row in indexed}
    points |= set(views.symbol_mark_notifications(set(scope.symbols), start, end))
    if before_input >= start:
        points.add(before_input)  # the wallet as the triggering input found it
    return scope, sorted(points)


def _chart_start(
    account_rows: list[Row], trades: list[Row], symbols: frozenset[str], since: int, trigger_at: int
) -> int:
    """The first trade that opened or increased a position in a symbol the scope held at
    the trigger, since the scope's previous liquidation ended (which left it without one);
    without such a trade, the account's first event since then."""
    opened = [trade["notification_id"] for trade in trades if trade["symbol"] in symbols]
    if opened:
        return opened[0]
    later = [row["notification_id"] for row in account_rows if since < row["notification_id"] < trigger_at]
    return later[0] if later else trigger_at


def _previous_end(
    app: Ledger, account_rows: list[Row], triggered: FuturesLiquidation.Triggered, trigger_at: int
) -> int:
    """Where the previous liquidation of the same scope ended (0: none did)."""
    earlier = [row for row in account_rows if row["notification_id"] < trigger_at]
    same_scope = {
        row["liquidation_id"]
        for row in earlier
        if row["event"] == "FuturesAccount.LiquidationStarted"
        and _scope_of(stored_event(app, row)) == (triggered.symbol, triggered.slot)
    }
    ends = (
        row["notification_id"]
        for row in earlier
        if row["event"] == "FuturesAccount.LiquidationEnded" and row["liquidation_id"] in same_scope
    )
    return max(ends, default=0)


def _scope_of(started: FuturesAccount.LiquidationStarted) -> tuple[str | None, str | None]:
    return started.symbol, started.slot
