"""A spot-margin liquidation's postmortem as rich tables: the summary, the input that
set it off, the parameters in force, the margin calls before it, and the period
table (the position step by step, as seed 004 tells it)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from ledger.domain.product import Product
from projections.presentation.postmortem import POSTMORTEM_SHEETS, actor_text, inputs_sheet
from projections.presentation.report import fee_text, status_text, trigger_text
from projections.presentation.tables import Sheet, book_text, mode_text, prices_text

NO_MARGIN_CALLS = "none recorded since the account's previous liquidation (or its opening)"


@POSTMORTEM_SHEETS.register(Product.MARGIN)
def postmortem_sheets(postmortem: dict[str, Any]) -> list[Sheet]:
    return [
        _summary_sheet(postmortem),
        inputs_sheet(postmortem),
        _parameters_sheet(postmortem["parameters"]),
        _margin_calls_sheet(postmortem["margin_calls"], postmortem["parameters"]["valuation_asset"]),
        _steps_sheet(postmortem),
    ]


def summary_pairs(postmortem: dict[str, Any]) -> list[tuple[str, str]]:
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


def _summary_sheet(postmortem: dict[str, Any]) -> Sheet:
    sheet = Sheet(f"Liquidation {postmortem['liquidation']['id']}", ("field", "value"), show_header=False)
    for label, value in summary_pairs(postmortem):
        sheet.add_row(Text(label, style="bold"), value)
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
        (
            "step",
            "held by",
            "collateral",
            "value",
            "debt",
            "margin level",
            "net equity",
            "prices",
            "what happened",
            "actor",
        ),
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
            actor_text(step.get("actor")),
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
