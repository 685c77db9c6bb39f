"""Malformed inputs (issue 9): what the tests of refused files share.

- `ledger(...)`: the real `ledger` command run in this process (typer's runner), so that
  hundreds of files cost no process start-up each; `ledger_process(...)` runs it as a
  process of its own, with a timeout.
- `store_snapshot(url)`: the store as bytes (SQLite: the database file and its write-ahead
  log) or as rows (PostgreSQL: every table of the store's schema, counted and digested row
  by row), to prove that a refused run wrote nothing.
- `assert_refused(...)`: exit 2, nothing on standard output, no traceback, and every line
  on standard error an error naming the expected line (`line N: FIELD: message`).
- `BASE` and `valid_line(op)`: a store's first file, and a valid line of every op in the
  context it leaves (repeatable: no `at` but the clock's, which stays at `T0`).
- `Mutation`s: the ways a valid line is broken, each with the field its error names.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from typer.testing import CliRunner

from ledger.entrypoints.cli import app

T0 = "2026-01-05T10:00:00Z"
SQLITE_PREFIX = "sqlite:///"

# The store every test starts from: accounts A (cross margin, 5x), B and S (spot), an
# undeclared-by-default asset SUPER, and marks. Its clock reads T0.
BASE: list[dict[str, Any]] = [
    {"op": "params", "at": T0, "assets": {"SUPER": {"precision": 8, "liquid": False}}},
    {"op": "open", "account": "A", "mode": "cross_classic", "leverage": 5},
    {"op": "open", "account": "B", "mode": "spot"},
    {"op": "open", "account": "S", "mode": "spot"},
    {"op": "deposit", "account": "A", "asset": "BTC", "amount": "2"},
    {"op": "deposit", "account": "B", "asset": "USDC", "amount": "100000"},
    {"op": "deposit", "account": "S", "asset": "USDC", "amount": "1000"},
    {"op": "mark", "asset": "BTC", "price": "50000"},
    {"op": "mark", "asset": "SUPER", "price": "1"},
]

# A valid line of every spot-margin op, in the context BASE leaves; each may be applied
# again and again (a business rejection, e.g. an account opened twice, is not an error).
VALID: dict[str, dict[str, Any]] = {
    "open": {"op": "open", "account": "N", "mode": "isolated", "leverage": 3, "pair": "BTC/USDC"},
    "deposit": {"op": "deposit", "account": "A", "asset": "BTC", "amount": "0.5"},
    "withdraw": {"op": "withdraw", "account": "B", "asset": "USDC", "amount": "10"},
    "transfer": {"op": "transfer", "from": "B", "to": "S", "asset": "USDC", "amount": "5"},
    "borrow": {"op": "borrow", "account": "A", "asset": "USDC", "amount": "100"},
    "repay": {"op": "repay", "account": "A", "asset": "USDC", "amount": "1"},
    "fill": {
        "op": "fill",
        "account": "A",
        "side": "buy",
        "base": "BTC",
        "quote": "USDC",
        "quantity": "0.001",
        "price": "50000",
    },
    "mark": {"op": "mark", "asset": "BTC", "price": "50000", "quote": "USDC"},
    "liquidity": {"op": "liquidity", "asset": "SUPER", "price": "0.5", "quantity": "100", "quote": "USDC"},
    "clock": {"op": "clock", "at": T0},
    "auto_topup": {"op": "auto_topup", "account": "A", "source": "S", "assets": ["USDC", "BTC"], "target": "1.5"},
    "params": {
        "op": "params",
        "assets": {"SUPER": {"precision": 8, "liquid": False, "hourly_interest": "0.00001", "pro_mmr": "0.05"}},
        "margin": {"cross_classic": {"5": {"margin_call": "1.16", "liquidation": "1.1", "fee": "0.02"}}},
        "auto_topup": {"target": "1.5"},
    },
}
OPS = tuple(VALID)

# Fields whose absence is an error (every op needs `op`; a mark without `asset` names nothing).
REQUIRED: dict[str, tuple[str, ...]] = {
    "open": ("op", "account", "mode", "pair"),
    "deposit": ("op", "account", "asset", "amount"),
    "withdraw": ("op", "account", "asset", "amount"),
    "transfer": ("op", "from", "to", "asset", "amount"),
    "borrow": ("op", "account", "asset", "amount"),
    "repay": ("op", "account", "asset", "amount"),
    "fill": ("op", "account", "side", "base", "quote", "quantity", "price"),
    "mark": ("op", "asset", "price"),
    "liquidity": ("op", "asset", "price", "quantity"),
    "clock": ("op", "at"),
    "auto_topup": ("op", "account", "source", "assets"),
    "params": ("op",),
}
# Where a value is a name, a decimal (> 0), ... : (path in the line, kind). A path is a
# tuple of keys; `("assets", 0)` is the first asset ranked by an auto top-up.
ACCOUNT_FIELDS = {
    "open": ["account"],
    "deposit": ["account"],
    "withdraw": ["account"],
    "transfer": ["from", "to"],
    "borrow": ["account"],
    "repay": ["account"],
    "fill": ["account"],
    "auto_topup": ["account", "source"],
}
ASSET_FIELDS = {
    "deposit": ["asset"],
    "withdraw": ["asset"],
    "transfer": ["asset"],
    "borrow": ["asset"],
    "repay": ["asset"],
    "fill": ["base", "quote"],
    "mark": ["asset", "quote"],
    "liquidity": ["asset", "quote"],
    "auto_topup": [("assets", 0)],
}
DECIMAL_FIELDS = {
    "deposit": ["amount"],
    "withdraw": ["amount"],
    "transfer": ["amount"],
    "borrow": ["amount"],
    "repay": ["amount"],
    "fill": ["quantity", "price"],
    "mark": ["price"],
    "liquidity": ["price", "quantity"],
    "auto_topup": ["target"],
    "params": [
        ("assets", "SUPER", "pro_mmr"),
        ("margin", "cross_classic", "5", "margin_call"),
        ("margin", "cross_classic", "5", "liquidation"),
        ("auto_topup", "target"),
    ],
}
# Every field any input has: an "unknown field" is none of these.
KNOWN_FIELDS = {
    "op",
    "id",
    "at",
    "account",
    "mode",
    "leverage",
    "pair",
    "asset",
    "from",
    "to",
    "amount",
    "side",
    "base",
    "quote",
    "quantity",
    "price",
    "symbol",
    "source",
    "assets",
    "target",
    "valuation_asset",
    "margin",
    "symbols",
    "auto_topup",
    "clock",
}

# Decimals the format refuses in a field that must be > 0 (and at most 10^10, 18 places).
BAD_DECIMALS: list[Any] = [
    "1e52",
    "1e-50",
    "1" * 120,
    "1_000",
    "\u0661\u0660\u0660",
    " +1E+2 ",
    "+1",
    "-1",
    "0",
    "-0",
    "NaN",
    "Infinity",
    "-Infinity",
    "0." + "1" * 19,
    "10000000001",
    "",
    ".5",
    "5.",
    "0x10",
    "1,5",
    "1 000",
    "\uff11",
    "01",
    "--1",
    "1.5e3",
    "\u0000",
    1,
    0.5,
    1e52,
    True,
    None,
]
# Names the format refuses (of an account, a source, an id).
BAD_NAMES: list[Any] = [
    "A\u0000",
    "\ud800",
    "X" * 3000,
    "A\nB",
    " A",
    "A ",
    "",
    "\u200b",
    "A\u2028",
    "\ue000",
    "A\u007f",
    "\t",
    5,
    ["A"],
    {"name": "A"},
    None,
]
BAD_ASSETS: list[Any] = ["btc", "BTC/USDC", "", "B TC", "\uff22TC", "A" * 21, "BTC\u0000", "\ud800", 5, ["BTC"], None]
# Names well written but unknown to the store: an input error as well.
UNKNOWN_ACCOUNT, UNKNOWN_ASSET = "NOBODY", "NOPE"
BAD_TIMES: list[Any] = [
    "2026-01-05",
    "2026-01-05T10:00:00+01:00",
    "2026-01-05T10:00:00",
    "9999-12-31T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "1999-12-31T23:00:00Z",
    "2026-01-05T09:59:59Z",
    "2020-01-05T10:00:00Z",
    "2027-01-07T10:00:00Z",
    "2026-02-30T10:00:00Z",
    "2026-01-05T10:00:00.1234567Z",
    "2026-01-05 10:00:00Z",
    "2026-01-05T10:00:00z",
    "2026-01-05T24:00:00Z",
    "",
    "now",
    20260105,
    ["2026-01-05T10:00:00Z"],
]
# Values of the wrong JSON type for a string field (null only where the field is required).
WRONG_TYPES: list[Any] = [5, 1.5, True, [], {}, ["x"], {"x": 1}]
WRONG_LEVERAGES: list[Any] = ["3", 3.0, True, "\u00b2", [3], 1, 0, -3, 7, 10**30]
WRONG_ASSET_LISTS: list[Any] = ["USDC", {}, [], ["USDC", "USDC"], ["USDC", "BTC", "ETH", "USDT"], [None]]
UNKNOWN_KEYS = ["memo", "Amount", "amount ", "\u0000", "k" * 300, "from_account", "op2", "\ud800", "ACCOUNT"]
assert not KNOWN_FIELDS & set(UNKNOWN_KEYS)
BAD_BYTES = [b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xfe\xff"]


@dataclass(frozen=True)
class Outcome:
    """What a command run in this process left: its exit code, outputs and any exception
    (as text: a traceback kept would keep the run's store, and its connections, open)."""

    exit_code: int
    stdout: str
    stderr: str
    exception: str | None


def ledger(*args: str) -> Outcome:
    """The `ledger` command, run in this process."""
    result = CliRunner().invoke(app, list(args))
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    return Outcome(result.exit_code, result.stdout, result.stderr, repr(result.exception) if crashed else None)


PROCESS_MEMORY_MAX = 4 << 30  # address space: a command that reads a device for ever fails, not the machine


def ledger_process(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The `ledger` command as a process of its own (killed after `timeout` seconds, and
    refused more than `PROCESS_MEMORY_MAX` of memory)."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (PROCESS_MEMORY_MAX, PROCESS_MEMORY_MAX))

    return subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=dict(os.environ),
        preexec_fn=limit_memory,
    )


def line_bytes(line: dict[str, Any] | str | bytes) -> bytes:
    if isinstance(line, bytes):
        return line
    text = line if isinstance(line, str) else json.dumps(line)
    return text.encode("utf-8", "surrogatepass")  # json.dumps escapes every surrogate: never needed


def write_lines(path: Path, lines: list[dict[str, Any] | str | bytes]) -> Path:
    path.write_bytes(b"".join(line_bytes(line) + b"\n" for line in lines))
    return path


def run_file(url: str, path: Path, *extra: str) -> Outcome:
    return ledger("run", str(path), "--store", url, "--json", *extra)


# --- a store's state ---------------------------------------------------------------------


def store_snapshot(url: str) -> dict[str, Any]:
    """What the store holds, to compare before and after a run that must write nothing."""
    gc.collect()  # a store a run left open in this process is closed (and checkpointed) first
    if url.startswith(SQLITE_PREFIX):
        database = Path(url[len(SQLITE_PREFIX) :])
        wal = Path(f"{database}-wal")
        return {
            "database": _digest(database) if database.exists() else None,
            # An empty log and no log say the same: nothing written beyond the database.
            "wal": _digest(wal) if wal.exists() and wal.stat().st_size else None,
        }
    return _postgres_rows(url)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """What lives now is left out of garbage collection for the block, so that each
    `store_snapshot` collects only what the runs since left behind (fast)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def postgres_parts(url: str) -> tuple[str, str]:
    """(the database's URL without the schema, the schema)."""
    parts = urlsplit(url)
    schema = parse_qs(parts.query).get("schema", ["public"])[0]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), schema


def _postgres_rows(url: str) -> dict[str, Any]:
    database, schema = postgres_parts(url)
    rows: dict[str, Any] = {}
    with psycopg.connect(database, autocommit=True) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY table_name",
                (schema,),
            ).fetchall()
        ]
        for table in tables:
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {}.{} AS t"
            ).format(sql.Identifier(schema), sql.Identifier(table))
            rows[table] = tuple(connection.execute(query).fetchone() or ())
    return rows


def event_count(url: str) -> int:
    """How many events the store holds (either backend): to check that a valid run wrote."""
    snapshot = store_snapshot(url)
    if url.startswith(SQLITE_PREFIX):
        import sqlite3

        with sqlite3.connect(url[len(SQLITE_PREFIX) :]) as connection:
            tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            table = next(name for name in tables if name.endswith("events") and not name.startswith("view"))
            return int(connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
    table = next(name for name in snapshot if name.endswith("events") and not name.startswith("view"))
    return int(snapshot[table][0])


# --- what a refused run looks like ---------------------------------------------------------


ERROR_LINE = re.compile(r"line (\d+): (.+?): \S.*")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def assert_refused(
    result: Outcome | subprocess.CompletedProcess[str], line: int | None, field: str | None = None
) -> list[str]:
    """An input error: exit 2, standard output empty, no traceback, and every line of
    standard error `line N: FIELD: message` for this line N (or, for `line=None`, one line
    `error: ...` about an argument). With `field`, one of them names that field."""
    code = result.exit_code if isinstance(result, Outcome) else result.returncode
    stdout, stderr = result.stdout, result.stderr
    shown = f"exit {code}\nstdout: {stdout[:500]!r}\nstderr: {stderr[-2000:]!r}"
    if isinstance(result, Outcome) and result.exception is not None:
        shown += f"\nexception: {result.exception[:2000]}"
    assert code == 2, shown
    assert stdout == "", shown
    assert "Traceback" not in stderr, shown
    found = error_lines(stderr)
    assert found, shown
    if line is None:
        assert len(found) == 1 and found[0].startswith("error: "), shown
        return found
    for text in found:
        matched = ERROR_LINE.fullmatch(text)
        assert matched and int(matched.group(1)) == line, (text, shown)
    if field is not None:
        fields = [ERROR_LINE.fullmatch(text).group(2) for text in found]  # type: ignore[union-attr]
        assert field in fields, (field, shown)
    return found


def assert_ok(result: Outcome | subprocess.CompletedProcess[str]) -> dict[str, Any]:
    code = result.exit_code if isinstance(result, Outcome) else result.returncode
    assert code == 0, f"exit {code}\nstderr: {result.stderr[-2000:]}"
    return json.loads(result.stdout)


# --- breaking a valid line -----------------------------------------------------------------


class Pairs(list):  # type: ignore[type-arg]
    """A JSON object written with its pairs as given: a key may appear twice."""


def dumps(value: Any) -> str:
    """JSON text of `value`, where a `Pairs` is an object that may repeat a key."""
    if isinstance(value, (Pairs, dict)):
        pairs = value if isinstance(value, Pairs) else list(value.items())
        return "{" + ", ".join(f"{json.dumps(key)}: {dumps(item)}" for key, item in pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dumps(item) for item in value) + "]"
    return json.dumps(value)


@dataclass(frozen=True)
class Mutation:
    """A line broken one way: its text (or bytes), the field its error names ("line" when
    the line cannot be read at all), and how it was made (shown when a case fails)."""

    op: str
    kind: str
    line: str | bytes
    field: str | None
    how: str


def field_name(path: str | tuple[Any, ...]) -> str:
    """The field an error names for a value at `path` (an item of a list is its list)."""
    parts = (path,) if isinstance(path, str) else path
    return ".".join(str(part) for part in parts if not isinstance(part, int))


def replaced(line: dict[str, Any], path: str | tuple[Any, ...], value: Any) -> dict[str, Any]:
    parts = (path,) if isinstance(path, str) else path
    copy = json.loads(json.dumps(line))
    target = copy
    for part in parts[:-1]:
        target = target[part]
    target[parts[-1]] = value
    return copy


def dropped(line: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in line.items() if key != field}


def duplicated(line: dict[str, Any], path: tuple[str, ...], second: Any) -> str:
    """The line's text with the key at `path` written twice, the second time as `second`."""

    def rebuild(value: Any, rest: tuple[str, ...]) -> Any:
        if not rest:
            return value
        pairs = Pairs((key, rebuild(item, rest[1:]) if key == rest[0] else item) for key, item in value.items())
        if len(rest) == 1:
            pairs.append((rest[0], second))
        return pairs

    return dumps(rebuild(line, path))
