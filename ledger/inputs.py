"""Parsing and validation of inputs, shared by `ledger run`, the API and the workers.

A scenario is checked whole before anything is applied: every fault is an
`InputError` naming its line and field. Shapes are pydantic models (strict:
a JSON number where a decimal string belongs is an error); the checks that need
context (known accounts and assets, precisions, time order) follow the file
line by line, starting from what the store already knows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from ledger.domain.entries import SYSTEM_ACCOUNTS
from ledger.domain.money import decimal_places
from ledger.domain.parameters import (
    MARGIN_MODES,
    merge_parameter_data,
    validate_parameter_changes,
    validate_parameter_set,
)

DEFAULT_START = datetime(2000, 1, 1, tzinfo=timezone.utc)
FUTURES_OPS = ("position_mode", "leverage", "trade", "funding", "isolated_margin")
FUTURES_MODES = ("usdm", "coinm")


@dataclass(frozen=True)
class InputError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


class InputErrors(Exception):
    def __init__(self, errors: list[InputError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


# --- decimal fields ---------------------------------------------------------------


def _decimal(value: Any, *, minimum: str) -> Decimal:
    if not isinstance(value, str):
        raise ValueError(f"must be a decimal string, got {json.dumps(value)}")
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"'{value}' is not a decimal") from None
    if not number.is_finite():
        raise ValueError(f"'{value}' is not a finite decimal")
    if minimum == "positive" and number <= 0:
        raise ValueError(f"must be > 0, got {value}")
    if minimum == "non_negative" and number < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return number


Positive = Annotated[Decimal, BeforeValidator(lambda v: _decimal(v, minimum="positive"))]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    id: str | None = Field(default=None, min_length=1)
    at: str | None = None


class OpenInput(_Input):
    op: Literal["open"]
    account: str = Field(min_length=1)
    mode: Literal["spot", "cross_classic", "cross_pro", "isolated", "usdm", "coinm"]
    leverage: int | None = Field(default=None, ge=2)
    pair: str | None = None
    asset: str | None = None


class DepositInput(_Input):
    op: Literal["deposit"]
    account: str
    asset: str
    amount: Positive


class WithdrawInput(_Input):
    op: Literal["withdraw"]
    account: str
    asset: str
    amount: Positive


class TransferInput(_Input):
    model_config = ConfigDict(populate_by_name=True)
    op: Literal["transfer"]
    from_account: str = Field(alias="from")
    to_account: str = Field(alias="to")
    asset: str
    amount: Positive


class BorrowInput(_Input):
    op: Literal["borrow"]
    account: str
    asset: str
    amount: Positive


class RepayInput(_Input):
    op: Literal["repay"]
    account: str
    asset: str
    amount: Positive


class FillInput(_Input):
    op: Literal["fill"]
    account: str
    side: Literal["buy", "sell"]
    base: str
    quote: str
    quantity: Positive
    price: Positive


class MarkInput(_Input):
    op: Literal["mark"]
    asset: str | None = None
    symbol: str | None = None
    price: Positive
    quote: str | None = None


class LiquidityInput(_Input):
    op: Literal["liquidity"]
    asset: str
    price: Positive
    quantity: Positive
    quote: str | None = None


class ClockInput(_Input):
    op: Literal["clock"]
    at: str


class AutoTopUpInput(_Input):
    op: Literal["auto_topup"]
    account: str
    source: str
    assets: list[str] = Field(min_length=1, max_length=3)
    target: Positive | None = None


class ParamsInput(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)
    op: Literal["params"]
    id: str | None = Field(default=None, min_length=1)
    at: str | None = None

    def changes(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class FuturesInput(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    op: Literal["position_mode", "leverage", "trade", "funding", "isolated_margin"]


AnyInput = Annotated[
    Union[OpenInput, DepositInput, WithdrawInput, TransferInput, BorrowInput, RepayInput, FillInput,
          MarkInput, LiquidityInput, ClockInput, AutoTopUpInput, ParamsInput, FuturesInput],
    Field(discriminator="op"),
]
_input_adapter: TypeAdapter[Any] = TypeAdapter(AnyInput)
KNOWN_OPS = ("open", "deposit", "withdraw", "transfer", "borrow", "repay", "fill", "mark", "liquidity",
             "clock", "auto_topup", "params") + FUTURES_OPS


@dataclass(frozen=True)
class LedgerInput:
    """One validated input: its typed body, where it came from, and its time."""

    body: Any
    line: int
    source: str
    at: datetime
    fingerprint: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False)  # the JSON object as given

    @property
    def op(self) -> str:
        return self.body.op

    @property
    def input_id(self) -> str | None:
        return self.body.id

    def cause(self) -> dict[str, Any]:
        cause: dict[str, Any] = {"kind": "input", "source": self.source, "line": self.line, "op": self.op}
        if self.input_id is not None:
            cause["input_id"] = self.input_id
        return cause


def input_record(item: LedgerInput) -> dict[str, Any]:
    """What the store keeps of an applied input, so that it can be replayed."""
    return {"source": item.source, "line": item.line, "at": item.at.isoformat().replace("+00:00", "Z"),
            "input": item.raw}


def check_restored_inputs(inputs: list[LedgerInput], known: KnownState) -> None:
    """The checks of a scenario that depend on context (accounts, assets, precisions), made
    again on inputs restored from a store, e.g. under other parameters; raises InputErrors
    naming each input's source and line."""
    errors: list[InputError] = []
    for item in inputs:
        found: list[InputError] = []
        _check_line(item.body, _LineChecker(item.line, known, found))
        errors += [InputError(error.line, f"{error.field} (recorded from {item.source})", error.message)
                   for error in found]
    if errors:
        raise InputErrors(errors)


def overlay_record(overlay: dict[str, Any], at: datetime, cause: dict[str, Any]) -> dict[str, Any]:
    """A run's `--params` overlay, kept with the inputs as the `params` input it amounts to."""
    return {"source": cause.get("source", "run"), "line": 0, "at": at.isoformat().replace("+00:00", "Z"),
            "input": {"op": "params", **overlay}, "overlay": True}


def restore_input(record: dict[str, Any]) -> LedgerInput:
    """The input a record was made of: it was valid when recorded, so it is parsed, not checked."""
    raw = record["input"]
    return LedgerInput(body=_input_adapter.validate_python(raw), line=record["line"], source=record["source"],
                       at=parse_time(record["at"]), fingerprint=fingerprint(raw), raw=raw)


def fingerprint(raw: dict[str, Any]) -> str:
    """Two inputs with one id are the same when every field but `at` is equal."""
    content = {key: value for key, value in raw.items() if key != "at"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def parse_time(text: Any) -> datetime:
    if not isinstance(text, str):
        raise ValueError(f"must be an ISO-8601 UTC time string, got {json.dumps(text)}")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO-8601 time") from None
    if moment.tzinfo is None or moment.utcoffset() != timezone.utc.utcoffset(None):
        raise ValueError(f"'{text}' must be in UTC (end it with Z)")
    return moment.astimezone(timezone.utc)


# --- context: what the store and the earlier lines make known -----------------------


@dataclass
class KnownState:
    """Accounts, modes and asset parameters known at a point of the file."""

    accounts: dict[str, str] = field(default_factory=dict)  # name -> mode
    parameter_data: dict[str, Any] = field(default_factory=dict)
    last_time: datetime | None = None

    def precision(self, asset: str) -> int:
        return int(self.parameter_data["assets"][asset]["precision"])

    def knows_asset(self, asset: str) -> bool:
        return asset in self.parameter_data["assets"]


class _LineChecker:
    def __init__(self, line: int, known: KnownState, errors: list[InputError]):
        self.line = line
        self.known = known
        self.errors = errors

    def fail(self, field_name: str, message: str) -> None:
        self.errors.append(InputError(self.line, field_name, message))

    def errors_on_line(self) -> bool:
        return any(error.line == self.line for error in self.errors)

    def account(self, field_name: str, name: str) -> None:
        if name not in self.known.accounts:
            self.fail(field_name, f"unknown account '{name}'")

    def asset(self, field_name: str, asset: str) -> bool:
        if not self.known.knows_asset(asset):
            self.fail(field_name, f"unknown asset '{asset}' (declare it in a params input first)")
            return False
        return True

    def amount(self, field_name: str, asset: str, amount: Decimal) -> None:
        if self.known.knows_asset(asset) and decimal_places(amount) > self.known.precision(asset):
            self.fail(field_name, f"{amount} has more decimals than {asset}'s precision "
                                  f"({self.known.precision(asset)})")


def _check_open(body: OpenInput, check: _LineChecker) -> None:
    if body.account in SYSTEM_ACCOUNTS:
        check.fail("account", f"'{body.account}' is a system account")
    if body.mode in FUTURES_MODES:
        check.fail("mode", f"futures accounts ({body.mode}) are not supported by this version of the ledger")
        return
    if body.mode == "spot":
        if body.leverage is not None or body.pair is not None:
            check.fail("leverage" if body.leverage is not None else "pair", "a spot account takes no leverage or pair")
        return
    if body.leverage is not None and str(body.leverage) not in check.known.parameter_data["margin"].get(body.mode, {}):
        check.fail("leverage", f"no margin tier for {body.mode} at {body.leverage}x")
    if body.mode == "isolated":
        if body.pair is None:
            check.fail("pair", "an isolated account needs a pair such as \"BTC/USDC\"")
        else:
            assets = body.pair.split("/")
            if len(assets) != 2 or assets[0] == assets[1]:
                check.fail("pair", f"'{body.pair}' is not a pair of two assets such as \"BTC/USDC\"")
            else:
                for asset in assets:
                    check.asset("pair", asset)
    elif body.pair is not None:
        check.fail("pair", "only an isolated account has a pair")


def _check_line(body: Any, check: _LineChecker) -> None:
    known = check.known
    if isinstance(body, FuturesInput):
        check.fail("op", f"'{body.op}' is a futures input, not supported by this version of the ledger")
    elif isinstance(body, OpenInput):
        _check_open(body, check)
        if body.account not in known.accounts and not check.errors_on_line():
            known.accounts[body.account] = body.mode
    elif isinstance(body, (DepositInput, WithdrawInput, BorrowInput, RepayInput)):
        check.account("account", body.account)
        if check.asset("asset", body.asset):
            check.amount("amount", body.asset, body.amount)
    elif isinstance(body, TransferInput):
        check.account("from", body.from_account)
        check.account("to", body.to_account)
        if body.from_account == body.to_account:
            check.fail("to", "a transfer needs two different accounts")
        if check.asset("asset", body.asset):
            check.amount("amount", body.asset, body.amount)
    elif isinstance(body, FillInput):
        check.account("account", body.account)
        base_known = check.asset("base", body.base)
        check.asset("quote", body.quote)
        if body.base == body.quote:
            check.fail("quote", "base and quote must differ")
        if base_known:
            check.amount("quantity", body.base, body.quantity)
    elif isinstance(body, MarkInput):
        if (body.asset is None) == (body.symbol is None):
            check.fail("asset", "a mark names either an asset or a symbol")
        elif body.symbol is not None:
            check.fail("symbol", "futures marks are not supported by this version of the ledger")
        else:
            assert body.asset is not None
            check.asset("asset", body.asset)
            if body.quote is not None:
                check.asset("quote", body.quote)
                if body.quote == body.asset:
                    check.fail("quote", "an asset cannot be quoted in itself")
    elif isinstance(body, LiquidityInput):
        if check.asset("asset", body.asset):
            check.amount("quantity", body.asset, body.quantity)
        if body.quote is not None:
            check.asset("quote", body.quote)
    elif isinstance(body, ClockInput):
        pass
    elif isinstance(body, AutoTopUpInput):
        check.account("account", body.account)
        check.account("source", body.source)
        if known.accounts.get(body.account, "spot") not in MARGIN_MODES and body.account in known.accounts:
            check.fail("account", f"'{body.account}' is not a margin account")
        if known.accounts.get(body.source) not in (None, "spot"):
            check.fail("source", f"'{body.source}' is not a spot account")
        for asset in body.assets:
            check.asset("assets", asset)
        if len(set(body.assets)) != len(body.assets):
            check.fail("assets", "an asset is ranked twice")
    elif isinstance(body, ParamsInput):
        changes = body.changes()
        faults = validate_parameter_changes(changes)
        for field_name, message in faults:
            check.fail(field_name, message)
        if not faults:
            merged = merge_parameter_data(known.parameter_data, changes)
            set_faults = validate_parameter_set(merged)
            for field_name, message in set_faults:
                check.fail(field_name, message)
            if not set_faults:
                known.parameter_data = merged


def _pydantic_errors(line: int, error: ValidationError) -> list[InputError]:
    found = []
    for detail in error.errors():
        location = [str(part) for part in detail["loc"]]
        # A discriminated union reports the op first: drop it from the field path.
        if location and location[0] in KNOWN_OPS:
            location = location[1:]
        field_name = ".".join(part for part in location if not part.isdigit() or len(location) == 1) or "line"
        message = detail["msg"]
        if detail["type"] == "union_tag_invalid":
            field_name, message = "op", f"unknown op {json.dumps(detail['input'].get('op'))}"
        elif detail["type"] == "union_tag_not_found":
            field_name, message = "op", "missing"
        elif detail["type"] == "missing":
            message = "missing"
        elif detail["type"] == "extra_forbidden":
            message = "unknown field"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        found.append(InputError(line, field_name, message))
    return found


def parse_scenario(text: str, source: str, known: KnownState) -> list[LedgerInput]:
    """Every input of a scenario, validated against `known` (which it updates);
    raises InputErrors listing every fault of the file."""
    errors: list[InputError] = []
    inputs: list[LedgerInput] = []
    clock: datetime | None = None
    raw_lines = text.split("\n")
    parsed: list[tuple[int, dict[str, Any]]] = []
    for number, raw_line in enumerate(raw_lines, start=1):
        if not raw_line.strip():
            continue
        try:
            raw = json.loads(raw_line, parse_constant=_reject_constant)
        except (json.JSONDecodeError, ValueError) as exc:
            errors.append(InputError(number, "line", f"invalid JSON: {exc}"))
            continue
        if not isinstance(raw, dict):
            errors.append(InputError(number, "line", "an input must be a JSON object"))
            continue
        parsed.append((number, raw))

    if clock is None:
        clock = _first_time(parsed)
    for number, raw in parsed:
        check = _LineChecker(number, known, errors)
        try:
            body = _input_adapter.validate_python(raw)
        except ValidationError as exc:
            errors.extend(_pydantic_errors(number, exc))
            continue
        at = clock
        if raw.get("at") is not None:
            try:
                at = parse_time(raw["at"])
            except ValueError as exc:
                check.fail("at", str(exc))
                continue
            if at < clock:
                check.fail("at", f"{raw['at']} is earlier than the input before it ({clock.isoformat()})")
                continue
        clock = at
        _check_line(body, check)
        inputs.append(LedgerInput(body=body, line=number, source=source, at=at, fingerprint=fingerprint(raw), raw=raw))
    if errors:
        raise InputErrors(sorted(errors, key=lambda e: e.line))
    return inputs


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number the ledger accepts")


def _first_time(parsed: list[tuple[int, dict[str, Any]]]) -> datetime:
    for _, raw in parsed:
        try:
            return parse_time(raw["at"])
        except (KeyError, ValueError):
            continue
    return DEFAULT_START


def parse_parameter_file(text: str, source: str) -> dict[str, Any]:
    """A `--params FILE`: a params input without `op`."""
    try:
        changes = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise InputErrors([InputError(1, "line", f"invalid JSON in {source}: {exc}")]) from None
    if not isinstance(changes, dict):
        raise InputErrors([InputError(1, "line", f"{source} must hold a JSON object")])
    faults = validate_parameter_changes(changes)
    if faults:
        raise InputErrors([InputError(1, f, m) for f, m in faults])
    return changes
