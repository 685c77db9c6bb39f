"""`ledger postmortem` of a futures liquidation: the chart of the liquidated scope's margin
ratio (the cross positions', or the isolated position's) over time, from the scope's
first opening trade through the liquidation's completion, with the marks that moved it;
the page that draws it against the 100 % liquidation line; and the table output of a
store that holds futures wallets alone.

The liquidations are set off by marks, through `ledger run`, as a user sets them off.
Ratios are maintenance margin / margin balance at each point, exact here (the marks are
chosen so): a USDⓈ-M wallet of 1000 USDT buys 0.5 BTCUSDT at 30000 (maintenance margin
rate 0.004 in the first bracket), then the mark falls to 29000, 28200, 28100.
"""

from __future__ import annotations

import json
import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from projections.presentation.futures.html import chart_figure, price_figure
from tests.conftest import SCENARIOS
from tests.integration.cli_scenarios import ledger, run_json, write_scenario
from tests.integration.test_postmortem import CHROMIUM, assert_no_floats, chromium, read_png

SYMBOLS = json.loads((SCENARIOS / "futures" / "binance_usdm_cross_two_symbols.jsonl").read_text().splitlines()[0])
POINT_FIELDS = {"notification_id", "at", "margin_ratio", "margin_balance", "maintenance_margin", "positions", "marks"}
CROSS = [
    SYMBOLS,
    {"op": "open", "account": "F", "mode": "usdm"},
    {"op": "deposit", "account": "F", "asset": "USDT", "amount": "1000"},
    {"op": "mark", "symbol": "BTCUSDT", "price": "30000"},
    {"op": "trade", "account": "F", "symbol": "BTCUSDT", "side": "buy", "quantity": "0.5", "price": "30000"},
    {"op": "mark", "symbol": "BTCUSDT", "price": "29000"},
    {"op": "mark", "symbol": "BTCUSDT", "price": "28200"},
    {"op": "mark", "symbol": "BTCUSDT", "price": "28100"},
]
# An isolated BTCUSDT long (10x, margin 3000) beside a cross ETHUSDT one: ETHUSDT's mark
# moves the cross ratio, not the isolated position's, and is not charted.
ISOLATED = [
    SYMBOLS,
    {"op": "open", "account": "I", "mode": "usdm"},
    {"op": "deposit", "account": "I", "asset": "USDT", "amount": "10000"},
    {"op": "leverage", "account": "I", "symbol": "BTCUSDT", "leverage": 10, "margin_type": "isolated"},
    {"op": "mark", "symbol": "BTCUSDT", "price": "30000"},
    {"op": "mark", "symbol": "ETHUSDT", "price": "2000"},
    {"op": "trade", "account": "I", "symbol": "ETHUSDT", "side": "buy", "quantity": "1", "price": "2000"},
    {"op": "trade", "account": "I", "symbol": "BTCUSDT", "side": "buy", "quantity": "1", "price": "30000"},
    {"op": "mark", "symbol": "BTCUSDT", "price": "28000"},
    {"op": "mark", "symbol": "ETHUSDT", "price": "1900"},
    {"op": "mark", "symbol": "BTCUSDT", "price": "27100"},
]


def liquidated(tmp_path: Path, store_url: str, lines: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Runs the lines; returns their one liquidation as the report lists it, and its
    postmortem as `--format json` prints it (the whole output one JSON document)."""
    (liquidation,) = run_json(write_scenario(tmp_path / "liquidated.jsonl", lines), store_url)["liquidations"]
    result = ledger("postmortem", liquidation["id"], "--store", store_url, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return liquidation, json.loads(result.stdout)


def point_at(chart: dict[str, Any], notification_id: int) -> dict[str, Any]:
    (found,) = [point for point in chart["points"] if point["notification_id"] == notification_id]
    return found


def marks_in_order(chart: dict[str, Any], symbol: str) -> list[str]:
    """The symbol's marks as the points pass through them, each once."""
    marks: list[str] = []
    for point in chart["points"]:
        mark = point["marks"].get(symbol)
        if mark is not None and (not marks or marks[-1] != mark):
            marks.append(mark)
    return marks


def test_a_cross_liquidation_charted_through_the_marks(tmp_path: Path, store_url: str) -> None:
    liquidation, told = liquidated(tmp_path, store_url, CROSS)
    chart = told["chart"]
    assert chart["scope"] == {"symbol": None, "slot": None}
    assert chart["threshold"] == "1" and not chart["truncated"]
    points = chart["points"]
    ids = [point["notification_id"] for point in points]
    assert ids == sorted(set(ids))
    assert all(set(point) == POINT_FIELDS for point in points)
    assert_no_floats(told)

    # From the trade that opened the position (the deposit before it is not charted) to the
    # liquidation's completion, through every mark that moved the ratio.
    first = points[0]
    assert (first["margin_ratio"], first["margin_balance"], first["maintenance_margin"]) == ("0.06", "1000", "60")
    assert ids[-1] == told["steps"][-1]["notification_id"] and told["steps"][-1]["step"] == "completed"
    assert marks_in_order(chart, "BTCUSDT") == ["30000", "29000", "28200", "28100"]
    ratios = [point["margin_ratio"] for point in points if point["notification_id"] < chart["trigger_notification_id"]]
    assert ratios[0] == "0.06" and {"0.116", "0.564", "1.124"} <= set(ratios)

    # Before the triggering mark the wallet stood below 100 %; at the trigger, at or above.
    before_input, trigger = told["steps"][0], told["steps"][1]
    assert trigger["notification_id"] == chart["trigger_notification_id"]
    last_before = [point for point in points if point["notification_id"] <= before_input["notification_id"]][-1]
    assert Decimal(last_before["margin_ratio"]) < 1 and last_before["marks"] == {"BTCUSDT": "28200"}
    at_trigger = point_at(chart, trigger["notification_id"])
    assert Decimal(at_trigger["margin_ratio"]) >= 1
    assert at_trigger["margin_ratio"] == liquidation["trigger"]["margin_ratio"] == "1.124"
    assert (at_trigger["margin_balance"], at_trigger["maintenance_margin"]) == ("50", "56.2")

    # Once closed, the cross positions hold nothing; the fee takes what the wallet had left,
    # and a ratio over a balance of 0 means nothing.
    completed = points[-1]
    assert completed["positions"] == 0 and completed["margin_ratio"] is None
    assert completed["marks"] == {"BTCUSDT": "28100"}  # the closed position's symbol, still drawn


def test_an_isolated_liquidation_charts_that_position(tmp_path: Path, store_url: str) -> None:
    liquidation, told = liquidated(tmp_path, store_url, ISOLATED)
    chart = told["chart"]
    assert chart["scope"] == liquidation["scope"] == {"symbol": "BTCUSDT", "slot": "both"}
    points = chart["points"]
    assert {symbol for point in points for symbol in point["marks"]} == {"BTCUSDT"}
    assert marks_in_order(chart, "BTCUSDT") == ["30000", "28000", "27100"]
    # The isolated position's own ratio: its maintenance margin over its margin + uPnL.
    first = points[0]
    assert (first["margin_ratio"], first["margin_balance"], first["maintenance_margin"]) == ("0.04", "3000", "120")
    at_trigger = point_at(chart, chart["trigger_notification_id"])
    assert at_trigger["margin_ratio"] == liquidation["trigger"]["margin_ratio"] == "1.084"
    assert (at_trigger["margin_balance"], at_trigger["maintenance_margin"]) == ("100", "108.4")
    # ... not the wallet's cross ratio, which the steps show (the ETHUSDT position's).
    trigger_step = told["steps"][1]
    assert trigger_step["wallet"]["margin_ratio"] != at_trigger["margin_ratio"]
    before_input = told["steps"][0]
    last_before = [point for point in points if point["notification_id"] <= before_input["notification_id"]][-1]
    assert last_before["margin_ratio"] == "0.112"
    # Closed, the position is gone: nothing to measure, the line ends.
    closed = point_at(chart, next(step for step in told["steps"] if step["step"] == "close at mark")["notification_id"])
    assert (closed["positions"], closed["margin_ratio"], closed["margin_balance"]) == (0, None, None)


def test_the_page_draws_the_ratio_against_the_liquidation_line(tmp_path: Path, store_url: str) -> None:
    liquidation, told = liquidated(tmp_path, store_url, CROSS)
    result = ledger("postmortem", liquidation["id"], "--store", store_url, "--format", "html")
    assert result.exit_code == 0, result.stderr
    page = result.stdout
    assert 'id="futures-margin-ratio-chart"' in page
    assert "liquidation 100 %" in page
    assert "Margin ratio over time: the cross positions" in page
    assert "<script src=" not in page  # plotly.js is in the page: no network needed
    for section in ("The input that set it off", "Parameters in force", "Step by step"):
        assert section in page
    assert page.index("Margin ratio over time") < page.index("Step by step")

    figure = chart_figure(told["chart"])
    ratio, line = figure.data
    assert ratio.name == "margin ratio"
    ratios = [point["margin_ratio"] for point in told["chart"]["points"]]
    assert list(ratio.y) == [None if found is None else float(found) for found in ratios]  # floats only to draw
    assert line.line.dash == "dash" and list(line.y) == [1.0, 1.0]
    (mark,) = price_figure(told["chart"]).data  # the marks in a panel of their own
    marks = [point["marks"].get("BTCUSDT") for point in told["chart"]["points"]]
    assert mark.name == "BTCUSDT mark" and list(mark.y) == [None if found is None else float(found) for found in marks]
    assert 'id="price-chart"' in page
    assert figure.layout.yaxis.tickformat == ".0%"

    table = ledger("postmortem", liquidation["id"], "--store", store_url, "--format", "table")
    assert table.exit_code == 0 and "Step by step" in table.stdout
    as_json = ledger("postmortem", liquidation["id"], "--store", store_url, "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == told  # one document, alike


def test_a_store_of_futures_wallets_prints_no_empty_accounts_sheet(tmp_path: Path, store_url: str) -> None:
    futures = ledger("run", str(write_scenario(tmp_path / "futures.jsonl", CROSS)), "--store", store_url)
    assert futures.exit_code == 0, futures.stderr
    assert "Futures wallets" in futures.stdout
    assert not re.search(r"^\s*Accounts\s*$", futures.stdout, re.MULTILINE), futures.stdout
    # A spot-margin account in the same store: its sheet is back.
    margin = [
        {"op": "open", "account": "M", "mode": "cross_classic", "leverage": 3},
        {"op": "deposit", "account": "M", "asset": "USDC", "amount": "10"},
    ]
    both = ledger("run", str(write_scenario(tmp_path / "margin.jsonl", margin)), "--store", store_url)
    assert both.exit_code == 0, both.stderr
    assert re.search(r"^\s*Accounts\s*$", both.stdout, re.MULTILINE), both.stdout
    assert "Futures wallets" in both.stdout


@pytest.mark.skipif(
    not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None,
    reason="headless Chromium (/usr/bin/chromium, Debian package chromium) is not installed",
)
def test_the_futures_chart_is_drawn_in_a_browser(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'ledger.db'}"  # one backend: the page is the same on both
    (liquidation,) = run_json(write_scenario(tmp_path / "liquidated.jsonl", CROSS), store_url)["liquidations"]
    page = tmp_path / "postmortem.html"
    result = ledger("postmortem", liquidation["id"], "--store", store_url, "--format", "html", "--output", str(page))
    assert result.exit_code == 0, result.stderr
    screenshot = tmp_path / "postmortem.png"
    dumping = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile-dom")
    shooting = chromium(
        "--window-size=1200,1300", f"--screenshot={screenshot}", page.as_uri(), profile=tmp_path / "profile-png"
    )
    dom, _ = dumping.communicate(timeout=60)
    shooting.communicate(timeout=60)

    assert 'class="main-svg"' in dom  # plotly's SVG exists only once its JavaScript ran
    lines = [path for path in dom.split('<path class="js-line"')[1:] if ' d="M' in path.split(">")[0]]
    assert len(lines) >= 3, dom[-2000:]  # the ratio, the 100 % line, the mark
    assert "rgb(31, 119, 180)" in "".join(lines)  # the ratio trace's own colour
    width, height, pixels = read_png(screenshot.read_bytes())
    assert (width, height) == (1200, 1300)
    for colour in ((31, 119, 180), (214, 39, 40)):  # the margin ratio, the liquidation line
        assert pixels.count(colour) > 30, colour
