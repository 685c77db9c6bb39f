"""Malformed lines of every kind, found by hypothesis (issue 9).

A valid line of every op (`malformed.VALID`) is broken one way: a required field dropped,
an unknown field added or a field renamed, a value replaced by one of the wrong type, a
bad decimal, a bad name, a bad time or a bad op, a key written twice (at any depth), the
JSON cut short, a byte that is not UTF-8, objects and lists nested too deep. The broken
line is put among valid lines in a file applied to a store that an earlier valid run made.
Whatever the break:

- `ledger run` exits 2, prints nothing on standard output and no traceback, and every
  line on standard error is an error naming the broken line (and, where the break has
  one, its field);
- the store is as it was: SQLite byte for byte (the database file and its write-ahead
  log), PostgreSQL row for row (every table of its schema);
- the same file with the original line in place of the broken one then runs (exit 0), so
  the store still works, and the error was the break's.

Most examples run the command in this process on SQLite; a few run on PostgreSQL, and
three fixed ones as processes of their own. `MALFORMED_EXAMPLES` (environment) runs a
longer search than the default 60.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from tests.conftest import BACKENDS
from tests.integration.malformed import (
    ACCOUNT_FIELDS,
    ASSET_FIELDS,
    BAD_ASSETS,
    BAD_BYTES,
    BAD_DECIMALS,
    BAD_NAMES,
    BAD_TIMES,
    BASE,
    DECIMAL_FIELDS,
    OPS,
    REQUIRED,
    UNKNOWN_ACCOUNT,
    UNKNOWN_ASSET,
    UNKNOWN_KEYS,
    VALID,
    WRONG_ASSET_LISTS,
    WRONG_LEVERAGES,
    WRONG_TYPES,
    Mutation,
    assert_ok,
    assert_refused,
    dropped,
    dumps,
    duplicated,
    field_name,
    frozen_heap,
    ledger_process,
    line_bytes,
    replaced,
    run_file,
    store_snapshot,
    write_lines,
)

EXAMPLES = int(os.environ.get("MALFORMED_EXAMPLES", "30"))
POSTGRES_EXAMPLES = 6
OPTIONAL_FIELDS = {"leverage", "quote", "target", "id", "at", "symbol"}  # null is valid there
BAD_OPS: list[Any] = [
    "teleport",
    "Deposit",
    "DEPOSIT",
    " deposit",
    "deposit\u0000",
    "",
    "Trade",
    "fund",
    5,
    None,
    ["deposit"],
    {"op": "deposit"},
]
BAD_LITERALS: dict[str, list[Any]] = {
    "mode": ["spot", "cross_classic", "cross_pro", "usdm", "coinm", "margin", "ISOLATED", "", 5],
    "side": ["hold", "BUY", "", 1, None],
    "pair": ["BTC-USDC", "BTC/BTC", "btc/usdc", "BTC/NOPE", "BTC/USDC/ETH", "/", "BTC/", 5, ["BTC", "USDC"]],
}
BAD_LITERALS_BY_OP = {"open": ["mode", "pair", "leverage"], "fill": ["side"], "auto_topup": ["assets"]}
RENAMED = {
    "from": "from_account",
    "to": "to_account",
    "account": "Account",
    "amount": "amt",
    "asset": "asset_",
    "price": "Price",
    "quantity": "qty",
    "at": "time",
    "op": "type",
    "source": "from",
}
PARAMS_DUPLICABLE = [
    ("assets",),
    ("assets", "SUPER"),
    ("assets", "SUPER", "precision"),
    ("margin",),
    ("margin", "cross_classic", "5"),
    ("margin", "cross_classic", "5", "fee"),
    ("auto_topup", "target"),
]
PARAMS_WRONG: list[tuple[tuple[Any, ...], list[Any]]] = [
    (("assets",), [5, [], "SUPER", None]),
    (("assets", "SUPER"), [5, [], "x", None]),
    (("assets", "SUPER", "precision"), ["8", 8.0, True, -1, 19, None]),
    (("assets", "SUPER", "liquid"), ["false", 0, None]),
    (("margin",), [5, [], None]),
    (("margin", "cross_classic"), [5, [], None]),
    (("margin", "cross_classic", "5"), [5, [], None, {"fee": "-1"}]),
    (("auto_topup",), [5, [], None]),
]


# --- the strategy: a valid line of an op, broken one way ------------------------------------


def _paths(op: str, table: dict[str, list[Any]]) -> list[Any]:
    return list(table.get(op, []))


@st.composite
def mutations(draw: st.DrawFn, ops: tuple[str, ...] = OPS) -> Mutation:
    op = draw(st.sampled_from(ops))
    line = VALID[op]
    kinds = [
        "drop",
        "unknown",
        "rename",
        "wrong_type",
        "bad_time",
        "bad_id",
        "bad_op",
        "duplicate",
        "truncate",
        "bad_utf8",
        "deep",
    ]
    if op in DECIMAL_FIELDS:
        kinds.append("bad_decimal")
    if op in ACCOUNT_FIELDS or op in ASSET_FIELDS:
        kinds.append("bad_name")
    if op in BAD_LITERALS_BY_OP:
        kinds.append("bad_literal")
    if op == "params":
        kinds.append("params_value")
    if op == "fill":
        kinds.append("value_beyond_bound")
    kind = draw(st.sampled_from(kinds))
    return MUTATORS[kind](draw, op, line)


def _drop(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    field = draw(st.sampled_from(REQUIRED[op]))
    return Mutation(op, "drop", dumps(dropped(line, field)), field, f"without {field}")


def _unknown(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    key = draw(st.sampled_from(UNKNOWN_KEYS))
    value = draw(st.sampled_from(["1", 1, None, True, [], {}]))
    paths: list[tuple[str, ...]] = [()]
    if op == "params":
        paths += [("assets", "SUPER"), ("margin", "cross_classic", "5"), ("auto_topup",)]
    path = draw(st.sampled_from(paths))
    broken = replaced(line, (*path, key), value)
    # An error names the field as it was written (escaped where it is not printable text).
    shown = ".".join((*path, key))
    field = shown if shown.isascii() and shown.isprintable() and len(shown) < 200 else None
    return Mutation(op, "unknown", dumps(broken), field, f"{shown!r} = {value!r} added")


def _rename(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    field = draw(st.sampled_from([key for key in line if key in RENAMED and key in REQUIRED[op]]))
    renamed = {RENAMED[key] if key == field else key: value for key, value in line.items()}
    return Mutation(op, "rename", dumps(renamed), field, f"{field} written {RENAMED[field]!r}")


def _wrong_type(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    field = draw(st.sampled_from(sorted(line)))
    values = list(WRONG_TYPES)
    if field not in OPTIONAL_FIELDS:
        values.append(None)
    if field == "leverage":
        values = list(WRONG_LEVERAGES)
    elif field == "assets" and op == "auto_topup":
        values = list(WRONG_ASSET_LISTS) + [5, "x", None]
    elif field in ("assets", "margin", "auto_topup") and op == "params":
        values = [5, "x", [], [1], True]
    value = draw(st.sampled_from(values))
    return Mutation(op, "wrong_type", dumps(replaced(line, field, value)), field, f"{field} = {value!r}")


def _bad_decimal(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    path = draw(st.sampled_from(_paths(op, DECIMAL_FIELDS)))
    values = [value for value in BAD_DECIMALS if not (value is None and field_name(path) in OPTIONAL_FIELDS)]
    if path in ("amount", "quantity"):
        values.append("0.000000001")  # beyond the asset's precision (8)
    value = draw(st.sampled_from(values))
    return Mutation(
        op, "bad_decimal", dumps(replaced(line, path, value)), field_name(path), f"{field_name(path)} = {value!r}"
    )


def _bad_name(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    choices = [(path, "account") for path in _paths(op, ACCOUNT_FIELDS)]
    choices += [(path, "asset") for path in _paths(op, ASSET_FIELDS)]
    path, kind = draw(st.sampled_from(choices))
    name = field_name(path)
    values: list[tuple[Any, str]]  # (the name, the field its error names)
    if kind == "account":
        values = [(value, name) for value in BAD_NAMES]
        if op != "open":
            values.append((UNKNOWN_ACCOUNT, name))
        if op == "transfer":  # one account twice: refused on `to`
            values.append((line["from"] if name == "to" else line["to"], "to"))
        if op == "auto_topup":  # a spot account to top up, a margin account as the source
            values.append(("S" if name == "account" else "A", name))
    else:
        values = [(value, name) for value in [*BAD_ASSETS, UNKNOWN_ASSET] if not (value is None and name == "quote")]
        if name == "quote":  # quoted in itself
            values.append((line["base"] if op == "fill" else line["asset"], name))
        if op == "auto_topup":  # ranked twice
            values.append((line["assets"][1], name))
    value, field = draw(st.sampled_from(values))
    return Mutation(op, "bad_name", dumps(replaced(line, path, value)), field, f"{name} = {value!r}")


def _bad_time(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    value = draw(st.sampled_from(BAD_TIMES))
    return Mutation(op, "bad_time", dumps({**line, "at": value}), "at", f"at = {value!r}")


def _bad_id(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    value = draw(st.sampled_from([name for name in BAD_NAMES if name is not None]))
    return Mutation(op, "bad_id", dumps({**line, "id": value}), "id", f"id = {value!r}")


def _bad_op(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    value = draw(st.sampled_from(BAD_OPS))
    return Mutation(op, "bad_op", dumps({**line, "op": value}), "op", f"op = {value!r}")


def _bad_literal(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    field = draw(st.sampled_from(BAD_LITERALS_BY_OP[op]))
    values = WRONG_LEVERAGES if field == "leverage" else WRONG_ASSET_LISTS if field == "assets" else BAD_LITERALS[field]
    value = draw(st.sampled_from(values))
    # A mode that takes no pair or no leverage is refused on those fields, not on `mode`.
    expected = None if field == "mode" else field
    return Mutation(op, "bad_literal", dumps(replaced(line, field, value)), expected, f"{field} = {value!r}")


def _duplicate(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    paths = [(key,) for key in line] + (PARAMS_DUPLICABLE if op == "params" else [])
    path = draw(st.sampled_from(paths))
    target: Any = line
    for part in path:
        target = target[part]
    second = draw(st.sampled_from([target, "withdraw", "1", 1, None]))
    return Mutation(op, "duplicate", duplicated(line, path, second), "line", f"{'.'.join(path)} twice, then {second!r}")


def _truncate(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    text = dumps(line)
    cut = draw(st.integers(1, len(text) - 1))
    return Mutation(op, "truncate", text[:cut], "line", f"cut after {cut} of {len(text)} characters")


def _bad_utf8(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    data = line_bytes(dumps(line))
    at = draw(st.integers(0, len(data)))
    bad = draw(st.sampled_from(BAD_BYTES))
    return Mutation(op, "bad_utf8", data[:at] + bad + data[at:], "line", f"{bad!r} at byte {at}")


def _deep(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    field = draw(st.sampled_from(sorted(line)))
    depth = draw(st.one_of(st.integers(33, 64), st.integers(900, 1100), st.sampled_from([1000, 5000])))
    # Written as text: encoding a value that deep would exceed the recursion limit here too.
    text = dumps(replaced(line, field, DEEP_MARK)).replace(json.dumps(DEEP_MARK), nested_text(depth))
    return Mutation(op, "deep", text, "line", f"{field} nested {depth} deep")


DEEP_MARK = "\u0001deep\u0001"


def nested_text(depth: int) -> str:
    return "[" * depth + '"1"' + "]" * depth


def _params_value(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    path, values = draw(st.sampled_from(PARAMS_WRONG))
    value = draw(st.sampled_from(values))
    expected = ".".join((*path, "fee")) if isinstance(value, dict) else ".".join(path)
    return Mutation(op, "params_value", dumps(replaced(line, path, value)), expected, f"{'.'.join(path)} = {value!r}")


def _value_beyond_bound(draw: st.DrawFn, op: str, line: dict[str, Any]) -> Mutation:
    quantity = draw(st.sampled_from(["200001", "10000000000", "1000000"]))
    broken = {**line, "quantity": quantity, "price": draw(st.sampled_from(["50001", "10000000000", "1000000"]))}
    return Mutation(
        op, "value_beyond_bound", dumps(broken), "price", f"fill of {broken['quantity']} at {broken['price']}"
    )


MUTATORS = {
    "drop": _drop,
    "unknown": _unknown,
    "rename": _rename,
    "wrong_type": _wrong_type,
    "bad_decimal": _bad_decimal,
    "bad_name": _bad_name,
    "bad_time": _bad_time,
    "bad_id": _bad_id,
    "bad_op": _bad_op,
    "bad_literal": _bad_literal,
    "duplicate": _duplicate,
    "truncate": _truncate,
    "bad_utf8": _bad_utf8,
    "deep": _deep,
    "params_value": _params_value,
    "value_beyond_bound": _value_beyond_bound,
}

valid_lines = st.lists(st.sampled_from(OPS).map(lambda op: VALID[op]), max_size=3)


# --- the property ---------------------------------------------------------------------------


class Store:
    """A store BASE was applied to by a valid run, and the files run on it since."""

    def __init__(self, url: str, directory: Path):
        self.url = url
        self.directory = directory
        self.files = itertools.count(1)
        assert_ok(run_file(url, write_lines(directory / "base.jsonl", list(BASE))))

    def check(self, before: list[dict[str, Any]], mutation: Mutation, after: list[dict[str, Any]]) -> None:
        """The file with the broken line is refused whole; with the original line, it runs."""
        note(f"{mutation.op}: {mutation.kind}: {mutation.how}")
        note(f"line: {mutation.line!r}"[:3000])
        path = self.directory / f"case-{next(self.files)}.jsonl"
        snapshot = store_snapshot(self.url)
        result = run_file(self.url, write_lines(path, [*before, mutation.line, *after]))
        assert_refused(result, len(before) + 1, mutation.field)
        assert store_snapshot(self.url) == snapshot, "a refused file changed the store"
        assert_ok(run_file(self.url, write_lines(path, [*before, VALID[mutation.op], *after])))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(before=valid_lines, mutation=mutations(), after=valid_lines)
def test_a_malformed_line_is_refused_and_changes_nothing_sqlite(
    sqlite_store: Store, before: list[dict[str, Any]], mutation: Mutation, after: list[dict[str, Any]]
) -> None:
    sqlite_store.check(before, mutation, after)


@pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL not among LEDGER_TEST_BACKENDS")
# No shrinking: each try opens connections to the server the other tests share.
@settings(
    max_examples=POSTGRES_EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(before=valid_lines, mutation=mutations(), after=valid_lines)
def test_a_malformed_line_is_refused_and_changes_nothing_postgres(
    postgres_store: Store, before: list[dict[str, Any]], mutation: Mutation, after: list[dict[str, Any]]
) -> None:
    postgres_store.check(before, mutation, after)


@pytest.fixture(scope="module")
def sqlite_store() -> Any:
    with tempfile.TemporaryDirectory() as directory, frozen_heap():
        yield Store(f"sqlite:///{Path(directory) / 'ledger.db'}", Path(directory))


@pytest.fixture(scope="module")
def postgres_store(postgres_database: str) -> Any:
    with tempfile.TemporaryDirectory() as directory, frozen_heap():
        yield Store(f"{postgres_database}?schema=m_{uuid.uuid4().hex[:12]}", Path(directory))


# --- three fixed ones, as processes of their own ----------------------------------------------

FIXED = [
    pytest.param(
        Mutation(
            "deposit",
            "duplicate",
            '{"op": "deposit", "account": "A", "asset": "BTC", "amount": "1", "op": "withdraw"}',
            "line",
            "op twice",
        ),
        id="duplicate-op",
    ),
    pytest.param(
        Mutation(
            "params",
            "duplicate",
            duplicated(VALID["params"], ("assets", "SUPER", "precision"), 2),
            "line",
            "precision twice, inside params",
        ),
        id="duplicate-inside-params",
    ),
    pytest.param(
        Mutation(
            "transfer",
            "bad_utf8",
            b'{"op": "transfer", "from": "B", "to": "S\xff", "asset": "USDC", "amount": "5"}',
            "line",
            "0xff in a name",
        ),
        id="not-utf8",
    ),
]


@pytest.mark.parametrize("mutation", FIXED)
def test_a_malformed_line_is_refused_by_the_command_as_a_process(tmp_path: Path, mutation: Mutation) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    Store(url, tmp_path)
    before = [VALID["deposit"], VALID["mark"]]
    snapshot = store_snapshot(url)
    path = write_lines(tmp_path / "case.jsonl", [*before, mutation.line, VALID["clock"]])
    done = ledger_process("run", str(path), "--store", url, "--json")
    assert_refused(done, len(before) + 1, mutation.field)
    assert store_snapshot(url) == snapshot


@pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL not among LEDGER_TEST_BACKENDS")
def test_a_malformed_line_is_refused_by_a_process_on_postgres(postgres_store: Store) -> None:
    """One refused file as a process on PostgreSQL; then the same file, mended, runs."""
    path = write_lines(
        postgres_store.directory / "process.jsonl",
        [VALID["deposit"], '{"op": "mark", "asset": "BTC", "price": "50000", "price": "1"}'],
    )
    snapshot = store_snapshot(postgres_store.url)
    assert_refused(ledger_process("run", str(path), "--store", postgres_store.url, "--json"), 2, "line")
    assert store_snapshot(postgres_store.url) == snapshot
    write_lines(path, [VALID["deposit"], VALID["mark"]])
    assert_ok(ledger_process("run", str(path), "--store", postgres_store.url, "--json"))
