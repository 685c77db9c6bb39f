"""`ledger postmortem --format html`: one self-contained page, its sections those of
the liquidated account's product (`POSTMORTEM_SECTIONS`, chosen by the account's
mode; the spot-margin ones, with the chart, are `projections.presentation.margin.html`),
and the pieces every page shares: the page, tables, definitions, the input that set
the liquidation off."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from projections.presentation.postmortem import what_it_said
from projections.products import ByProduct

# (the postmortem, as `projections.postmortem` builds it) -> the page's sections below its title, in order
PostmortemSections = Callable[[dict[str, Any]], list[str]]
POSTMORTEM_SECTIONS: ByProduct[PostmortemSections] = ByProduct("postmortem page")


def render_html(postmortem: dict[str, Any]) -> str:
    """One self-contained page: the title, then the product's sections."""
    summary = postmortem["liquidation"]
    title = f"Liquidation {summary['id']} of {postmortem['account']['name']}"
    sections = POSTMORTEM_SECTIONS.for_mode(postmortem["account"]["mode"])(postmortem)
    return PAGE.format(title=text(title), body="\n".join([f"<h1>{text(title)}</h1>", *sections]))


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


def text(value: Any) -> str:
    return html.escape("-" if value is None else str(value))


def definitions(pairs: list[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{text(name)}</dt><dd>{text(value)}</dd>" for name, value in pairs) + "</dl>"


def table(columns: list[str], rows: list[list[Any]], numeric: frozenset[int] = frozenset()) -> str:
    head = "".join(f"<th>{text(column)}</th>" for column in columns)
    body = "".join(
        "<tr>" + "".join(_cell(cell, index in numeric) for index, cell in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any, numeric: bool) -> str:
    return f'<td class="number">{text(value)}</td>' if numeric else f"<td>{text(value)}</td>"


def inputs_table(postmortem: dict[str, Any]) -> str:
    """The input that set the liquidation off."""
    return table(
        ["source", "line", "op", "event", "notification", "what it said"],
        [
            [found["source"], found["line"], found["op"], found["event"], found["notification_id"], what_it_said(found)]
            for found in postmortem["trigger_inputs"]
        ],
    )
