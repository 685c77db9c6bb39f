"""A futures liquidation's postmortem as rich tables: the summary, the input that set it
off, the liquidated symbols' parameters in force, and the wallet step by step (the page,
with its chart, is `projections.presentation.futures.html`)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from ledger.domain.product import Product
from projections.presentation.futures.report import in_asset, position_text, trigger_text
from projections.presentation.postmortem import POSTMORTEM_SHEETS, actor_text, inputs_sheet
from projections.presentation.report import fee_text, status_text
from projections.presentation.tables import Sheet, facts_text, prices_text

STEP_COLUMNS = (
    "#",
    "step",
    "at",
    "wallet balance",
    "cross wallet",
    "margin balance",
    "margin ratio",
    "positions",
    "prices",
    "what happened",
    "actor",
)
PARAMETER_COLUMNS = ("symbol", "type", "contract size", "clearance fee", "brackets (cap, max leverage, mmr)")
# Facts each step's other columns already tell, or that only repeat the liquidation's.
FACTS_LEFT_OUT = {"liquidation_id", "wallet_asset", "positions", "closed", "prices", "mode", "asset", "sequence"}


@POSTMORTEM_SHEETS.register(Product.FUTURES)
def postmortem_sheets(postmortem: dict[str, Any]) -> list[Sheet]:
    summary = Sheet(f"Liquidation {postmortem['liquidation']['id']}", ("field", "value"), show_header=False)
    for label, value in summary_pairs(postmortem):
        summary.add_row(Text(label, style="bold"), value)
    parameters = postmortem["parameters"]
    parameters_sheet = Sheet(
        f"Parameters in force: version {parameters['version']} (set at {parameters['set_at'] or '-'})",
        PARAMETER_COLUMNS,
    )
    for row in parameter_rows(parameters):
        parameters_sheet.add_row(*row)
    steps = Sheet("Step by step", STEP_COLUMNS)
    for row in step_rows(postmortem):
        steps.add_row(*row)
    return [summary, inputs_sheet(postmortem), parameters_sheet, steps]


def summary_pairs(postmortem: dict[str, Any]) -> list[tuple[str, str]]:
    summary, account = postmortem["liquidation"], postmortem["account"]
    return [
        ("account", f"{account['name']} ({account['mode']} {account['asset']})"),
        ("kind", summary["kind"]),
        ("status", status_text(summary)),
        ("triggered", trigger_text(summary)),
        ("completed", postmortem["completed_at"] or "-"),
        ("fee", fee_text(summary["fee"])),
        ("shortfall", in_asset(summary["shortfall"], summary["asset"]) or "-"),
    ]


def parameter_rows(parameters: dict[str, Any]) -> list[tuple[str, ...]]:
    rows = []
    for symbol, spec in parameters["symbols"].items():
        if spec is None:
            rows.append((symbol, "-", "-", "-", "-"))
            continue
        brackets = "\n".join(
            f"{bracket['cap']}, {bracket['max_leverage']}x, {bracket['mmr']}" for bracket in spec["brackets"]
        )
        rows.append(
            (symbol, spec["type"], str(spec.get("contract_size", "-")), str(spec.get("clearance_fee", "-")), brackets)
        )
    return rows


def step_rows(postmortem: dict[str, Any]) -> list[tuple[str | None, ...]]:
    asset = postmortem["account"]["asset"]
    rows = []
    for step in postmortem["steps"]:
        wallet = step["wallet"] or {}
        facts = {name: value for name, value in step["facts"].items() if name not in FACTS_LEFT_OUT}
        rows.append(
            (
                str(step["notification_id"]),
                f"{step['step']}\n{step['event']}" if step["event"] else step["step"],
                step["at"],
                in_asset(wallet.get("wallet_balance"), asset),
                in_asset(wallet.get("cross_wallet_balance"), asset),
                in_asset(wallet.get("margin_balance"), asset),
                wallet.get("margin_ratio"),
                "\n\n".join(f"{p['symbol']} {p['side']}\n{position_text(p)}" for p in step["positions"]) or "-",
                prices_text(step["prices"]),
                facts_text(facts) or "-",
                actor_text(step.get("actor")),
            )
        )
    return rows
