"""`ledger postmortem` tells a liquidation step by step as seed 004's period tables do.

The figures are the seed tables' (users A, B and C); the step named in each row is
the postmortem's label for it. The HTML page is opened in headless Chromium to show
that plotly.js, embedded in the page, really draws the chart.
"""

from __future__ import annotations

import json
import operator
import os
import shutil
import struct
import subprocess
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ledger.entrypoints.cli import app
from tests.conftest import BACKENDS, SCENARIOS
from tests.conftest import ledger_cli as ledger

VALUE_TOLERANCE = Decimal("0.01")  # the scenarios' rule for values in the valuation asset
QUANTITY_TOLERANCE = Decimal("0.00000002")  # the seed table rounds sold quantities its own way
CHROMIUM = Path("/usr/bin/chromium")
WIDE_TERMINAL = {**os.environ, "COLUMNS": "220"}  # rich wraps step names in a narrow table


def postmortem(*args: str, env: dict[str, str] | None = None) -> Result:
    """`ledger postmortem`, in this process: the CLI's own code, without a second start-up."""
    return CliRunner().invoke(app, ["postmortem", *args], env=env)


def run_scenario(path: Path, store_url: str) -> str:
    """Runs a scenario through `ledger run`; returns the id of its one liquidation."""
    completed = ledger("run", str(path), "--store", store_url, "--json")
    assert completed.returncode == 0, completed.stderr
    liquidations = json.loads(completed.stdout)["liquidations"]
    assert len(liquidations) == 1
    return liquidations[0]["id"]


def postmortem_json(store_url: str, liquidation_id: str) -> dict[str, Any]:
    result = postmortem(liquidation_id, "--store", store_url, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], tuple[str, str]]:
    """Seed 004's stores, one per user and backend, run once for the module's tests (they
    only read): user -> (store URL, liquidation id)."""
    stores: dict[str, tuple[str, str]] = {}

    def store_of(user: str) -> tuple[str, str]:
        if user not in stores:
            if request.param == "sqlite":
                url = f"sqlite:///{tmp_path_factory.mktemp('postmortem') / f'{user}.db'}"
            else:
                url = f"{request.getfixturevalue('postgres_database')}?schema=t_{uuid.uuid4().hex[:12]}"
            stores[user] = (url, run_scenario(SCENARIOS / f"seed004_user_{user}.jsonl", url))
        return stores[user]

    return store_of


def told_for(seeded: Callable[[str], tuple[str, str]], user: str) -> dict[str, Any]:
    return postmortem_json(*seeded(user))


def step(told: dict[str, Any], label: str, nth: int = 1) -> dict[str, Any]:
    found = [candidate for candidate in told["steps"] if candidate["step"] == label]
    assert len(found) >= nth, (label, [candidate["step"] for candidate in told["steps"]])
    return found[nth - 1]


def assert_row(
    told_step: dict[str, Any],
    collateral: dict[str, str],
    value: str,
    debt: str,
    level: str,
    equity: str,
    held_by: str,
    prices: dict[str, str] | None = None,
) -> None:
    """One row of a period table: collateral, collateral value, debt, margin level, net equity."""
    held = {asset: Decimal(amount) for asset, amount in told_step["collateral"].items() if Decimal(amount)}
    for asset, amount in collateral.items():
        assert abs(held.pop(asset, Decimal(0)) - Decimal(amount)) <= QUANTITY_TOLERANCE, (asset, told_step)
    assert all(amount * 1 <= VALUE_TOLERANCE for amount in held.values()), ("dust only besides", told_step)
    for field, expected in (("collateral_value", value), ("debt", debt), ("net_equity", equity)):
        assert abs(Decimal(told_step[field]) - Decimal(expected)) <= VALUE_TOLERANCE, (field, told_step)
    assert Decimal(told_step["margin_level"]).quantize(Decimal("1E-8")) == Decimal(level), told_step
    assert told_step["held_by"] == held_by
    for asset, price in (prices or {}).items():
        assert Decimal(told_step["prices"][asset]) == Decimal(price), (asset, told_step["prices"])


def assert_no_floats(document: Any) -> None:
    """Amounts are decimal strings: a float would have lost digits already."""
    if isinstance(document, dict):
        for value in document.values():
            assert_no_floats(value)
    elif isinstance(document, list):
        for value in document:
            assert_no_floats(value)
    else:
        assert not isinstance(document, float), document


# --- the seed tables ----------------------------------------------------------------------


def test_user_a_regular_liquidation_step_by_step(seeded: Callable[[str], tuple[str, str]]) -> None:
    told = told_for(seeded, "a")
    assert [candidate["step"] for candidate in told["steps"]] == [
        "position",
        "trigger",
        "sale",
        "repayment",
        "regular part ended",
        "fee",
        "completed",
    ]
    assert_row(step(told, "position"), {"BTC": "10"}, "500000", "400000", "1.25", "100000", "A", {"BTC": "50000"})
    assert_row(step(told, "trigger"), {"BTC": "10"}, "440000", "400000", "1.1", "40000", "A", {"BTC": "44000"})
    assert step(told, "sale")["facts"]["price"] == "44000"
    assert_row(step(told, "repayment"), {"BTC": "0.90909091"}, "40000", "0", "999", "40000", "A")
    assert_row(step(told, "fee"), {"BTC": "0.72727273"}, "32000", "0", "999", "32000", "A")
    assert step(told, "fee")["facts"]["payer"] == "A"
    assert told["liquidation"]["kind"] == "regular"
    assert_no_floats(told)


def test_user_a_what_set_it_off(seeded: Callable[[str], tuple[str, str]]) -> None:
    told = told_for(seeded, "a")
    (found,) = told["trigger_inputs"]
    assert (found["source"], found["line"], found["op"]) == ("seed004_user_a.jsonl", 7, "mark")
    assert found["input"] == {"op": "mark", "asset": "BTC", "price": "44000", "at": "2026-01-05T10:20:00Z"}
    assert found["facts"] == {"asset": "BTC", "price": "44000", "quote": "USDC"}
    parameters = told["parameters"]
    assert (
        parameters["version"],
        parameters["margin_call_level"],
        parameters["liquidation_level"],
        parameters["fee_rate"],
    ) == (2, "1.16", "1.1", "0.02")
    assert told["margin_calls"] == []  # 1.25 straight to 1.1: no call on the way down
    chart = told["chart"]
    assert (chart["margin_call_level"], chart["liquidation_level"]) == ("1.16", "1.1")
    levels = [point["margin_level"] for point in chart["points"]]
    assert levels[0] == "1.25" and "1.1" in levels and levels[-1] == "999"


def test_user_b_takeover_step_by_step(seeded: Callable[[str], tuple[str, str]]) -> None:
    told = told_for(seeded, "b")
    assert [candidate["step"] for candidate in told["steps"]] == [
        "position",
        "trigger",
        "regular part ended",
        "hand-off",
        "takeover sale",
        "desk repayment",
        "takeover sales ended",
        "fee",
        "return",
        "completed",
    ]
    assert_row(step(told, "position"), {"SUPER": "500000"}, "500000", "400000", "1.25", "100000", "B", {"SUPER": "1"})
    assert_row(step(told, "trigger"), {"SUPER": "500000"}, "440000", "400000", "1.1", "40000", "B", {"SUPER": "0.88"})
    assert_row(step(told, "hand-off"), {"SUPER": "500000"}, "440000", "400000", "1.1", "40000", "takeover-desk")
    sale = step(told, "takeover sale")
    assert_row(sale, {"USDC": "435000"}, "435000", "400000", "1.0875", "35000", "takeover-desk")
    assert (sale["facts"]["price"], sale["facts"]["quantity"]) == ("0.87", "500000")
    assert_row(step(told, "desk repayment"), {"USDC": "35000"}, "35000", "0", "999", "35000", "takeover-desk")
    assert_row(step(told, "fee"), {"USDC": "27000"}, "27000", "0", "999", "27000", "takeover-desk")
    assert_row(step(told, "return"), {"USDC": "27000"}, "27000", "0", "999", "27000", "B")
    assert told["liquidation"]["kind"] == "takeover"
    assert told["trigger_inputs"][0]["input"]["price"] == "0.88"
    assert_no_floats(told)


def test_user_c_mixed_step_by_step(seeded: Callable[[str], tuple[str, str]]) -> None:
    """Seed C's trigger price is 0.86666666 (domain.md, "Known faults"): the levels follow from it."""
    told = told_for(seeded, "c")
    position = {"BTC": "1", "SUPER": "450000"}
    assert_row(step(told, "position"), position, "500000", "400000", "1.25", "100000", "C")
    assert_row(
        step(told, "trigger"),
        position,
        "439999.997",
        "400000",
        "1.09999999",
        "39999.997",
        "C",
        {"BTC": "50000", "SUPER": "0.86666666"},
    )
    assert step(told, "sale")["facts"]["asset"] == "BTC"
    assert_row(step(told, "repayment"), {"SUPER": "450000"}, "389999.997", "350000", "1.11428571", "39999.997", "C")
    assert_row(
        step(told, "hand-off"), {"SUPER": "450000"}, "389999.997", "350000", "1.11428571", "39999.997", "takeover-desk"
    )
    assert_row(
        step(told, "takeover sale"), {"USDC": "387000"}, "387000", "350000", "1.10571429", "37000", "takeover-desk"
    )
    assert_row(step(told, "desk repayment"), {"USDC": "37000"}, "37000", "0", "999", "37000", "takeover-desk")
    assert_row(step(told, "return"), {"USDC": "29000"}, "29000", "0", "999", "29000", "C")
    assert told["liquidation"]["kind"] == "mixed"
    assert_no_floats(told)


def test_margin_calls_before_the_trigger_are_listed(store_url: str, tmp_path: Path) -> None:
    """Seed A with the fall in steps: 45,000 calls (1.125 <= 1.16), 44,000 liquidates."""
    lines = (SCENARIOS / "seed004_user_a.jsonl").read_text().splitlines()[:6] + [
        json.dumps({"op": "mark", "asset": "BTC", "price": "45000", "at": "2026-01-05T10:10:00Z"}),
        json.dumps({"op": "mark", "asset": "BTC", "price": "44000", "at": "2026-01-05T10:20:00Z"}),
    ]
    scenario = tmp_path / "stepped_fall.jsonl"
    scenario.write_text("\n".join(lines) + "\n")
    told = postmortem_json(store_url, run_scenario(scenario, store_url))
    (call,) = told["margin_calls"]
    assert (call["margin_level"], call["threshold"], call["at"]) == ("1.125", "1.16", "2026-01-05T10:10:00Z")
    assert_row(step(told, "position"), {"BTC": "10"}, "450000", "400000", "1.125", "50000", "A")
    assert [point["margin_level"] for point in told["chart"]["points"]][:4] == ["1.25", "1.25", "1.25", "1.125"]


# --- the other formats and the errors --------------------------------------------------------


def test_table_format_names_every_step(seeded: Callable[[str], tuple[str, str]]) -> None:
    store_url, liquidation_id = seeded("b")
    result = postmortem(liquidation_id, "--store", store_url, env=WIDE_TERMINAL)
    assert result.exit_code == 0, result.stderr
    for text in (
        "Step by step",
        "position",
        "trigger",
        "hand-off",
        "takeover sale",
        "desk repayment",
        "fee",
        "return",
        "seed004_user_b.jsonl",
        "Parameters in force: version 2",
        "1.0875",
        "27000 USDC",
    ):
        assert text in result.stdout, text


def test_unknown_or_malformed_ids_are_refused(seeded: Callable[[str], tuple[str, str]]) -> None:
    store_url, _ = seeded("a")
    completed = ledger("postmortem", "not-an-id", "--store", store_url)  # the exit status a shell sees
    assert completed.returncode == 2, completed.stdout
    assert "not a liquidation id" in completed.stderr, completed.stderr
    result = postmortem(str(uuid.uuid4()), "--store", store_url)
    assert result.exit_code == 2, result.stdout
    assert "no liquidation" in result.stderr, result.stderr


def test_html_text_is_escaped(seeded: Callable[[str], tuple[str, str]]) -> None:
    from projections.presentation.html import PageFooter, postmortem_html

    told = told_for(seeded, "a")
    hostile = "<img src=x onerror=alert(1)>"
    told["account"]["name"] = hostile
    for told_step in told["steps"]:
        told_step["held_by"] = hostile
        told_step["actor"] = hostile
    for event in told["events_before"]["events"] + told["events"]:
        event["actor"] = hostile
    page = postmortem_html(told, PageFooter(f"sqlite:///{hostile}.db", datetime.now(UTC), hostile))
    assert hostile not in page
    assert html_escaped(hostile) in page
    assert "<script src=" not in page  # plotly.js is in the page: no network needed


def html_escaped(text: str) -> str:
    import html

    return html.escape(text)


# --- the chart, drawn by a real browser -------------------------------------------------------


def chromium(*args: str, profile: Path, budget_ms: int = 5000) -> subprocess.Popen[str]:
    """Headless Chromium, started: no network, its own profile, `budget_ms` of virtual time for scripts."""
    return subprocess.Popen(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


@pytest.mark.skipif(
    not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None,
    reason="headless Chromium (/usr/bin/chromium, Debian package chromium) is not installed",
)
def test_html_chart_is_drawn_in_a_browser(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'ledger.db'}"  # one backend: the page is the same on both
    liquidation_id = run_scenario(SCENARIOS / "seed004_user_c.jsonl", store_url)
    page = tmp_path / "postmortem.html"
    result = postmortem(liquidation_id, "--store", store_url, "--format", "html", "--output", str(page))
    assert result.exit_code == 0, result.stderr
    screenshot = tmp_path / "postmortem.png"
    # both at once: each browser start takes seconds. The window is tall enough to hold the
    # summary, the input, the parameters and the chart below them.
    dumping = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile-dom")
    shooting = chromium(
        "--window-size=1200,1300", f"--screenshot={screenshot}", page.as_uri(), profile=tmp_path / "profile-png"
    )
    dom, _ = dumping.communicate(timeout=60)
    shooting.communicate(timeout=60)

    assert 'class="main-svg"' in dom  # plotly's SVG exists only once its JavaScript ran
    lines = [path for path in dom.split('<path class="js-line"')[1:] if ' d="M' in path.split(">")[0]]
    # the margin level, the margin-call and liquidation lines, and the prices
    assert len(lines) >= 4, dom[-2000:]
    assert "rgb(31, 119, 180)" in "".join(lines)  # the margin-level trace's own colour

    width, height, pixels = read_png(screenshot.read_bytes())
    assert (width, height) == (1200, 1300)
    for colour in ((31, 119, 180), (255, 127, 14), (214, 39, 40)):  # margin level, margin call, liquidation
        assert pixels.count(colour) > 30, colour  # each line drawn (partly hidden where they cross)


def read_png(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, compressed, header = 8, b"", b""
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        header = body if kind == b"IHDR" else header
        compressed += body if kind == b"IDAT" else b""
        offset += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    channels = 3 if colour == 2 else 4
    rows = unfiltered_rows(zlib.decompress(compressed), width * channels, height, channels)
    pixels = [tuple(row[x : x + 3]) for row in rows for x in range(0, len(row), channels)]
    return width, height, pixels  # type: ignore[return-value]


def unfiltered_rows(raw: bytes, stride: int, height: int, channels: int) -> list[bytes]:
    """PNG scanlines with their filters undone (PNG spec, section 9). Rows filtered 'none'
    or 'up' (most of a screenshot) are undone with C-level maps; the others byte by byte."""
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], raw[start + 1 : start + 1 + stride]
        if kind == 0:
            row = line
        elif kind == 2:
            row = bytes(map(BYTE_OF.__getitem__, map(operator.add, line, previous)))
        else:
            row = bytes(unfiltered_row(kind, bytearray(line), previous, channels))
        rows.append(row)
        previous = row
    return rows


BYTE_OF = list(range(256)) * 2  # (a + b) & 0xFF for a, b < 256, as a lookup


def unfiltered_row(kind: int, line: bytearray, previous: bytes, channels: int) -> bytearray:
    for x in range(len(line)):
        left = line[x - channels] if x >= channels else 0
        up = previous[x]
        if kind == 1:
            line[x] = (line[x] + left) & 0xFF
        elif kind == 3:
            line[x] = (line[x] + (left + up) // 2) & 0xFF
        else:
            line[x] = (line[x] + paeth(left, up, previous[x - channels] if x >= channels else 0)) & 0xFF
    return line


def paeth(left: int, up: int, up_left: int) -> int:
    estimate = left + up - up_left
    distances = (abs(estimate - left), abs(estimate - up), abs(estimate - up_left))
    return (left, up, up_left)[distances.index(min(distances))]
