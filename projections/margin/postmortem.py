"""A spot-margin liquidation told step by step, as the period tables of seed 004 tell it.

Each step is the account's position (collateral, its value, the debt, margin
level, net equity, prices) just after one event of the liquidation: the state
comes from `projections.margin.history.account_state`, so the figures are the
ones `ledger history` gives at that point, valued by the domain's own rules.
Around the steps: the inputs that set the liquidation off (followed back through
the events' causes, `projections.postmortem`), the parameter version in force,
the margin calls before it, the account's events before the trigger and the
liquidation's own (each step names the notifications of its events, and the actor
behind them), and a series of the margin level over time for the chart.
"""

from __future__ import annotations

import uuid
from typing import Any

from ledger.application import Ledger
from ledger.causes import actor_of
from ledger.domain.money import normalized
from ledger.domain.prices import MissingPrice
from ledger.domain.product import Product
from projections.history import HistoryError, iso
from projections.margin.history import account_state
from projections.postmortem import (
    POSTMORTEMS,
    cause_chain,
    cause_of,
    chain_link,
    event_facts,
    events_before,
    point_before_input,
    stored_event,
    told_event,
    trigger_inputs,
)
from projections.queries import Row, ViewReader, as_utc
from projections.values import json_safe

CHART_POINT_LIMIT = 500


# The step each event tells. The account's event and the liquidation's event of one
# fact (the trigger and the lock, the hand-off and the desk's start, ...) follow each
# other and make one step: its state is taken after the later of the two.
STEP_OF_EVENT = {
    "Liquidation.Triggered": "trigger",
    "Account.LiquidationStarted": "trigger",
    "Account.CollateralSold": "sale",
    "Account.Repaid": "repayment",
    "Account.ShortfallCovered": "shortfall",
    "Liquidation.RegularPartEnded": "regular part ended",
    "Account.HandedOverToTakeover": "hand-off",
    "Liquidation.TakeoverStarted": "hand-off",
    "Liquidation.TakeoverSliceSold": "takeover sale",
    "Liquidation.DeskSoldAtMark": "desk sale at mark",
    "Liquidation.DeskDebtRepaid": "desk repayment",
    "Liquidation.DeskInterestAccrued": "desk interest",
    "Liquidation.TakeoverSalesEnded": "takeover sales ended",
    "Liquidation.DeskShortfallCovered": "shortfall",
    "Account.LiquidationFeePaid": "fee",
    "Liquidation.FeeCharged": "fee",
    "Liquidation.ProceedsReturned": "return",
    "Account.TakeoverProceedsReturned": "return",
    "Liquidation.Completed": "completed",
    "Account.LiquidationEnded": "completed",
}
PAIRED_STEPS = {"trigger", "hand-off", "fee", "return", "completed"}


@POSTMORTEMS.register(Product.MARGIN)
def margin_postmortem(app: Ledger, reader: ViewReader, row: Row, account: Row) -> dict[str, Any]:
    """The liquidation of view row `row`: its steps, causes, parameters and chart."""
    indexed = [
        index_row
        for index_row in reader.liquidation_events(row["liquidation_id"])
        if index_row["event"] in STEP_OF_EVENT
    ]
    triggered = stored_event(app, indexed[0])
    assert type(triggered).__qualname__ == "Liquidation.Triggered", "a liquidation's first event is its trigger"
    account_id = uuid.UUID(account["account_id"])
    trigger_at = indexed[0]["notification_id"]
    trigger_assets = set(triggered.balances) | set(triggered.principal) | set(triggered.interest)
    chain = cause_chain(app, triggered.cause)
    position_point = point_before_input(app, chain, trigger_at)
    steps = [_position_step(app, reader, account_id, row["account"], position_point, trigger_assets)]
    steps += [_event_step(app, reader, account_id, group, trigger_assets) for group in _step_groups(indexed)]
    parameters = _parameters_in_force(reader, trigger_at, triggered.mode, triggered.leverage)
    return {
        "liquidation": row["summary"],
        "completed_at": iso(as_utc(row["completed_at"])),
        "account": {"name": row["account"], "mode": triggered.mode, "leverage": triggered.leverage},
        "trigger_inputs": trigger_inputs(app, reader, chain),
        "cause_chain": [chain_link(link) for link in chain],
        "parameters": parameters,
        "margin_calls": _margin_calls_before(app, reader, row["account"], trigger_at),
        "events_before": events_before(app, reader, row["account"], trigger_at),
        "events": [told_event(app, index_row, STEP_OF_EVENT[index_row["event"]]) for index_row in indexed],
        "steps": steps,
        "chart": _chart(app, reader, account_id, row["account"], indexed, trigger_assets, parameters),
    }


# --- the steps ---------------------------------------------------------------------------


def _step_groups(indexed: list[Row]) -> list[list[Row]]:
    """Index rows grouped into steps: a paired step's two events make one group."""
    groups: list[list[Row]] = []
    for index_row in indexed:
        step = STEP_OF_EVENT[index_row["event"]]
        previous = groups[-1] if groups else None
        if (
            previous is not None
            and step in PAIRED_STEPS
            and STEP_OF_EVENT[previous[-1]["event"]] == step
            and previous[-1]["event"] != index_row["event"]
        ):
            previous.append(index_row)
        else:
            groups.append([index_row])
    return groups


def _position_step(
    app: Ledger, reader: ViewReader, account_id: uuid.UUID, account: str, through: int, assets: set[str]
) -> dict[str, Any]:
    """The position just before the triggering input."""
    account_rows = reader.account_events(account, through)
    if not account_rows:
        raise HistoryError(f"account {account} has no event before its liquidation's trigger")
    last = account_rows[-1]
    at = reader.event_time(through) or as_utc(last["at"])
    step = {
        "step": "position",
        "event": last["event"],
        "events": [last["event"]],
        "notification_ids": [last["notification_id"]],
        "notification_id": through,
        "at": iso(at),
        "actor": actor_of(cause_of(stored_event(app, last))),
        "facts": {},
    }
    return {**step, **_state_at(app, reader, account_id, through, assets)}


def _event_step(
    app: Ledger, reader: ViewReader, account_id: uuid.UUID, group: list[Row], assets: set[str]
) -> dict[str, Any]:
    """One step: its events' own facts and the position after the last of them."""
    events = [stored_event(app, index_row) for index_row in group]
    facts: dict[str, Any] = {}
    for event in events:
        facts.update(event_facts(event))
    through = group[-1]["notification_id"]
    step = {
        "step": STEP_OF_EVENT[group[0]["event"]],
        "event": group[0]["event"],
        "events": [index_row["event"] for index_row in group],
        "notification_ids": [index_row["notification_id"] for index_row in group],
        "notification_id": through,
        "at": iso(as_utc(group[0]["at"])),
        "actor": actor_of(cause_of(events[0])),
        "process_step": cause_of(events[0]).get("step"),
        "facts": facts,
    }
    return {**step, **_state_at(app, reader, account_id, through, assets)}


def _state_at(app: Ledger, reader: ViewReader, account_id: uuid.UUID, through: int, assets: set[str]) -> dict[str, Any]:
    """The account's position after notification `through`, as `ledger history` gives it."""
    version = reader.aggregate_version_at(str(account_id), through)
    assert version is not None, f"the account has no event at or before notification {through}"
    state = account_state(app, reader, account_id, version, through)
    position = state["position"]
    return {
        "status": state["status"],
        "held_by": position["held_by"],
        "collateral": position["collateral"],
        "collateral_value": position["collateral_value"],
        "liabilities": position["liabilities"],
        "debt": position["debt_value"],
        "margin_level": position["margin_level"],
        "net_equity": position["net_equity"],
        "prices": dict(
            sorted({**position["prices"], **_asset_prices(reader, through, assets - set(position["prices"]))}.items())
        ),
        "parameters_version": state["parameters_version"],
    }


def _asset_prices(reader: ViewReader, through: int, assets: set[str]) -> dict[str, str]:
    """The valuation price of each asset the account held or owed at the trigger: after a
    sale or a hand-off the position no longer names it, but the table still shows it."""
    if not assets:
        return {}
    prices = reader.prices(through)
    found: dict[str, str] = {}
    for asset in sorted(assets):
        try:
            found[asset] = normalized(prices.value_of_one(asset))
        except MissingPrice:
            continue
    return found


# --- parameters and margin calls -------------------------------------------------------------


def _parameters_in_force(reader: ViewReader, trigger_at: int, mode: str, leverage: int) -> dict[str, Any]:
    row = reader.parameter_version(trigger_at)
    parameters = reader.parameters(trigger_at)
    tier = parameters.margin_tier(mode, leverage)
    return {
        "version": parameters.version,
        "set_at": None if row is None else iso(as_utc(row["at"])),
        "notification_id": None if row is None else row["notification_id"],
        "cause": None if row is None else row["cause"],
        "mode": mode,
        "leverage": leverage,
        "margin_call_level": normalized(tier.margin_call),
        "liquidation_level": normalized(tier.liquidation),
        "fee_rate": normalized(tier.fee_rate),
        "valuation_asset": parameters.valuation_asset,
    }


def _margin_calls_before(app: Ledger, reader: ViewReader, account: str, trigger_at: int) -> list[dict[str, Any]]:
    """The account's margin calls since its previous liquidation ended (or since it opened)."""
    rows = reader.account_events(account, trigger_at)
    since = max((row["notification_id"] for row in rows if row["event"] == "Account.LiquidationEnded"), default=0)
    calls = []
    for row in rows:
        if row["event"] != "Account.MarginCallIssued" or row["notification_id"] <= since:
            continue
        event = stored_event(app, row)
        calls.append(
            {
                "notification_id": row["notification_id"],
                "at": iso(as_utc(row["at"])),
                "actor": actor_of(cause_of(event)),
                "margin_level": normalized(event.margin_level),
                "threshold": normalized(event.threshold),
                "prices": json_safe(event.prices),
                "liabilities": json_safe(event.liabilities),
                "parameters_version": event.parameters_version,
            }
        )
    return calls


# --- the chart --------------------------------------------------------------------------------


def _chart(
    app: Ledger,
    reader: ViewReader,
    account_id: uuid.UUID,
    account: str,
    indexed: list[Row],
    assets: set[str],
    parameters: dict[str, Any],
) -> dict[str, Any]:
    """The margin level at each account event, each of the liquidation's events and each
    mark of the trigger's assets, from the account's first borrowing (since its previous
    liquidation) to the liquidation's last event."""
    trigger_at = indexed[0]["notification_id"]
    points = _chart_points(reader, account, indexed, assets)
    kept = points[-CHART_POINT_LIMIT:]  # the most recent: the descent into the liquidation
    series = []
    for notification_id in kept:
        state = _state_at(app, reader, account_id, notification_id, assets)
        series.append(
            {
                "notification_id": notification_id,
                "at": iso(reader.event_time(notification_id)),
                "margin_level": state["margin_level"],
                "collateral_value": state["collateral_value"],
                "debt": state["debt"],
                "held_by": state["held_by"],
                "prices": state["prices"],
            }
        )
    return {
        "points": series,
        "truncated": len(points) > len(kept),
        "margin_call_level": parameters["margin_call_level"],
        "liquidation_level": parameters["liquidation_level"],
        "trigger_notification_id": trigger_at,
    }


def _chart_points(reader: ViewReader, account: str, indexed: list[Row], assets: set[str]) -> list[int]:
    end = indexed[-1]["notification_id"]
    account_rows = reader.account_events(account, end)
    start = _chart_start(account_rows, indexed[0]["notification_id"])
    points = {row["notification_id"] for row in account_rows if row["notification_id"] >= start}
    points |= {row["notification_id"] for row in indexed}  # the desk's steps are not the account's events
    points |= set(reader.mark_notifications(assets, start, end))
    return sorted(points)


def _chart_start(account_rows: list[Row], trigger_at: int) -> int:
    before = [row for row in account_rows if row["notification_id"] < trigger_at]
    since = max((row["notification_id"] for row in before if row["event"] == "Account.LiquidationEnded"), default=0)
    borrowed = [
        row["notification_id"]
        for row in before
        if row["event"] == "Account.Borrowed" and row["notification_id"] > since
    ]
    if borrowed:
        return borrowed[0]
    return before[0]["notification_id"] if before else trigger_at
