"""A futures liquidation told step by step (domain.md, "Futures liquidation"): the
wallet just before the input that set it off, then after each event of the
liquidation (trigger and lock, each position closed at the mark, clearance fee,
shortfall, unlock, completed), each state the one `ledger history` gives at that point
(`projections.futures.history.wallet_state`); around the steps, the input followed back
through the events' causes (`projections.postmortem`) and the symbols' parameters in
force at the trigger.
"""

from __future__ import annotations

import uuid
from typing import Any

from ledger.application import Ledger
from ledger.domain.product import Product
from projections.futures.history import wallet_state
from projections.history import iso
from projections.postmortem import (
    POSTMORTEMS,
    cause_chain,
    chain_link,
    event_facts,
    point_before_input,
    stored_event,
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
    steps = [_step(app, reader, account_id, "before the input", before)]
    steps += [_event_step(app, reader, account_id, found) for found in indexed]
    return {
        "liquidation": row["summary"],
        "completed_at": iso(as_utc(row["completed_at"])),
        "account": {"name": row["account"], "mode": triggered.mode, "asset": triggered.asset},
        "trigger_inputs": trigger_inputs(app, reader, chain),
        "cause_chain": [chain_link(link) for link in chain],
        "parameters": _parameters_in_force(reader, trigger_at, set(triggered.prices)),
        "steps": steps,
    }


def _event_step(app: Ledger, reader: ViewReader, account_id: uuid.UUID, found: Row) -> dict[str, Any]:
    event = stored_event(app, found)
    step = _step(app, reader, account_id, STEP_OF_EVENT[found["event"]], found["notification_id"])
    return {**step, "event": found["event"], "at": iso(as_utc(found["at"])), "facts": event_facts(event)}


def _step(app: Ledger, reader: ViewReader, account_id: uuid.UUID, name: str, through: int) -> dict[str, Any]:
    """The wallet as it stood after notification `through`."""
    version = reader.aggregate_version_at(str(account_id), through)
    state = None if version is None else wallet_state(app, reader, account_id, version, through)
    return {
        "step": name,
        "notification_id": through,
        "at": iso(reader.event_time(through)) if through > 0 else None,
        "event": None,
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
