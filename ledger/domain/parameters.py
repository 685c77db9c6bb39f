"""The versioned risk-parameter set.

Every threshold, fee rate, precision, liquidity class and interest rate comes
from here; a change is a `params` input, recorded as an event, in force from
its time on. The set is kept as plain JSON-able data (decimals as strings) so
that events carry it as it was; `RiskParameters` is the typed view of it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from ledger.domain.default_brackets import DEFAULT_SYMBOLS
from ledger.domain.limits import (
    CAP_MAX,
    LEVEL_MAX,
    LEVERAGE_MAX,
    MAX_PLACES,
    RATE_MAX,
    NameKind,
    Sign,
    name_fault,
    parse_decimal,
    parse_whole_number,
)
from ledger.domain.product import MARGIN_MODES, AccountMode

T = TypeVar("T")

DEFAULT_LEVERAGE = {AccountMode.CROSS_CLASSIC: 3, AccountMode.CROSS_PRO: 10, AccountMode.ISOLATED: 3}
ASSET_FIELDS = {"precision", "liquid", "hourly_interest", "pro_mmr", "stable"}
TIER_FIELDS = {"margin_call", "liquidation", "fee"}
TOP_LEVEL_FIELDS = {"valuation_asset", "assets", "margin", "symbols", "auto_topup", "clock"}
SYMBOL_FIELDS = {"type", "base", "quote", "contract_size", "clearance_fee", "brackets"}
BRACKET_FIELDS = {"cap", "max_leverage", "mmr"}
SYMBOL_TYPES = ("linear", "inverse")
MAX_PRECISION = MAX_PLACES
# The largest step the clock may take between two inputs: a year, and a day more so that any
# date a year on passes. A typo'd year would otherwise begin hours for ever.
DEFAULT_MAX_CLOCK_JUMP_HOURS = 366 * 24


@dataclass(frozen=True)
class AssetParameters:
    precision: int
    liquid: bool
    hourly_interest: Decimal
    pro_mmr: Decimal
    stable: bool


@dataclass(frozen=True)
class MarginTier:
    """Thresholds and fee of one margin mode at one leverage."""

    mode: str
    leverage: int
    margin_call: Decimal
    liquidation: Decimal
    fee_rate: Decimal


def _asset(precision: int = 8, liquid: bool = True, stable: bool = False) -> dict[str, Any]:
    return {"precision": precision, "liquid": liquid, "hourly_interest": "0", "pro_mmr": "0.05", "stable": stable}


def _tier(margin_call: str, liquidation: str, fee: str) -> dict[str, str]:
    return {"margin_call": margin_call, "liquidation": liquidation, "fee": fee}


def _default_symbols() -> dict[str, Any]:
    symbols = copy.deepcopy(DEFAULT_SYMBOLS)
    for spec in symbols.values():
        spec.setdefault("clearance_fee", "0.0125")
    return symbols


def default_parameter_data() -> dict[str, Any]:
    """Version 1 of the parameter set: the defaults of domain.md."""
    return {
        "valuation_asset": "USDC",
        "assets": {
            "BTC": _asset(),
            "ETH": _asset(),
            "BNB": _asset(),
            "USDC": _asset(stable=True),
            "USDT": _asset(stable=True),
        },
        "margin": {  # plain str keys: the set is JSON-able data
            AccountMode.CROSS_CLASSIC.value: {"3": _tier("1.3", "1.1", "0.02"), "5": _tier("1.16", "1.1", "0.02")},
            AccountMode.ISOLATED.value: {
                "3": _tier("1.22", "1.18", "0.02"),
                "5": _tier("1.19", "1.15", "0.02"),
                "10": _tier("1.1", "1.05", "0.02"),
            },
            AccountMode.CROSS_PRO.value: {"10": _tier("1.5", "1.0", "0.03")},
        },
        "auto_topup": {"target": "1.5"},
        "clock": {"max_jump_hours": DEFAULT_MAX_CLOCK_JUMP_HOURS},
        "symbols": _default_symbols(),
    }


def max_clock_jump(data: dict[str, Any]) -> timedelta:
    """The bound on time passing between two inputs (a set stored before it existed has the default)."""
    return timedelta(hours=data.get("clock", {}).get("max_jump_hours", DEFAULT_MAX_CLOCK_JUMP_HOURS))


def first_version_data(overlay: dict[str, Any]) -> dict[str, Any]:
    """Version 1 of a store's parameters: the defaults, with a run's overlay over them."""
    return merge_parameter_data(default_parameter_data(), overlay)


def merge_parameter_data(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The set `base` with `changes` laid over it; what changes leave out keeps its value."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if key == "assets":
            for asset, fields in value.items():
                merged["assets"][asset] = {**merged["assets"].get(asset, _asset()), **fields}
        elif key == "margin":
            for mode, tiers in value.items():
                for leverage, fields in tiers.items():
                    mode_tiers = merged["margin"].setdefault(mode, {})
                    mode_tiers[str(leverage)] = {**mode_tiers.get(str(leverage), {}), **fields}
        elif key in ("symbols", "auto_topup", "clock"):
            merged[key] = {**merged.get(key, {}), **copy.deepcopy(value)}
        else:
            merged[key] = value
    return merged


def overlay_changes(changes: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Two partial sets laid together, `overlay` winning wherever both say something."""
    combined = copy.deepcopy(changes)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(combined.get(key), dict):
            combined[key] = overlay_changes(combined[key], value)
        else:
            combined[key] = copy.deepcopy(value)
    return combined


class RiskParameters:
    """A typed, read-only view of one version of the parameter set."""

    def __init__(self, data: dict[str, Any], version: int):
        self.data = data
        self.version = version
        self.valuation_asset: str = data["valuation_asset"]
        self.auto_topup_target = Decimal(data["auto_topup"]["target"])
        self._assets = {
            name: AssetParameters(
                precision=int(fields["precision"]),
                liquid=bool(fields["liquid"]),
                hourly_interest=Decimal(fields["hourly_interest"]),
                pro_mmr=Decimal(fields["pro_mmr"]),
                stable=bool(fields.get("stable", False)),
            )
            for name, fields in data["assets"].items()
        }
        self._derived: dict[Hashable, Any] = {}

    def knows_asset(self, asset: str) -> bool:
        return asset in self._assets

    def asset_names(self) -> list[str]:
        return sorted(self._assets)

    def asset(self, asset: str) -> AssetParameters:
        return self._assets[asset]

    def precision(self, asset: str) -> int:
        return self._assets[asset].precision

    def hourly_rate(self, asset: str) -> Decimal:
        return self._assets[asset].hourly_interest

    def knows_symbol(self, symbol: str) -> bool:
        return symbol in self.data.get("symbols", {})

    def derived(self, key: Hashable, build: Callable[[], T]) -> T:
        """What a product derives from this version (a symbol's bracket table...), built once."""
        if key not in self._derived:
            self._derived[key] = build()
        found: T = self._derived[key]
        return found

    def symbol_spec(self, symbol: str) -> dict[str, Any]:
        """The symbol's entry as stored: its type, base and quote (or coin) and contract size."""
        spec: dict[str, Any] = self.data["symbols"][symbol]
        return spec

    def has_tier(self, mode: str, leverage: int) -> bool:
        return str(leverage) in self.data["margin"].get(mode, {})

    def margin_tier(self, mode: str, leverage: int) -> MarginTier:
        fields = self.data["margin"][mode][str(leverage)]
        return MarginTier(
            mode=mode,
            leverage=leverage,
            margin_call=Decimal(fields["margin_call"]),
            liquidation=Decimal(fields["liquidation"]),
            fee_rate=Decimal(fields["fee"]),
        )


# --- validation of a `params` input (pure: the input layer names the line) ---

Faults = list[tuple[str, str]]


def _check_number(
    path: str, value: Any, errors: Faults, *, sign: Sign = Sign.NON_NEGATIVE, maximum: Decimal = RATE_MAX
) -> Decimal | None:
    try:
        return parse_decimal(value, sign=sign, maximum=maximum)
    except ValueError as fault:
        errors.append((path, str(fault)))
        return None


def _check_whole(path: str, value: Any, errors: Faults, *, minimum: int, maximum: int) -> int | None:
    try:
        return parse_whole_number(value, minimum=minimum, maximum=maximum)
    except ValueError as fault:
        errors.append((path, str(fault)))
        return None


def _check_key(path: str, key: str, kind: NameKind, errors: Faults) -> bool:
    fault = name_fault(key, kind)
    if fault is not None:
        errors.append((path, fault))
    return fault is None


def _check_asset_fields(asset: str, fields: Any, errors: Faults) -> None:
    path = f"assets.{asset}"
    if not _check_key(path, asset, NameKind.ASSET, errors):
        return
    if not isinstance(fields, dict):
        errors.append((path, "must be an object"))
        return
    for name in sorted(set(fields) - ASSET_FIELDS):
        errors.append((f"{path}.{name}", "unknown asset parameter"))
    if "precision" in fields:
        _check_whole(f"{path}.precision", fields["precision"], errors, minimum=0, maximum=MAX_PRECISION)
    for flag in ("liquid", "stable"):
        if flag in fields and not isinstance(fields[flag], bool):
            errors.append((f"{path}.{flag}", "must be true or false"))
    if "hourly_interest" in fields:
        _check_number(f"{path}.hourly_interest", fields["hourly_interest"], errors)
    if "pro_mmr" in fields:
        _check_number(f"{path}.pro_mmr", fields["pro_mmr"], errors, sign=Sign.POSITIVE)


def _check_margin(margin: Any, errors: Faults) -> None:
    if not isinstance(margin, dict):
        errors.append(("margin", "must be an object"))
        return
    for mode, tiers in margin.items():
        if mode not in MARGIN_MODES:
            errors.append((f"margin.{mode}", f"unknown margin mode (one of {', '.join(MARGIN_MODES)})"))
            continue
        if not isinstance(tiers, dict):
            errors.append((f"margin.{mode}", "must be an object keyed by leverage"))
            continue
        for leverage, fields in tiers.items():
            _check_tier(f"margin.{mode}.{leverage}", leverage, fields, errors)


def _check_tier(path: str, leverage: str, fields: Any, errors: Faults) -> None:
    # ASCII digits only: "²".isdigit() is true, and int("²") fails.
    if not (leverage.isascii() and leverage.isdigit() and 2 <= int(leverage) <= LEVERAGE_MAX) or leverage[0] == "0":
        errors.append((path, f"leverage must be a whole number from 2 to {LEVERAGE_MAX}, written in digits"))
    if not isinstance(fields, dict):
        errors.append((path, "must be an object"))
        return
    for name in sorted(set(fields) - TIER_FIELDS):
        errors.append((f"{path}.{name}", "unknown margin parameter"))
    if "fee" in fields:
        _check_number(f"{path}.fee", fields["fee"], errors)
    for level in sorted({"margin_call", "liquidation"} & set(fields)):
        _check_number(f"{path}.{level}", fields[level], errors, sign=Sign.POSITIVE, maximum=LEVEL_MAX)


def _check_symbols(symbols: Any, errors: Faults) -> None:
    if not isinstance(symbols, dict):
        errors.append(("symbols", "must be an object keyed by symbol"))
        return
    for symbol, spec in symbols.items():
        path = f"symbols.{symbol}"
        if _check_key(path, symbol, NameKind.SYMBOL, errors):
            _check_symbol(path, spec, errors)


def _check_symbol(path: str, spec: Any, errors: Faults) -> None:
    """A symbol is replaced whole by a `params` input, so each must be complete."""
    if not isinstance(spec, dict):
        errors.append((path, "must be an object"))
        return
    for name in sorted(set(spec) - SYMBOL_FIELDS):
        errors.append((f"{path}.{name}", "unknown symbol parameter"))
    kind = spec.get("type")
    if kind not in SYMBOL_TYPES:
        errors.append((f"{path}.type", f"must be one of {', '.join(SYMBOL_TYPES)}"))
    required = (
        {"type", "base", "brackets"}
        | ({"quote"} if kind == "linear" else set())
        | ({"contract_size"} if kind == "inverse" else set())
    )
    for name in sorted(required - set(spec)):
        errors.append((f"{path}.{name}", "missing"))
    for name in ("base", "quote"):
        if name in spec:
            _check_key(f"{path}.{name}", spec[name], NameKind.ASSET, errors)
    if kind == "linear" and "contract_size" in spec:
        errors.append((f"{path}.contract_size", "only an inverse symbol has a contract size"))
    if "contract_size" in spec:
        _check_number(
            f"{path}.contract_size", spec["contract_size"], errors, sign=Sign.POSITIVE, maximum=LEVEL_MAX * LEVEL_MAX
        )
    if "clearance_fee" in spec:
        _check_number(f"{path}.clearance_fee", spec["clearance_fee"], errors)
    if "brackets" in spec:
        _check_brackets(f"{path}.brackets", spec["brackets"], errors)


def _check_brackets(path: str, brackets: Any, errors: Faults) -> None:
    if not isinstance(brackets, list) or not brackets:
        errors.append((path, "must be a non-empty list of {cap, max_leverage, mmr}"))
        return
    previous_cap, previous_mmr = Decimal(0), Decimal(0)
    for index, bracket in enumerate(brackets):
        at = f"{path}.{index}"
        if not isinstance(bracket, dict):
            errors.append((at, "must be an object {cap, max_leverage, mmr}"))
            continue
        for name in sorted(set(bracket) - BRACKET_FIELDS):
            errors.append((f"{at}.{name}", "unknown bracket field"))
        for name in sorted(BRACKET_FIELDS - set(bracket)):
            errors.append((f"{at}.{name}", "missing"))
        cap = _check_number(f"{at}.cap", bracket.get("cap"), errors, sign=Sign.POSITIVE, maximum=CAP_MAX)
        _check_whole(f"{at}.max_leverage", bracket.get("max_leverage"), errors, minimum=1, maximum=LEVERAGE_MAX)
        mmr = _check_number(f"{at}.mmr", bracket.get("mmr"), errors, sign=Sign.POSITIVE)
        if cap is not None:
            if cap <= previous_cap:
                errors.append((f"{at}.cap", f"caps must increase: {cap} follows {previous_cap}"))
            previous_cap = cap
        if mmr is not None:
            if mmr >= 1:
                errors.append((f"{at}.mmr", f"must be below 1, got {mmr}"))
            elif mmr < previous_mmr:
                # A lower rate above a higher one would make maintenance margin fall as notional grows.
                errors.append((f"{at}.mmr", f"maintenance rates must not fall: {mmr} follows {previous_mmr}"))
            previous_mmr = mmr


def _check_clock(clock: Any, errors: Faults) -> None:
    if not isinstance(clock, dict):
        errors.append(("clock", 'must be an object such as {"max_jump_hours": 8784}'))
        return
    for name in sorted(set(clock) - {"max_jump_hours"}):
        errors.append((f"clock.{name}", "unknown clock parameter"))
    if "max_jump_hours" in clock:
        _check_whole("clock.max_jump_hours", clock["max_jump_hours"], errors, minimum=1, maximum=100 * 366 * 24)


def validate_parameter_changes(changes: dict[str, Any]) -> Faults:
    """(field, message) for every fault in a `params` input's changes."""
    errors: Faults = []
    for name in sorted(set(changes) - TOP_LEVEL_FIELDS):
        errors.append((name, "unknown parameter"))
    if "valuation_asset" in changes:
        _check_key("valuation_asset", changes["valuation_asset"], NameKind.ASSET, errors)
    assets = changes.get("assets", {})
    if not isinstance(assets, dict):
        errors.append(("assets", "must be an object keyed by asset"))
    else:
        for asset, fields in assets.items():
            _check_asset_fields(asset, fields, errors)
    if "margin" in changes:
        _check_margin(changes["margin"], errors)
    if "auto_topup" in changes:
        _check_auto_topup(changes["auto_topup"], errors)
    if "symbols" in changes:
        _check_symbols(changes["symbols"], errors)
    if "clock" in changes:
        _check_clock(changes["clock"], errors)
    return errors


def _check_auto_topup(auto_topup: Any, errors: Faults) -> None:
    if not isinstance(auto_topup, dict):
        errors.append(("auto_topup", 'must be an object such as {"target": "1.5"}'))
        return
    for name in sorted(set(auto_topup) - {"target"}):
        errors.append((f"auto_topup.{name}", "unknown auto top-up parameter"))
    if "target" in auto_topup:
        _check_number("auto_topup.target", auto_topup["target"], errors, sign=Sign.POSITIVE, maximum=LEVEL_MAX)


def validate_parameter_set(data: dict[str, Any]) -> Faults:
    """Faults of a whole merged set that no single field shows."""
    errors: Faults = []
    if data["valuation_asset"] not in data["assets"]:
        errors.append(("valuation_asset", f"asset {data['valuation_asset']} is not declared"))
    for mode, tiers in data["margin"].items():
        for leverage, fields in tiers.items():
            missing = TIER_FIELDS - set(fields)
            if missing:
                errors.append((f"margin.{mode}.{leverage}", f"missing {', '.join(sorted(missing))}"))
            elif Decimal(fields["margin_call"]) < Decimal(fields["liquidation"]):
                errors.append((f"margin.{mode}.{leverage}", "margin_call must not be below liquidation"))
    for symbol, spec in data.get("symbols", {}).items():
        declared = ("base", "quote") if spec.get("type") == "linear" else ("base",)
        for name in declared:
            if name in spec and spec[name] not in data["assets"]:
                errors.append((f"symbols.{symbol}.{name}", f"asset {spec[name]} is not declared"))
    return errors
