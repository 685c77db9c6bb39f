"""One liquidation told step by step, as the period tables of seed 004 tell it.

Each step is the account's position (collateral, its value, the debt, margin
level, net equity, prices) just after one event of the liquidation: the state
comes from `projections.history.account_state`, so the figures are the ones
`ledger history` gives at that point, valued by the domain's own rules. Around
the steps: the inputs that set the liquidation off (followed back through the
events' causes), the parameter version in force, the margin calls before it,
and a series of the margin level over time for the chart.

Every amount is a decimal string; floats appear only in the HTML, for drawing.
"""

from __future__ import annotations

import html
import re
import uuid
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.text import Text

from ledger.application import Ledger
from ledger.domain.money import normalized
from ledger.domain.prices import MissingPrice
from projections.history import BOOKKEEPING, HistoryError, account_state, iso
from projections.presentation import (
    Sheet,
    facts_text,
    fee_text,
    mode_text,
    prices_text,
    print_sheet,
    status_text,
    trigger_text,
)
from projections.queries import Row, ViewReader, as_utc
from projections.views import book_text, json_safe

CHART_POINT_LIMIT = 500
CANDIDATES_NAMED = 10  # an ambiguous id prefix names this many of the liquidations it starts
ID_PREFIX = re.compile(r"[0-9a-f-]{1,36}")  # the start of a UUID as printed (lower case)
CAUSE_CHAIN_LIMIT = 50  # a cause chain longer than this is a bug in the processes, not a history

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
NO_MARGIN_CALLS = "none recorded since the account's previous liquidation (or its opening)"
# Facts every event carries that a step does not need to repeat.
SHARED_FACTS = {"account", "at", "cause", "liquidation_id"}


# --- building ------------------------------------------------------------------------


def build_postmortem(app: Ledger, reader: ViewReader, liquidation_id: str) -> dict[str, Any]:
    """The liquidation `liquidation_id`, its steps, causes, parameters and chart."""
    row = _liquidation_row(reader, liquidation_id)
    indexed = [
        index_row
        for index_row in reader.liquidation_events(row["liquidation_id"])
        if index_row["event"] in STEP_OF_EVENT
    ]
    triggered = _stored_event(app, indexed[0])
    assert type(triggered).__qualname__ == "Liquidation.Triggered", "a liquidation's first event is its trigger"
    account = reader.account(row["account"])
    assert account is not None, f"liquidation {row['liquidation_id']} names unknown account {row['account']}"
    account_id = uuid.UUID(account["account_id"])
    trigger_at = indexed[0]["notification_id"]
    trigger_assets = set(triggered.balances) | set(triggered.principal) | set(triggered.interest)
    chain = _cause_chain(app, triggered.cause)
    position_point = _point_before_input(app, chain, trigger_at)
    steps = [_position_step(app, reader, account_id, row["account"], position_point, trigger_assets)]
    steps += [_event_step(app, reader, account_id, group, trigger_assets) for group in _step_groups(indexed)]
    parameters = _parameters_in_force(reader, trigger_at, triggered.mode, triggered.leverage)
    return {
        "liquidation": row["summary"],
        "completed_at": iso(as_utc(row["completed_at"])),
        "account": {"name": row["account"], "mode": triggered.mode, "leverage": triggered.leverage},
        "trigger_inputs": _trigger_inputs(app, reader, chain),
        "cause_chain": [_chain_link(link) for link in chain],
        "parameters": parameters,
        "margin_calls": _margin_calls_before(app, reader, row["account"], trigger_at),
        "steps": steps,
        "chart": _chart(app, reader, account_id, row["account"], indexed, trigger_assets, parameters),
    }


def _liquidation_row(reader: ViewReader, given: str) -> Row:
    """The liquidation whose id is `given`, or the one whose id starts with it."""
    prefix = _id_prefix(given)
    rows, count = reader.liquidations_with_id_prefix(prefix, limit=CANDIDATES_NAMED)
    if count == 0:
        raise HistoryError(
            f"no liquidation in this store has an id starting with {prefix} (`ledger liquidations` lists them)"
        )
    if count > 1:
        named = "; ".join(
            f"{row['liquidation_id']} ({row['account']}, {iso(as_utc(row['triggered_at']))})" for row in rows
        )
        more = f"; and {count - len(rows)} more" if count > len(rows) else ""
        raise HistoryError(f"{prefix} starts {count} liquidation ids: {named}{more}; give more of the id")
    return rows[0]


def _id_prefix(given: str) -> str:
    """A whole id in any form a UUID is written (canonical, without hyphens, braced), or
    the start of one as the report prints it."""
    text = given.strip().lower()
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    if not ID_PREFIX.fullmatch(text):
        raise HistoryError(
            f"{given!r} is not a liquidation id (a UUID, or the start of one: `ledger liquidations` lists them)"
        )
    return text


def _stored_event(app: Ledger, index_row: Row) -> Any:
    """The domain event an index row points at, from the event store."""
    version = index_row["originator_version"]
    found = list(app.events.get(uuid.UUID(index_row["originator_id"]), gt=version - 1, lte=version))
    assert len(found) == 1, f"notification {index_row['notification_id']} is not in the event store"
    return found[0]


def _event_at(app: Ledger, notification_id: int) -> Any | None:
    """The domain event of one notification id, from the store's own log (None for an id
    the store never committed: PostgreSQL leaves such gaps)."""
    notifications = app.recorder.select_notifications(start=notification_id, limit=1, stop=notification_id)
    return app.mapper.to_domain_event(notifications[0]) if notifications else None


def _facts(event: Any, leave_out: set[str] = SHARED_FACTS) -> dict[str, Any]:
    return json_safe(
        {name: value for name, value in event.__dict__.items() if name not in BOOKKEEPING and name not in leave_out}
    )


# --- what set it off -------------------------------------------------------------------


def _cause_chain(app: Ledger, cause: dict[str, Any]) -> list[tuple[int, Any]]:
    """(notification id, event) from the trigger's cause back to the input that started it:
    each process step names the notification it reacted to."""
    chain: list[tuple[int, Any]] = []
    while cause.get("kind") == "process":
        assert len(chain) < CAUSE_CHAIN_LIMIT, "a cause chain without an input at its end"
        notification_id = cause["notification_id"]
        event = _event_at(app, notification_id)
        assert event is not None, f"a cause names notification {notification_id}, which the store does not hold"
        chain.append((notification_id, event))
        cause = _cause_of(event)
    return chain


def _chain_link(link: tuple[int, Any]) -> dict[str, Any]:
    notification_id, event = link
    return {
        "notification_id": notification_id,
        "event": type(event).__qualname__,
        "at": iso(getattr(event, "at", None)),
        "cause": json_safe(getattr(event, "cause", None)),
    }


def _trigger_inputs(app: Ledger, reader: ViewReader, chain: list[tuple[int, Any]]) -> list[dict[str, Any]]:
    """The input at the end of the chain: where it was read, its op and what it said."""
    if not chain:
        return []
    notification_id, event = chain[-1]
    cause = _cause_of(event)
    if cause.get("kind") != "input":
        return []
    return [
        {
            "source": cause.get("source"),
            "line": cause.get("line"),
            "op": cause.get("op"),
            "input_id": cause.get("input_id"),
            "notification_id": notification_id,
            "event": type(event).__qualname__,
            "at": iso(getattr(event, "at", None)),
            "facts": _facts(event),
            "input": _recorded_input(app, reader, notification_id, cause),
        }
    ]


def _recorded_input(
    app: Ledger, reader: ViewReader, notification_id: int, cause: dict[str, Any]
) -> dict[str, Any] | None:
    """The input as it was given: inputs are recorded (`InputsRecorded`) in the save
    that applies them, so the record is among the last few at or before its events."""
    for row in reader.events_named_before("InputsRecorded", notification_id, limit=3):
        for record in _stored_event(app, row).inputs:
            if record.get("source") == cause.get("source") and record.get("line") == cause.get("line"):
                return json_safe(record.get("input"))
    return None


def _point_before_input(app: Ledger, chain: list[tuple[int, Any]], trigger_at: int) -> int:
    """The last notification before the triggering input's first event: the position
    as it stood when the input came."""
    if not chain:
        return trigger_at - 1
    first, event = chain[-1]
    cause = _cause_of(event)
    while first > 1 and _same_input(_cause_of(_event_at(app, first - 1)), cause):
        first -= 1
    return first - 1


def _cause_of(event: Any | None) -> dict[str, Any]:
    """An event's cause; none for a missing event or one that records none (directory logs)."""
    return getattr(event, "cause", None) or {}


def _same_input(cause: dict[str, Any], other: dict[str, Any]) -> bool:
    return (
        cause.get("kind") == other.get("kind") == "input"
        and cause.get("source") == other.get("source")
        and cause.get("line") == other.get("line")
    )


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
        "notification_id": through,
        "at": iso(at),
        "facts": {},
    }
    return {**step, **_state_at(app, reader, account_id, through, assets)}


def _event_step(
    app: Ledger, reader: ViewReader, account_id: uuid.UUID, group: list[Row], assets: set[str]
) -> dict[str, Any]:
    """One step: its events' own facts and the position after the last of them."""
    events = [_stored_event(app, index_row) for index_row in group]
    facts: dict[str, Any] = {}
    for event in events:
        facts.update(_facts(event))
    through = group[-1]["notification_id"]
    step = {
        "step": STEP_OF_EVENT[group[0]["event"]],
        "event": group[0]["event"],
        "events": [index_row["event"] for index_row in group],
        "notification_id": through,
        "at": iso(as_utc(group[0]["at"])),
        "process_step": _cause_of(events[0]).get("step"),
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
        event = _stored_event(app, row)
        calls.append(
            {
                "notification_id": row["notification_id"],
                "at": iso(as_utc(row["at"])),
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


# --- the table ----------------------------------------------------------------------------------


def render_table(postmortem: dict[str, Any], console: Console) -> None:
    for sheet in (
        _summary_sheet(postmortem),
        _inputs_sheet(postmortem),
        _parameters_sheet(postmortem["parameters"]),
        _margin_calls_sheet(postmortem["margin_calls"], postmortem["parameters"]["valuation_asset"]),
        _steps_sheet(postmortem),
    ):
        print_sheet(console, sheet)


def _summary_sheet(postmortem: dict[str, Any]) -> Sheet:
    sheet = Sheet(f"Liquidation {postmortem['liquidation']['id']}", ("field", "value"), show_header=False)
    for label, value in _summary_pairs(postmortem):
        sheet.add_row(Text(label, style="bold"), value)
    return sheet


def _inputs_sheet(postmortem: dict[str, Any]) -> Sheet:
    via = " <- ".join(f"{link['event']} #{link['notification_id']}" for link in postmortem["cause_chain"])
    sheet = Sheet(
        "The input that set it off",
        ("source", "line", "op", "event", "notification", "what it said"),
        caption=f"trigger <- {via}" if via else None,
    )
    for found in postmortem["trigger_inputs"]:
        said = found["input"] if found["input"] is not None else found["facts"]
        sheet.add_row(
            str(found["source"]),
            str(found["line"]),
            str(found["op"]),
            found["event"],
            str(found["notification_id"]),
            facts_text(said),
        )
    return sheet


def _parameters_sheet(parameters: dict[str, Any]) -> Sheet:
    sheet = Sheet(
        f"Parameters in force: version {parameters['version']}",
        ("mode", "leverage", "margin call level", "liquidation level", "fee rate", "set at"),
    )
    sheet.add_row(
        parameters["mode"],
        str(parameters["leverage"]),
        parameters["margin_call_level"],
        parameters["liquidation_level"],
        parameters["fee_rate"],
        parameters["set_at"],
    )
    return sheet


def _margin_calls_sheet(calls: list[dict[str, Any]], valuation: str) -> Sheet:
    sheet = Sheet(
        "Margin calls before the trigger",
        ("notification", "at", "margin level", "threshold", "prices"),
        caption=None if calls else NO_MARGIN_CALLS,
    )
    for call in calls:
        sheet.add_row(
            str(call["notification_id"]),
            call["at"],
            call["margin_level"],
            call["threshold"],
            prices_text(call["prices"], valuation),
        )
    return sheet


def _steps_sheet(postmortem: dict[str, Any]) -> Sheet:
    sheet = Sheet(
        "Step by step",
        ("step", "held by", "collateral", "value", "debt", "margin level", "net equity", "prices", "what happened"),
    )
    valuation = postmortem["parameters"]["valuation_asset"]
    for step in postmortem["steps"]:
        label = Text.assemble((step["step"], "bold"), f"\n#{step['notification_id']} {step['at'] or ''}")
        sheet.add_row(
            label,
            step["held_by"],
            book_text(step["collateral"]),
            step["collateral_value"],
            step["debt"],
            step["margin_level"],
            step["net_equity"],
            prices_text(step["prices"], valuation),
            step_details(step),
        )
    return sheet


def step_details(step: dict[str, Any]) -> str:
    """What the step did, in a few words."""
    facts = step["facts"]
    label = step["step"]
    if label in ("sale", "takeover sale", "desk sale at mark"):
        return (
            f"sold {facts['quantity']} {facts['asset']} at {facts['price']} for "
            f"{facts['proceeds']} {facts['proceeds_asset']}"
        )
    if label in ("repayment", "desk repayment"):
        return f"repaid {facts['asset']}: interest {facts['interest_paid']}, principal {facts['principal_paid']}"
    if label == "shortfall":
        return f"insurance fund covered {facts['asset']}: principal {facts['principal']}, interest {facts['interest']}"
    if label == "trigger":
        return f"margin level {facts['margin_level']} <= {facts['threshold']}; fee due {facts['fee_value']}"
    if label == "hand-off":
        return f"to the takeover desk: {book_text(facts['assets'])}; liabilities {book_text(facts['principal'])}"
    if label == "fee":
        return f"fee {book_text(facts['amounts'])} (value {facts['value']}) paid by {facts['payer']}"
    if label == "return":
        return f"returned {book_text(facts['amounts'])}"
    if label == "regular part ended":
        return (
            f"repaid {book_text(facts['repaid'])}; shortfall {book_text(facts['shortfall'])}; "
            f"takeover {'needed' if facts['takeover_needed'] else 'not needed'}"
        )
    if label == "desk interest":
        return f"interest {facts['amount']} {facts['asset']} on {facts['principal']}"
    if label == "completed":
        return f"completed ({facts.get('kind', '')})"
    if label == "position":
        return f"before the input that set it off (after {step['event']})"
    return ""


# --- the page ------------------------------------------------------------------------------------


def render_html(postmortem: dict[str, Any]) -> str:
    """One self-contained page: summary, input, parameters, margin calls, steps and the chart
    (plotly.js embedded: the page needs no network)."""
    summary = postmortem["liquidation"]
    title = f"Liquidation {summary['id']} of {postmortem['account']['name']}"
    valuation = postmortem["parameters"]["valuation_asset"]
    sections = [
        f"<h1>{_text(title)}</h1>",
        _html_definitions(_summary_pairs(postmortem)),
        "<h2>The input that set it off</h2>",
        _html_table(
            ["source", "line", "op", "event", "notification", "what it said"],
            [
                [
                    found["source"],
                    found["line"],
                    found["op"],
                    found["event"],
                    found["notification_id"],
                    facts_text(found["input"] if found["input"] is not None else found["facts"]),
                ]
                for found in postmortem["trigger_inputs"]
            ],
        ),
        "<h2>Parameters in force</h2>",
        _html_parameters(postmortem["parameters"]),
        "<h2>Margin calls before the trigger</h2>",
        _html_margin_calls(postmortem["margin_calls"], valuation),
        "<h2>Margin level over time</h2>",
        _chart_html(postmortem["chart"]),
        "<h2>Step by step</h2>",
        _html_steps(postmortem["steps"], valuation),
    ]
    return PAGE.format(title=_text(title), body="\n".join(sections))


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; max-width: 24em; }}
th {{ background: #f3f3f3; }}
td.number {{ text-align: right; font-variant-numeric: tabular-nums; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }}
dt {{ font-weight: bold; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""


def _text(value: Any) -> str:
    return html.escape("-" if value is None else str(value))


def _summary_pairs(postmortem: dict[str, Any]) -> list[tuple[str, str]]:
    summary, account = postmortem["liquidation"], postmortem["account"]
    return [
        ("account", f"{account['name']} ({mode_text(account['mode'], account['leverage'])})"),
        ("kind", summary["kind"]),
        ("status", status_text(summary)),
        ("triggered", trigger_text(summary["trigger"])),
        ("completed", postmortem["completed_at"] or "-"),
        ("liabilities at trigger", book_text(summary["liabilities"])),
        ("fee", fee_text(summary["fee"])),
        ("returned", book_text(summary["returned"])),
        ("shortfall", book_text(summary["shortfall"])),
    ]


def _html_definitions(pairs: list[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{_text(name)}</dt><dd>{_text(value)}</dd>" for name, value in pairs) + "</dl>"


def _html_table(columns: list[str], rows: list[list[Any]], numeric: frozenset[int] = frozenset()) -> str:
    head = "".join(f"<th>{_text(column)}</th>" for column in columns)
    body = "".join(
        "<tr>" + "".join(_html_cell(cell, index in numeric) for index, cell in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_cell(value: Any, numeric: bool) -> str:
    return f'<td class="number">{_text(value)}</td>' if numeric else f"<td>{_text(value)}</td>"


def _html_parameters(parameters: dict[str, Any]) -> str:
    return _html_table(
        ["version", "mode", "leverage", "margin call level", "liquidation level", "fee rate", "set at"],
        [
            [
                parameters["version"],
                parameters["mode"],
                parameters["leverage"],
                parameters["margin_call_level"],
                parameters["liquidation_level"],
                parameters["fee_rate"],
                parameters["set_at"],
            ]
        ],
    )


def _html_margin_calls(calls: list[dict[str, Any]], valuation: str) -> str:
    if not calls:
        return f"<p>{_text(NO_MARGIN_CALLS)}</p>"
    return _html_table(
        ["notification", "at", "margin level", "threshold", "prices"],
        [
            [
                call["notification_id"],
                call["at"],
                call["margin_level"],
                call["threshold"],
                prices_text(call["prices"], valuation),
            ]
            for call in calls
        ],
    )


def _html_steps(steps: list[dict[str, Any]], valuation: str) -> str:
    columns = [
        "step",
        "event",
        "notification",
        "at",
        "held by",
        "collateral",
        "collateral value",
        "debt",
        "margin level",
        "net equity",
        "prices",
        "what happened",
    ]
    rows = [
        [
            step["step"],
            ", ".join(step["events"]),
            step["notification_id"],
            step["at"],
            step["held_by"],
            book_text(step["collateral"]),
            step["collateral_value"],
            step["debt"],
            step["margin_level"],
            step["net_equity"],
            prices_text(step["prices"], valuation),
            step_details(step),
        ]
        for step in steps
    ]
    return _html_table(columns, rows, numeric=frozenset({6, 7, 8, 9}))


def _chart_html(chart: dict[str, Any]) -> str:
    """The margin level against the call and liquidation lines, prices on a second axis."""
    figure = _chart_figure(chart)
    return figure.to_html(
        full_html=False, include_plotlyjs=True, div_id="margin-chart", config={"responsive": True, "displaylogo": False}
    )


def _chart_figure(chart: dict[str, Any]) -> Any:
    from plotly.subplots import (
        make_subplots,  # imported here: only the HTML format needs plotly
    )

    points = chart["points"]
    times = [point["at"] for point in points]
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_scatter(
        x=times,
        y=[_drawn_level(point) for point in points],
        name="margin level",
        mode="lines+markers",
        line={"color": "#1f77b4", "width": 2, "shape": "hv"},
        text=[f"#{point['notification_id']} held by {point['held_by']}" for point in points],
        connectgaps=False,
        secondary_y=False,
    )
    for name, level, colour in (
        ("margin call", chart["margin_call_level"], "#ff7f0e"),
        ("liquidation", chart["liquidation_level"], "#d62728"),
    ):
        figure.add_scatter(
            x=[times[0], times[-1]] if times else [],
            y=[float(Decimal(level))] * min(len(times), 2),
            name=f"{name} {level}",
            mode="lines",
            line={"color": colour, "dash": "dash"},
            secondary_y=False,
        )
    charted = _charted_assets(points)
    for asset in charted:
        figure.add_scatter(
            x=times,
            y=[_drawn_price(point, asset) for point in points],
            name=f"{asset} price",
            mode="lines",
            line={"shape": "hv", "width": 1},
            opacity=0.7,
            secondary_y=True,
        )
    figure.update_layout(
        title="Margin level (no debt: no point)",
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.2},
        height=520,
    )
    figure.update_yaxes(title_text="margin level", secondary_y=False)
    # Prices of several assets differ by orders of magnitude (BTC and a small token): a log
    # axis keeps each one's moves visible.
    if len(charted) > 1:
        figure.update_yaxes(title_text="price (log)", type="log", dtick=1, secondary_y=True)
    else:
        figure.update_yaxes(title_text="price", secondary_y=True)
    return figure


def _drawn_level(point: dict[str, Any]) -> float | None:
    """A level to draw: none without debt (the 999 of the report would flatten the chart)."""
    if point["margin_level"] is None or point["debt"] in (None, "0"):
        return None
    return float(Decimal(point["margin_level"]))


def _drawn_price(point: dict[str, Any], asset: str) -> float | None:
    price = point["prices"].get(asset)
    return None if price is None else float(Decimal(price))


def _charted_assets(points: list[dict[str, Any]]) -> list[str]:
    """Assets whose price moved or is not 1: a stablecoin at 1 says nothing."""
    assets: dict[str, set[str]] = {}
    for point in points:
        for asset, price in point["prices"].items():
            assets.setdefault(asset, set()).add(price)
    return sorted(asset for asset, prices in assets.items() if prices != {"1"})
