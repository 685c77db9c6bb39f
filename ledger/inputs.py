"""Parsing and validation of inputs, shared by `ledger run`, the API and the workers.

A scenario is checked whole before anything is applied: every fault is an
`InputError` naming its line and field. Shapes are pydantic models (strict:
a JSON number where a decimal string belongs is an error); what a number, a
name and a time may be is `ledger.domain.limits`; the checks that need context
(known accounts and assets, precisions, time order) follow the file line by
line, starting from what the store already knows. Lines a store has applied
already are identified first and skipped (`ledger.idempotency`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo

from ledger.domain.entries import SYSTEM_ACCOUNTS
from ledger.domain.limits import (
    AMOUNT_MAX,
    EARLIEST_TIME,
    JSON_DEPTH_MAX,
    LEVEL_MAX,
    LEVERAGE_MAX,
    NameKind,
    Sign,
    check_name,
    name_fault,
    nesting_fault,
    parse_decimal,
    parse_whole_number,
)
from ledger.domain.limits import parse_time as parse_bounded_time
from ledger.domain.money import decimal_places, exact_product
from ledger.domain.parameters import (
    MARGIN_MODES,
    first_version_data,
    max_clock_jump,
    merge_parameter_data,
    overlay_changes,
    validate_parameter_changes,
    validate_parameter_set,
)
from ledger.idempotency import CHAIN_SEED, FileMark, canonical_json, chain_digest

DEFAULT_START = EARLIEST_TIME
FUTURES_OPS = ("position_mode", "leverage", "trade", "funding", "isolated_margin")
FUTURES_MODES = ("usdm", "coinm")
ERROR_TEXT_LIMIT = 200  # characters of a field or message an error line quotes


def _printable(text: str) -> str:
    """Text an error line can carry whole on one line: what is not printable escaped."""
    shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return shown if len(shown) <= ERROR_TEXT_LIMIT else shown[: ERROR_TEXT_LIMIT - 3] + "..."


@dataclass(frozen=True)
class InputError:
    line: int
    field: str
    message: str
    location: str | None = None  # where the fault is when not a scenario line, e.g. "--params FILE"

    def __str__(self) -> str:
        where = self.location or f"line {self.line}"
        return f"{_printable(where)}: {_printable(self.field)}: {_printable(self.message)}"


class InputErrors(Exception):
    def __init__(self, errors: list[InputError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


# --- fields: numbers and names within the ledger's bounds (`ledger.domain.limits`) -------------


def _restoring(info: ValidationInfo) -> bool:
    """Inputs restored from a store were valid when recorded: read them, do not judge them
    again by bounds that may have changed since (no stored input may make a replay fail)."""
    return bool(info.context and info.context.get("restoring"))


def _decimal_field(sign: Sign, maximum: Decimal) -> BeforeValidator:
    def validate(value: Any, info: ValidationInfo) -> Decimal:
        if _restoring(info):
            return Decimal(value)
        return parse_decimal(value, sign=sign, maximum=maximum)

    return BeforeValidator(validate)


def _name_field(kind: NameKind) -> BeforeValidator:
    def validate(value: Any, info: ValidationInfo) -> str:
        return value if _restoring(info) else check_name(value, kind)

    return BeforeValidator(validate)


def _leverage(value: Any, info: ValidationInfo) -> int:
    return value if _restoring(info) else parse_whole_number(value, minimum=2, maximum=LEVERAGE_MAX)


Positive = Annotated[Decimal, _decimal_field(Sign.POSITIVE, AMOUNT_MAX)]
Level = Annotated[Decimal, _decimal_field(Sign.POSITIVE, LEVEL_MAX)]
Name = Annotated[str, _name_field(NameKind.TEXT)]
Asset = Annotated[str, _name_field(NameKind.ASSET)]
Symbol = Annotated[str, _name_field(NameKind.SYMBOL)]
Leverage = Annotated[int, BeforeValidator(_leverage)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    id: Name | None = None
    at: str | None = None


class OpenInput(_Input):
    op: Literal["open"]
    account: Name
    mode: Literal["spot", "cross_classic", "cross_pro", "isolated", "usdm", "coinm"]
    leverage: Leverage | None = None
    pair: str | None = None
    asset: Asset | None = None


class DepositInput(_Input):
    op: Literal["deposit"]
    account: Name
    asset: Asset
    amount: Positive


class WithdrawInput(_Input):
    op: Literal["withdraw"]
    account: Name
    asset: Asset
    amount: Positive


class TransferInput(_Input):
    # Read by their names in the file only (`from`, `to`): `from_account` is an unknown field.
    op: Literal["transfer"]
    from_account: Name = Field(alias="from")
    to_account: Name = Field(alias="to")
    asset: Asset
    amount: Positive


class BorrowInput(_Input):
    op: Literal["borrow"]
    account: Name
    asset: Asset
    amount: Positive


class RepayInput(_Input):
    op: Literal["repay"]
    account: Name
    asset: Asset
    amount: Positive


class FillInput(_Input):
    op: Literal["fill"]
    account: Name
    side: Literal["buy", "sell"]
    base: Asset
    quote: Asset
    quantity: Positive
    price: Positive


class MarkInput(_Input):
    op: Literal["mark"]
    asset: Asset | None = None
    symbol: Symbol | None = None
    price: Positive
    quote: Asset | None = None


class LiquidityInput(_Input):
    op: Literal["liquidity"]
    asset: Asset
    price: Positive
    quantity: Positive
    quote: Asset | None = None


class ClockInput(_Input):
    op: Literal["clock"]
    at: str


class AutoTopUpInput(_Input):
    op: Literal["auto_topup"]
    account: Name
    source: Name
    assets: list[Asset] = Field(min_length=1, max_length=3)
    target: Level | None = None


class ParamsInput(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)
    op: Literal["params"]
    id: Name | None = None
    at: str | None = None

    def changes(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class FuturesInput(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    op: Literal["position_mode", "leverage", "trade", "funding", "isolated_margin"]


AnyInput = Annotated[
    OpenInput
    | DepositInput
    | WithdrawInput
    | TransferInput
    | BorrowInput
    | RepayInput
    | FillInput
    | MarkInput
    | LiquidityInput
    | ClockInput
    | AutoTopUpInput
    | ParamsInput
    | FuturesInput,
    Field(discriminator="op"),
]
_input_adapter: TypeAdapter[Any] = TypeAdapter(AnyInput)
KNOWN_OPS = (
    "open",
    "deposit",
    "withdraw",
    "transfer",
    "borrow",
    "repay",
    "fill",
    "mark",
    "liquidity",
    "clock",
    "auto_topup",
    "params",
) + FUTURES_OPS


@dataclass(frozen=True)
class LedgerInput:
    """One validated input: its typed body, where it came from, and its time."""

    body: Any
    line: int
    source: str
    at: datetime
    fingerprint: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False)  # the JSON object as given
    ordinal: int = 0  # its place among the file's inputs (1 for the first); 0 when not from a file
    chain: str | None = None  # its implicit id: the chain digest of the file's inputs 1..ordinal

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


@dataclass(frozen=True)
class Scenario:
    """A file's inputs still to apply, after the `skipped` ones a store had applied already."""

    source: str
    inputs: list[LedgerInput]
    skipped: int = 0
    skipped_through_line: int = 0
    again: bool = False  # begun anew on purpose (`ledger run --again`)
    overlay_fingerprint: str | None = None


def input_record(item: LedgerInput) -> dict[str, Any]:
    """What the store keeps of an applied input, so that it can be replayed."""
    return {"source": item.source, "line": item.line, "at": _time_text(item.at), "input": item.raw}


def _time_text(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def recorded_time(record: dict[str, Any]) -> datetime:
    """The time of an input record (`input_record`), read as written, whatever the bounds now."""
    return datetime.fromisoformat(record["at"].replace("Z", "+00:00"))


def check_restored_inputs(inputs: list[LedgerInput], known: KnownState) -> None:
    """The checks of a scenario that depend on context (accounts, assets, precisions), made
    again on inputs restored from a store, e.g. under other parameters; raises InputErrors
    naming each input's source and line."""
    errors: list[InputError] = []
    for item in inputs:
        found: list[InputError] = []
        _check_line(item.body, _LineChecker(item.line, known, found, restoring=True))
        errors += [
            InputError(error.line, error.field, error.message, location=f"recorded {item.source} line {item.line}")
            for error in found
        ]
    if errors:
        raise InputErrors(errors)


def overlay_record(overlay: dict[str, Any], at: datetime, cause: dict[str, Any]) -> dict[str, Any]:
    """A run's `--params` overlay, kept with the inputs as the `params` input it amounts to."""
    return {
        "source": cause.get("source", "run"),
        "line": 0,
        "at": _time_text(at),
        "input": {"op": "params", **overlay},
        "overlay": True,
    }


def restore_input(record: dict[str, Any]) -> LedgerInput:
    """The input a record was made of: it was valid when recorded, so it is read, not judged
    again by today's bounds."""
    raw = record["input"]
    # by_name: a store may hold a transfer written `from_account` when that spelling was read.
    body = _input_adapter.validate_python(raw, context={"restoring": True}, by_alias=True, by_name=True)
    return LedgerInput(
        body=body,
        line=record["line"],
        source=record["source"],
        at=recorded_time(record),
        fingerprint=fingerprint(raw),
        raw=raw,
    )


def fingerprint(raw: dict[str, Any]) -> str:
    """Two inputs with one id are the same when every field but `at` is equal."""
    content = {key: value for key, value in raw.items() if key != "at"}
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def parse_time(text: Any) -> datetime:
    """An input's time (`ledger.domain.limits`); ValueError naming the fault."""
    return parse_bounded_time(text)


# --- context: what the store and the earlier lines make known -----------------------


@dataclass
class KnownState:
    """Accounts, modes and asset parameters known at a point of the file, the store's clock,
    and how far the file being read was applied to the store before."""

    accounts: dict[str, str] = field(default_factory=dict)  # name -> mode
    parameter_data: dict[str, Any] = field(default_factory=dict)
    clock: datetime | None = None  # the store's clock (`Ledger.store_clock`)
    overlay: dict[str, Any] = field(default_factory=dict)  # a run's --params: wins over every params line
    file_mark: FileMark | None = None
    # The inputs recorded from a file since it was last begun (only read to name an edited line).
    recorded_from_file: Callable[[str], list[dict[str, Any]]] = lambda _source: []

    def precision(self, asset: str) -> int:
        return int(self.parameter_data["assets"][asset]["precision"])

    def knows_asset(self, asset: str) -> bool:
        return asset in self.parameter_data["assets"]


class _LineChecker:
    def __init__(self, line: int, known: KnownState, errors: list[InputError], restoring: bool = False):
        self.line = line
        self.known = known
        self.errors = errors
        # A recorded input is checked again only where other parameters may change the answer
        # (known assets, precisions, tiers): the bounds and name rules it was recorded under stand.
        self.restoring = restoring

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
            self.fail(
                field_name, f"{amount} has more decimals than {asset}'s precision ({self.known.precision(asset)})"
            )

    def value_moved(self, field_name: str, quantity: Decimal, price: Decimal) -> None:
        """What a trade moves on its quote side is an amount too, within the same bound."""
        if self.restoring:
            return
        value = exact_product(quantity, price)
        if value > AMOUNT_MAX:
            self.fail(
                field_name,
                f"{quantity} at {price} moves {value}, beyond the ledger's bound of {AMOUNT_MAX:f} in one input",
            )


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
            check.fail("pair", 'an isolated account needs a pair such as "BTC/USDC"')
        else:
            assets = body.pair.split("/")
            misnamed = not check.restoring and any(name_fault(a, NameKind.ASSET) for a in assets)
            if len(assets) != 2 or assets[0] == assets[1] or misnamed:
                check.fail("pair", f'{json.dumps(body.pair)} is not a pair of two assets such as "BTC/USDC"')
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
        check.value_moved("price", body.quantity, body.price)
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
        check.value_moved("price", body.quantity, body.price)
        if body.quote is not None:
            check.asset("quote", body.quote)
            if body.quote == body.asset:
                check.fail("quote", "an asset cannot be quoted in itself")
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
        if check.restoring:  # recorded: it was a valid change then
            known.parameter_data = merge_parameter_data(known.parameter_data, changes)
            return
        faults = validate_parameter_changes(changes)
        for field_name, message in faults:
            check.fail(field_name, message)
        if not faults:
            # As the run will apply it: the overlay wins over the line (`Ledger` does the same).
            merged = merge_parameter_data(known.parameter_data, overlay_changes(changes, known.overlay))
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
            message = message[len("Value error, ") :]
        found.append(InputError(line, field_name, message))
    return found


@dataclass(frozen=True)
class _Line:
    number: int  # the physical line, counting from 1
    raw: dict[str, Any] | None  # None: not a JSON object (its fault is among the errors)


def split_lines(text: str) -> tuple[list[_Line], list[InputError]]:
    """Every non-empty line with its JSON object, and the faults of those that hold none."""
    lines: list[_Line] = []
    errors: list[InputError] = []
    for number, raw_line in enumerate(text.split("\n"), start=1):
        if not raw_line.strip():
            continue
        raw = None
        try:
            raw = strict_json(raw_line)
        except ValueError as exc:  # JSONDecodeError, a duplicate key, a number too long, nested too deeply
            errors.append(InputError(number, "line", f"invalid JSON: {exc}"))
        if raw is not None and not isinstance(raw, dict):
            errors.append(InputError(number, "line", "an input must be a JSON object"))
            raw = None
        lines.append(_Line(number, raw))
    return lines, errors


def strict_json(text: str) -> Any:
    """One JSON value, read strictly: no NaN or Infinity, no key twice in an object, and
    nested at most `JSON_DEPTH_MAX` deep; ValueError naming the fault."""
    try:
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_object_without_duplicates)
    except RecursionError:
        raise ValueError(f"objects and lists nested more than {JSON_DEPTH_MAX} deep") from None
    # Walked only when it may be deep: most lines hold one or two brackets.
    if text.count("{") + text.count("[") > JSON_DEPTH_MAX:
        fault = nesting_fault(value)
        if fault is not None:
            raise ValueError(fault)
    return value


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"key {json.dumps(key)} appears twice in one object")
        found[key] = value
    return found


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number the ledger accepts")


def decode_scenario(data: bytes) -> str:
    """A scenario's bytes as text: UTF-8, or an input error naming the line of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise InputErrors([InputError(line, "line", f"not valid UTF-8 (byte 0x{data[error.start]:02x})")]) from None


def parse_scenario(text: str, source: str, known: KnownState, again: bool = False) -> Scenario:
    """The inputs of a scenario still to apply, validated against `known` (which it
    updates); raises InputErrors listing every fault of the file. Lines the store
    applied from this file before are skipped first (unless `again`), and checked to be
    unchanged."""
    lines, errors = split_lines(text)
    source_fault = name_fault(source)
    if source_fault is not None:
        raise InputErrors([InputError(0, "file name", source_fault, location=f"scenario {source!r}")])
    mark = None if again else known.file_mark
    skipped, chain = _applied_prefix(lines, errors, mark, known, source)
    inputs = _check_lines(lines[skipped:], errors, known, source, chain, first_ordinal=skipped + 1)
    if errors:
        raise InputErrors(sorted(errors, key=lambda e: e.line))
    return Scenario(
        source=source,
        inputs=inputs,
        skipped=skipped,
        skipped_through_line=lines[skipped - 1].number if skipped else 0,
        again=again,
    )


def _applied_prefix(
    lines: list[_Line], errors: list[InputError], mark: FileMark | None, known: KnownState, source: str
) -> tuple[int, str]:
    """How many of the file's inputs the store applied already, and the chain digest after them."""
    if mark is None or mark.inputs_applied == 0:
        return 0, CHAIN_SEED
    applied = lines[: mark.inputs_applied]
    chain = CHAIN_SEED
    for line in applied:
        chain = chain_digest(chain, line.raw) if line.raw is not None else "unreadable"
    if len(applied) == mark.inputs_applied and chain == mark.chain_digest:
        return mark.inputs_applied, chain
    errors.append(_edited_line(lines, mark, known.recorded_from_file(source)))
    return len(lines), chain


def _edited_line(lines: list[_Line], mark: FileMark, recorded: list[dict[str, Any]]) -> InputError:
    """The first line of an applied part that differs from what was applied."""
    message = (
        f"differs from what this store applied from {mark.source} before ({mark.inputs_applied} inputs "
        f"through line {mark.through_line}): the file was edited; restore it, or run it "
        "anew with --again"
    )
    for index, line in enumerate(lines[: mark.inputs_applied]):
        if line.raw is None or index >= len(recorded) or canonical_json(line.raw) != canonical_json(recorded[index]):
            return InputError(line.number, "line", message)
    after = lines[-1].number + 1 if lines else 1
    return InputError(after, "line", f"missing: {message}")


def _check_lines(
    lines: list[_Line], errors: list[InputError], known: KnownState, source: str, chain: str, first_ordinal: int
) -> list[LedgerInput]:
    inputs: list[LedgerInput] = []
    clock = known.clock if known.clock is not None else _first_time(lines)
    for ordinal, line in enumerate(lines, start=first_ordinal):
        if line.raw is None:
            continue  # its fault is listed; the file will not be applied
        chain = chain_digest(chain, line.raw)
        check = _LineChecker(line.number, known, errors)
        try:
            body = _input_adapter.validate_python(line.raw)
        except ValidationError as exc:
            errors.extend(_pydantic_errors(line.number, exc))
            continue
        at = _line_time(line.raw, clock, known, check)
        if at is None:
            continue
        clock = at
        _check_line(body, check)
        inputs.append(
            LedgerInput(
                body=body,
                line=line.number,
                source=source,
                at=at,
                fingerprint=fingerprint(line.raw),
                raw=line.raw,
                ordinal=ordinal,
                chain=chain,
            )
        )
    return inputs


def _line_time(raw: dict[str, Any], clock: datetime, known: KnownState, check: _LineChecker) -> datetime | None:
    """The line's time: its own `at`, or the time before it. One clock for the store: never
    earlier than the input before (in the file or the store), nor a jump beyond the bound."""
    if raw.get("at") is None:
        return clock
    try:
        at = parse_time(raw["at"])
    except ValueError as exc:
        check.fail("at", str(exc))
        return None
    if at < clock:
        check.fail(
            "at",
            f"{raw['at']} is earlier than the input before it ({_time_text(clock)}, in this file "
            "or the store): the store has one clock",
        )
        return None
    limit = max_clock_jump(known.parameter_data)
    if at - clock > limit:
        check.fail(
            "at",
            f"{raw['at']} jumps {_duration_text(at - clock)} past the input before it "
            f"({_time_text(clock)}); at most {_duration_text(limit)} (parameter clock.max_jump_hours)",
        )
        return None
    return at


def _duration_text(duration: timedelta) -> str:
    return f"{duration.total_seconds() / 3600:g} hours"


def _first_time(lines: list[_Line]) -> datetime:
    """A new store's clock starts at the file's first time."""
    for line in lines:
        try:
            return parse_time(line.raw["at"])  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            continue
    return DEFAULT_START


def parse_parameter_file(text: str, source: str) -> dict[str, Any]:
    """A `--params FILE`: a params input without `op` (`"op": "params"` may stand in it);
    its faults name the file."""
    location = f"--params {source}"
    try:
        changes = strict_json(text)
    except ValueError as exc:
        raise InputErrors([InputError(0, "file", f"invalid JSON: {exc}", location)]) from None
    if not isinstance(changes, dict):
        raise InputErrors([InputError(0, "file", "must hold one JSON object", location)])
    if "op" in changes:
        if changes["op"] != "params":
            raise InputErrors(
                [
                    InputError(
                        0, "op", f"a parameter file holds a params input, not {json.dumps(changes['op'])}", location
                    )
                ]
            )
        changes = {key: value for key, value in changes.items() if key not in ("op", "at", "id")}
    faults = validate_parameter_changes(changes) or validate_parameter_set(first_version_data(changes))
    if faults:
        raise InputErrors([InputError(0, f, m, location) for f, m in faults])
    return changes
