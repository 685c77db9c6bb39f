"""Edge inputs (issue 9): numbers, names, times, files, duplicate keys and parameters that
`ledger run` must refuse as input errors.

Every refusal is checked the same way (`malformed.assert_refused`): exit 2, nothing on
standard output, no traceback, every line of standard error `line N: FIELD: message`
naming the faulty line (or one `error: ...` line about an argument), and the store as it
was, byte for byte on SQLite and row for row on PostgreSQL. The store was made by an
earlier valid run (`malformed.BASE`: accounts A, B and S, its clock at T0), and it still
works afterwards: a later valid run, `ledger reconcile` and `ledger history` succeed.

The command runs in this process (typer's runner), but for `/dev/zero`, run as a process
of its own with a timeout.
"""

from __future__ import annotations

import itertools
import json
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ledger.inputs import InputErrors, parse_parameter_file
from tests.conftest import BACKENDS
from tests.integration.malformed import (
    BASE,
    T0,
    VALID,
    assert_ok,
    assert_refused,
    duplicated,
    error_lines,
    frozen_heap,
    ledger,
    ledger_process,
    run_file,
    store_snapshot,
    write_lines,
)

Line = dict[str, Any] | str | bytes


@dataclass
class EdgeStore:
    """A store BASE was applied to; `refuse` runs a file that must change nothing."""

    url: str
    directory: Path

    def __post_init__(self) -> None:
        self.files = itertools.count(1)
        assert_ok(run_file(self.url, write_lines(self.directory / "base.jsonl", list(BASE))))

    def path(self, suffix: str = ".jsonl") -> Path:
        return self.directory / f"file-{next(self.files)}{suffix}"

    def refuse(self, lines: list[Line], line: int, field: str | None = None, *extra: str) -> list[str]:
        snapshot = store_snapshot(self.url)
        errors = assert_refused(run_file(self.url, write_lines(self.path(), lines), *extra), line, field)
        assert store_snapshot(self.url) == snapshot, "a refused file changed the store"
        return errors

    def run(self, lines: list[Line], *extra: str) -> dict[str, Any]:
        return assert_ok(run_file(self.url, write_lines(self.path(), lines), *extra))


@pytest.fixture(scope="module", params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[EdgeStore]:
    with tempfile.TemporaryDirectory() as directory, frozen_heap():
        if request.param == "sqlite":
            url = f"sqlite:///{Path(directory) / 'ledger.db'}"
        else:
            url = f"{request.getfixturevalue('postgres_database')}?schema=e_{uuid.uuid4().hex[:12]}"
        yield EdgeStore(url, Path(directory))


def deposit(**changes: Any) -> dict[str, Any]:
    return {**VALID["deposit"], **changes}


def mark(**changes: Any) -> dict[str, Any]:
    return {**VALID["mark"], **changes}


def fill(**changes: Any) -> dict[str, Any]:
    return {**VALID["fill"], **changes}


def open_account(name: Any, mode: str = "spot") -> dict[str, Any]:
    return {"op": "open", "account": name, "mode": mode}


def params(**changes: Any) -> dict[str, Any]:
    return {"op": "params", **changes}


def between_valid_lines(store: EdgeStore, bad: Line, field: str | None) -> list[str]:
    """The bad line as line 2 of 3: the lines around it are valid."""
    return store.refuse([VALID["deposit"], bad, VALID["mark"]], 2, field)


# --- 1. numbers ----------------------------------------------------------------------------

NUMBERS = [
    pytest.param(deposit(amount="1e52"), "amount", id="exponent-1e52"),
    pytest.param(deposit(amount="1e-50"), "amount", id="exponent-1e-50"),
    pytest.param(fill(price="1" * 120), "price", id="price-of-120-digits"),
    pytest.param(mark(price="1" * 120), "price", id="mark-of-120-digits"),
    pytest.param(deposit(amount="1_000"), "amount", id="underscore"),
    pytest.param(deposit(amount="\u0661\u0660\u0660"), "amount", id="arabic-indic-digits"),
    pytest.param(deposit(amount="\uff11\uff10"), "amount", id="fullwidth-digits"),
    pytest.param(deposit(amount=" +1E+2 "), "amount", id="spaces-sign-exponent"),
    pytest.param(deposit(amount="+1"), "amount", id="plus-sign"),
    pytest.param(deposit(amount="-1"), "amount", id="negative-amount"),
    pytest.param(mark(price="-50000"), "price", id="negative-price"),
    pytest.param(fill(quantity="-0.1"), "quantity", id="negative-quantity"),
    pytest.param(deposit(amount="-0"), "amount", id="minus-zero"),
    pytest.param(deposit(amount="NaN"), "amount", id="NaN"),
    pytest.param(deposit(amount="Infinity"), "amount", id="Infinity"),
    pytest.param(mark(price="inf"), "price", id="inf"),
    pytest.param('{"op": "deposit", "account": "A", "asset": "BTC", "amount": 1}', "amount", id="json-integer"),
    pytest.param('{"op": "deposit", "account": "A", "asset": "BTC", "amount": 0.5}', "amount", id="json-fraction"),
    pytest.param('{"op": "deposit", "account": "A", "asset": "BTC", "amount": 1e52}', "amount", id="json-1e52"),
    pytest.param('{"op": "mark", "asset": "BTC", "price": 1e400}', "price", id="json-1e400"),
    pytest.param('{"op": "deposit", "account": "A", "asset": "BTC", "amount": NaN}', "line", id="json-NaN"),
    pytest.param(
        '{"op": "deposit", "account": "A", "asset": "BTC", "amount": -Infinity}', "line", id="json-minus-Infinity"
    ),
    pytest.param(
        '{"op": "deposit", "account": "A", "asset": "BTC", "amount": ' + "9" * 5000 + "}",
        "line",
        id="json-integer-of-5000-digits",
    ),
    pytest.param(mark(price="1.0000000000000000001"), "price", id="19-decimal-places"),
    pytest.param(mark(price="0." + "0" * 40 + "1"), "price", id="41-decimal-places"),
    pytest.param(deposit(amount="10000000000.00000001"), "amount", id="above-10e10"),
    pytest.param(mark(price="10000000001"), "price", id="price-above-10e10"),
    pytest.param(fill(quantity="1000", price="10000001"), "price", id="fill-worth-above-10e10"),
    pytest.param(
        {"op": "liquidity", "asset": "SUPER", "price": "10001", "quantity": "1000000"},
        "price",
        id="liquidity-worth-above-10e10",
    ),
    pytest.param({**VALID["auto_topup"], "target": "1001"}, "target", id="target-above-1000"),
    pytest.param(
        params(assets={"SUPER": {"hourly_interest": "1e-4"}}), "assets.SUPER.hourly_interest", id="params-rate-exponent"
    ),
    pytest.param(
        params(assets={"SUPER": {"hourly_interest": "1.5"}}), "assets.SUPER.hourly_interest", id="params-rate-above-1"
    ),
]


@pytest.mark.parametrize("bad, field", NUMBERS)
def test_a_number_outside_the_grammar_or_the_bounds_is_refused(store: EdgeStore, bad: Line, field: str) -> None:
    between_valid_lines(store, bad, field)


def test_numbers_at_the_bounds_are_accepted(store: EdgeStore) -> None:
    report = store.run(
        [
            params(assets={"TINY": {"precision": 18, "liquid": False}}),
            {"op": "deposit", "account": "B", "asset": "USDC", "amount": "10000000000"},
            {"op": "deposit", "account": "B", "asset": "TINY", "amount": "0.000000000000000001"},
            {"op": "mark", "asset": "TINY", "price": "0.000000000000000001"},
            {
                "op": "fill",
                "account": "B",
                "side": "buy",
                "base": "BTC",
                "quote": "USDC",
                "quantity": "100000",
                "price": "100000",
            },
        ]
    )
    assert report["rejections"] == []
    assert report["accounts"]["B"]["balances"]["TINY"] == "0.000000000000000001"
    assert report["accounts"]["B"]["balances"]["BTC"] == "100000"


# --- 2. names ------------------------------------------------------------------------------

NAMES = [
    pytest.param(deposit(account="A\u0000"), "account", id="NUL-in-account"),
    pytest.param(open_account("\u0000"), "account", id="NUL-account-opened"),
    pytest.param('{"op": "open", "account": "\\ud800", "mode": "spot"}', "account", id="unpaired-surrogate-opened"),
    pytest.param(
        '{"op": "deposit", "account": "A\\udfff", "asset": "BTC", "amount": "1"}',
        "account",
        id="unpaired-low-surrogate",
    ),
    pytest.param(open_account("X" * 3000), "account", id="3000-characters"),
    pytest.param(open_account("X" * 256), "account", id="256-characters"),
    pytest.param(open_account("A\nB"), "account", id="newline"),
    pytest.param(open_account("A\r"), "account", id="carriage-return"),
    pytest.param(open_account(" A"), "account", id="leading-space"),
    pytest.param(open_account("A "), "account", id="trailing-space"),
    pytest.param(open_account("A\u00a0"), "account", id="trailing-no-break-space"),
    pytest.param(open_account(""), "account", id="empty"),
    pytest.param(open_account("A\u200bB"), "account", id="zero-width-space"),
    pytest.param(open_account("A\u2028B"), "account", id="line-separator"),
    pytest.param(open_account("\ue000"), "account", id="private-use"),
    pytest.param(open_account("\u202eA"), "account", id="right-to-left-override"),
    pytest.param(deposit(asset="btc"), "asset", id="lowercase-asset"),
    pytest.param(deposit(asset="BTC/USDC"), "asset", id="asset-BTC/USDC"),
    pytest.param(deposit(asset="B" * 21), "asset", id="asset-of-21-letters"),
    pytest.param(deposit(asset="\uff22TC"), "asset", id="fullwidth-asset"),
    pytest.param({**VALID["transfer"], "to": "S\u2029"}, "to", id="transfer-to-paragraph-separator"),
    pytest.param({**VALID["auto_topup"], "source": "S\u0000"}, "source", id="auto-topup-source-NUL"),
    pytest.param({**VALID["auto_topup"], "assets": ["usdc"]}, "assets", id="auto-topup-lowercase-asset"),
    pytest.param(deposit(id="k\u0000"), "id", id="NUL-in-id"),
    pytest.param(deposit(id="k" * 3000), "id", id="id-of-3000-characters"),
    pytest.param('{"op": "params", "assets": {"\\ud800": {"precision": 8}}}', None, id="surrogate-asset-declared"),
    pytest.param(params(assets={"super": {"precision": 8}}), "assets.super", id="lowercase-asset-declared"),
    pytest.param(params(valuation_asset="usdc"), "valuation_asset", id="lowercase-valuation-asset"),
    pytest.param({"op": "open", "account": "I2", "mode": "isolated", "pair": "btc/usdc"}, "pair", id="lowercase-pair"),
    pytest.param(
        {"op": "transfer", "from_account": "B", "to_account": "S", "asset": "USDC", "amount": "5"},
        "from",
        id="transfer-from_account-spelling",
    ),
    pytest.param({**VALID["liquidity"], "quote": "SUPER"}, "quote", id="liquidity-quoted-in-itself"),
]


@pytest.mark.parametrize("bad, field", NAMES)
def test_a_malformed_name_is_refused(store: EdgeStore, bad: Line, field: str | None) -> None:
    between_valid_lines(store, bad, field)


def test_a_name_of_255_characters_outside_the_ascii_range_is_kept_as_given(store: EdgeStore) -> None:
    name = "\U0001f600" * 254 + "\u00e9"
    report = store.run([open_account(name), {"op": "deposit", "account": name, "asset": "USDC", "amount": "1"}])
    assert report["accounts"][name]["balances"]["USDC"] == "1"


# --- 3. time -------------------------------------------------------------------------------


def test_a_file_dated_2020_on_a_store_whose_clock_reads_2026_is_refused(store: EdgeStore) -> None:
    store.refuse([deposit(at="2020-06-01T10:00:00Z"), mark()], 1, "at")


@pytest.mark.parametrize(
    "at", ["9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z", "1999-12-31T23:00:00Z", "2100-01-01T00:00:00Z"]
)
def test_a_clock_outside_the_ledger_years_is_refused(store: EdgeStore, at: str) -> None:
    between_valid_lines(store, {"op": "clock", "at": at}, "at")


@pytest.mark.parametrize(
    "at",
    [
        "2026-01-05",
        "2026-01-05T10:00:00+01:00",
        "2026-01-05T11:00:00",
        "2026-01-05 10:00:00Z",
        "2026-01-05T10:00Z",
        "2026-01-05T10:00:00.1234567Z",
        "2026-02-30T10:00:00Z",
        "2026-01-05T10:00:60Z",
        "\u0662\u0660\u0662\u0666-01-05T10:00:00Z",
    ],
)
def test_a_time_not_written_as_an_iso_utc_time_is_refused(store: EdgeStore, at: str) -> None:
    between_valid_lines(store, mark(at=at), "at")


def test_a_jump_of_more_than_366_days_is_refused_naming_its_line(store: EdgeStore) -> None:
    store.refuse(
        [
            {"op": "clock", "at": "2026-04-15T10:00:00Z"},
            deposit(),
            {"op": "clock", "at": "2027-04-18T10:00:00Z"},
            deposit(),
        ],
        3,
        "at",
    )
    store.refuse([deposit(), {"op": "clock", "at": "2027-01-07T10:00:00Z"}], 2, "at")  # 367 days after the store's


def test_the_first_line_without_at_takes_the_store_clock(store: EdgeStore) -> None:
    # Line 1 is at the store's clock (T0): a minute before it is going back in time.
    store.refuse([deposit(), mark(at="2026-01-05T09:59:00Z")], 2, "at")
    store.run([{"op": "deposit", "account": "S", "asset": "USDC", "amount": "3"}])
    history = ledger("history", "S", "--store", store.url, "--json")
    assert history.exit_code == 0, history.stderr
    events = json.loads(history.stdout)["events"]
    assert events[-1]["event"].endswith("Deposited") and events[-1]["at"] == T0


def test_a_jump_of_300_days_is_accepted(store_url: str, tmp_path: Path) -> None:
    fresh = EdgeStore(store_url, tmp_path)
    fresh.run([{"op": "clock", "at": "2026-11-01T10:00:00Z"}])
    # The store's clock moved: the old time is now the past.
    fresh.refuse([mark(at="2026-01-06T10:00:00Z")], 1, "at")


# --- 4. files ------------------------------------------------------------------------------


def test_a_line_not_in_utf8_is_refused_naming_it(store: EdgeStore) -> None:
    store.refuse(
        [
            VALID["deposit"],
            VALID["mark"],
            b'{"op": "deposit", "account": "A\xff", "asset": "BTC", "amount": "1"}',
            VALID["mark"],
        ],
        3,
        "line",
    )


def test_json_nested_1000_deep_is_refused(store: EdgeStore) -> None:
    between_valid_lines(store, '{"op": "params", "assets": ' + "[" * 1000 + "]" * 1000 + "}", "line")


def test_json_nested_at_every_depth_is_refused_without_a_traceback(store: EdgeStore) -> None:
    """Depths 1 to 1,100, one a line: none may pass the reading only to fail deeper in the
    stack (a digest, a message quoting it) once Python's recursion limit is near."""
    depths = range(1, 1101)
    lines = [
        '{"op": "params", "assets": {"SUPER": {"liquid": ' + "[" * depth + "true" + "]" * depth + "}}}"
        for depth in depths
    ]
    snapshot = store_snapshot(store.url)
    result = run_file(store.url, write_lines(store.path(), lines))
    assert result.exit_code == 2 and result.stdout == "", (result.exit_code, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    found = error_lines(result.stderr)
    assert [int(text.split(":")[0].removeprefix("line ")) for text in found] == list(range(1, len(depths) + 1))
    assert store_snapshot(store.url) == snapshot


def test_a_parameter_file_nested_at_every_depth_is_refused_without_a_traceback() -> None:
    for depth in range(1, 1101):
        with pytest.raises(InputErrors):
            parse_parameter_file('{"clock": {"max_jump_hours": ' + "[" * depth + "1" + "]" * depth + "}}", "p.json")


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"op": "open", "account": "Q", "mode": "cross_classic", "leverage": "\u00b2"}, id="open"),
        pytest.param({"op": "open", "account": "Q", "mode": "cross_classic", "leverage": "3"}, id="open-as-string"),
        pytest.param({"op": "open", "account": "Q", "mode": "cross_classic", "leverage": 3.0}, id="open-as-float"),
    ],
)
def test_a_leverage_not_written_as_a_json_integer_is_refused(store: EdgeStore, bad: Line) -> None:
    between_valid_lines(store, bad, "leverage")


@pytest.mark.parametrize("key", ["\u00b2", "\u0663", "03", "1", "1001", "", "3.0", " 3"])
def test_a_margin_tier_keyed_by_anything_but_a_leverage_is_refused(store: EdgeStore, key: str) -> None:
    tier = {"margin_call": "1.3", "liquidation": "1.1", "fee": "0.02"}
    between_valid_lines(store, params(margin={"cross_classic": {key: tier}}), f"margin.cross_classic.{key}")


@pytest.mark.parametrize("where", ["scenario", "params"])
def test_dev_zero_is_refused_at_once_not_read_for_ever(tmp_path: Path, where: str) -> None:
    """As a process of its own, with a timeout and a memory limit: a command that reads
    /dev/zero for ever must fail this test, not the machine."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    scenario = "/dev/zero" if where == "scenario" else str(write_lines(tmp_path / "s.jsonl", [VALID["clock"]]))
    extra = ["--params", "/dev/zero"] if where == "params" else []
    done = ledger_process("run", scenario, *extra, "--store", url, "--json", timeout=20)
    errors = assert_refused(done, None)
    assert "/dev/zero" in errors[0]
    assert not (tmp_path / "ledger.db").exists()


def test_a_directory_or_a_missing_file_is_refused(store: EdgeStore) -> None:
    missing = store.directory / "missing.jsonl"
    odd = store.directory / "odd\nname.jsonl"
    scenario = write_lines(store.path(), [VALID["deposit"]])
    snapshot = store_snapshot(store.url)
    for args in (
        ["run", str(store.directory)],
        ["run", str(missing)],
        ["run", str(odd)],
        ["run", str(scenario), "--params", str(missing)],
        ["run", str(scenario), "--params", str(store.directory)],
    ):
        result = ledger(*args, "--store", store.url, "--json")
        errors = assert_refused(result, None)  # one line, though a name holds a newline
        assert "missing.jsonl" in errors[0] or "regular file" in errors[0] or "odd\\nname" in errors[0], errors
    assert store_snapshot(store.url) == snapshot


# --- 5. duplicate keys ----------------------------------------------------------------------

DUPLICATES = [
    pytest.param('{"op": "deposit", "account": "A", "asset": "BTC", "amount": "1", "op": "withdraw"}', id="op"),
    pytest.param('{"op": "deposit", "account": "A", "asset": "BTC", "amount": "1", "amount": "1"}', id="same-value"),
    pytest.param('{"op": "deposit", "account": "A", "account": "B", "asset": "BTC", "amount": "1"}', id="account"),
    pytest.param(duplicated(VALID["params"], ("assets", "SUPER", "precision"), 2), id="inside-params-asset"),
    pytest.param(duplicated(VALID["params"], ("margin", "cross_classic", "5", "fee"), "0.5"), id="inside-a-tier"),
    pytest.param(duplicated(VALID["params"], ("assets",), {}), id="params-assets"),
    pytest.param(
        '{"op": "params", "symbols": {"XUSDT": {"type": "linear", "base": "BTC", "quote": "USDT", '
        '"brackets": [{"cap": "100", "max_leverage": 10, "mmr": "0.01", "mmr": "0.5"}]}}}',
        id="inside-a-bracket",
    ),
]


@pytest.mark.parametrize("bad", DUPLICATES)
def test_a_key_written_twice_is_refused_at_any_depth(store: EdgeStore, bad: str) -> None:
    errors = between_valid_lines(store, bad, "line")
    assert "twice" in errors[0]


# --- 6. parameters ---------------------------------------------------------------------------


def test_a_parameter_file_carrying_op_params_is_accepted(store: EdgeStore) -> None:
    overlay = store.path(".json")
    overlay.write_text(json.dumps({"op": "params", "assets": {"SUPER": {"precision": 8, "liquid": False}}}))
    store.run([VALID["deposit"]], "--params", str(overlay))


PARAMETER_FILES = [
    pytest.param('{"op": "params", "assets": {"SUPER": {"precision": "8"}}}', id="precision-as-string"),
    pytest.param('{"op": "deposit", "account": "A"}', id="another-op"),
    pytest.param('[{"op": "params"}]', id="a-list"),
    pytest.param("", id="empty"),
    pytest.param('{"op": "params"}\n{"op": "params"}', id="two-lines"),
    pytest.param('{"memo": 1}', id="unknown-parameter"),
    pytest.param('{"assets": {"SUPER": {"precision": 8, "precision": 2}}}', id="duplicate-inside"),
    pytest.param('{"assets": {"SUPER": {"hourly_interest": NaN}}}', id="NaN"),
    pytest.param('{"clock": {"max_jump_hours": ' + "[" * 1000 + "]" * 1000 + "}}", id="nested-1000-deep"),
    pytest.param(
        json.dumps(
            {
                "symbols": {
                    "XUSDT": {
                        "type": "linear",
                        "base": "BTC",
                        "quote": "USDT",
                        "brackets": [
                            {"cap": "100", "max_leverage": 10, "mmr": "0.01"},
                            {"cap": "50", "max_leverage": 5, "mmr": "0.02"},
                        ],
                    }
                }
            }
        ),
        id="caps-not-increasing",
    ),
    pytest.param(
        '{"margin": {"cross_classic": {"\u00b2": {"margin_call": "1.3", "liquidation": "1.1", "fee": "0.02"}}}}',
        id="tier-keyed-superscript-two",
    ),
    pytest.param(b'{"assets": {"SUPER": {"precision": 8}}, "valuation_asset": "\xff"}', id="not-utf8"),
]


@pytest.mark.parametrize("text", PARAMETER_FILES)
def test_an_error_in_a_parameter_file_names_the_file(store: EdgeStore, text: str | bytes) -> None:
    overlay = store.path(".json")
    overlay.write_bytes(text if isinstance(text, bytes) else text.encode())
    scenario = write_lines(store.path(), [VALID["deposit"]])
    snapshot = store_snapshot(store.url)
    result = run_file(store.url, scenario, "--params", str(overlay))
    assert result.exit_code == 2 and result.stdout == "", (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    for text_line in error_lines(result.stderr):
        # Named by the file, not as a line of the scenario.
        assert str(overlay) in text_line and not text_line.startswith("line "), text_line
    assert error_lines(result.stderr)
    assert store_snapshot(store.url) == snapshot


def symbol(**changes: Any) -> dict[str, Any]:
    spec = {
        "type": "linear",
        "base": "BTC",
        "quote": "USDT",
        "clearance_fee": "0.0125",
        "brackets": [
            {"cap": "50000", "max_leverage": 125, "mmr": "0.004"},
            {"cap": "600000", "max_leverage": 100, "mmr": "0.005"},
        ],
    }
    return params(symbols={"XUSDT": {key: value for key, value in {**spec, **changes}.items() if value is not None}})


def brackets(*rows: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"cap": "50000", "max_leverage": 125, "mmr": "0.004", **row} for row in rows]


SYMBOLS = [
    pytest.param(
        symbol(brackets=brackets({"cap": "100"}, {"cap": "50"})),
        "symbols.XUSDT.brackets.1.cap",
        id="caps-not-increasing",
    ),
    pytest.param(
        symbol(brackets=brackets({"cap": "100"}, {"cap": "100"})), "symbols.XUSDT.brackets.1.cap", id="caps-equal"
    ),
    pytest.param(
        symbol(brackets=brackets({"max_leverage": 12.5})),
        "symbols.XUSDT.brackets.0.max_leverage",
        id="max-leverage-not-an-integer",
    ),
    pytest.param(
        symbol(brackets=brackets({"max_leverage": "125"})),
        "symbols.XUSDT.brackets.0.max_leverage",
        id="max-leverage-a-string",
    ),
    pytest.param(
        symbol(brackets=brackets({"max_leverage": True})),
        "symbols.XUSDT.brackets.0.max_leverage",
        id="max-leverage-a-boolean",
    ),
    pytest.param(
        symbol(brackets=brackets({"max_leverage": 0})), "symbols.XUSDT.brackets.0.max_leverage", id="max-leverage-0"
    ),
    pytest.param(symbol(brackets=brackets({"mmr": "0"})), "symbols.XUSDT.brackets.0.mmr", id="mmr-0"),
    pytest.param(symbol(brackets=brackets({"mmr": "1"})), "symbols.XUSDT.brackets.0.mmr", id="mmr-1"),
    pytest.param(
        symbol(brackets=brackets({"cap": "100", "mmr": "0.01"}, {"cap": "200", "mmr": "0.005"})),
        "symbols.XUSDT.brackets.1.mmr",
        id="mmr-falling",
    ),
    pytest.param(
        symbol(brackets=brackets({"cap": "9223372036854775808"})),
        "symbols.XUSDT.brackets.0.cap",
        id="cap-beyond-no-cap",
    ),
    pytest.param(
        symbol(brackets=brackets({"leverage": 5})), "symbols.XUSDT.brackets.0.leverage", id="unknown-bracket-field"
    ),
    pytest.param(
        symbol(brackets=[{"cap": "100", "max_leverage": 10}]), "symbols.XUSDT.brackets.0.mmr", id="bracket-without-mmr"
    ),
    pytest.param(symbol(margin_type="cross"), "symbols.XUSDT.margin_type", id="unknown-symbol-field"),
    pytest.param(symbol(brackets=None), "symbols.XUSDT.brackets", id="missing-brackets"),
    pytest.param(symbol(brackets=[]), "symbols.XUSDT.brackets", id="empty-brackets"),
    pytest.param(symbol(brackets={"cap": "100"}), "symbols.XUSDT.brackets", id="brackets-not-a-list"),
    pytest.param(symbol(type=None), "symbols.XUSDT.type", id="missing-type"),
    pytest.param(symbol(type="perpetual"), "symbols.XUSDT.type", id="unknown-type"),
    pytest.param(symbol(quote=None), "symbols.XUSDT.quote", id="linear-without-quote"),
    pytest.param(symbol(type="inverse", quote=None), "symbols.XUSDT.contract_size", id="inverse-without-contract-size"),
    pytest.param(symbol(contract_size="100"), "symbols.XUSDT.contract_size", id="linear-with-contract-size"),
    pytest.param(symbol(base="NOPE"), "symbols.XUSDT.base", id="undeclared-base"),
    pytest.param(symbol(base="btc"), "symbols.XUSDT.base", id="lowercase-base"),
    pytest.param(symbol(clearance_fee="1e-2"), "symbols.XUSDT.clearance_fee", id="fee-with-exponent"),
    pytest.param(params(symbols={"xusdt": {}}), "symbols.xusdt", id="lowercase-symbol"),
    pytest.param(params(symbols={"XUSDT": []}), "symbols.XUSDT", id="symbol-not-an-object"),
]


@pytest.mark.parametrize("bad, field", SYMBOLS)
def test_a_symbol_is_validated_whole_in_a_params_line(store: EdgeStore, bad: Line, field: str) -> None:
    between_valid_lines(store, bad, field)


def test_a_complete_symbol_is_accepted(store: EdgeStore) -> None:
    store.run([symbol()])


# --- after all this, the store still works ---------------------------------------------------------


def test_the_store_still_works_after_refused_files(store: EdgeStore) -> None:
    """Refused files of every kind, then a valid run, `reconcile` and `history`."""
    between_valid_lines(store, deposit(amount="1e52"), "amount")
    between_valid_lines(store, open_account("\ud800"), "account")
    between_valid_lines(store, open_account("X" * 3000), "account")
    between_valid_lines(store, deposit(asset="btc"), "asset")
    between_valid_lines(store, {"op": "clock", "at": "9999-12-31T00:00:00Z"}, "at")
    between_valid_lines(
        store, '{"op": "deposit", "account": "A", "asset": "BTC", "amount": "1", "op": "withdraw"}', "line"
    )
    store.refuse([VALID["deposit"], b'{"op": "mark", "asset": "BTC\xc3", "price": "1"}'], 2, "line")
    report = store.run(
        [
            VALID["deposit"],
            open_account("Z"),
            {"op": "transfer", "from": "B", "to": "Z", "asset": "USDC", "amount": "5"},
            VALID["mark"],
        ]
    )
    assert report["rejections"] == []
    assert report["accounts"]["Z"]["balances"]["USDC"] == "5"
    reconciled = ledger("reconcile", "--store", store.url, "--json")
    assert reconciled.exit_code == 0, reconciled.stdout[-3000:]
    history = ledger("history", "Z", "--store", store.url, "--json")
    assert history.exit_code == 0, history.stderr
    assert "Account.TransferredIn" in [event["event"] for event in json.loads(history.stdout)["events"]]
