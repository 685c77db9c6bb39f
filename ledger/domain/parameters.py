"""The versioned risk-parameter set.

Every threshold, fee rate, precision, liquidity class and interest rate comes
from here; a change is a `params` input, recorded as an event, in force from
its time on. The set is kept as plain JSON-able data (decimals as strings) so
that events carry it as it was; `RiskParameters` is the typed view of it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

MARGIN_MODES = ("cross_classic", "cross_pro", "isolated")
DEFAULT_LEVERAGE = {"cross_classic": 3, "cross_pro": 10, "isolated": 3}
ASSET_FIELDS = {"precision", "liquid", "hourly_interest", "pro_mmr", "stable"}
TIER_FIELDS = {"margin_call", "liquidation", "fee"}
TOP_LEVEL_FIELDS = {"valuation_asset", "assets", "margin", "symbols", "auto_topup"}
MAX_PRECISION = 18


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
    return {"precision": precision, "liquid": liquid, "hourly_interest": "0",
            "pro_mmr": "0.05", "stable": stable}


def _tier(margin_call: str, liquidation: str, fee: str) -> dict[str, str]:
    return {"margin_call": margin_call, "liquidation": liquidation, "fee": fee}


def _default_symbols() -> dict[str, Any]:
    text = resources.files("ledger.domain").joinpath("default_brackets.json").read_text()
    symbols = {name: spec for name, spec in json.loads(text).items() if not name.startswith("_")}
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
        "margin": {
            "cross_classic": {"3": _tier("1.3", "1.1", "0.02"), "5": _tier("1.16", "1.1", "0.02")},
            "isolated": {
                "3": _tier("1.22", "1.18", "0.02"),
                "5": _tier("1.19", "1.15", "0.02"),
                "10": _tier("1.1", "1.05", "0.02"),
            },
            "cross_pro": {"10": _tier("1.5", "1.0", "0.03")},
        },
        "auto_topup": {"target": "1.5"},
        "symbols": _default_symbols(),
    }


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
        elif key in ("symbols", "auto_topup"):
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

    def knows_asset(self, asset: str) -> bool:
        return asset in self._assets

    def asset(self, asset: str) -> AssetParameters:
        return self._assets[asset]

    def precision(self, asset: str) -> int:
        return self._assets[asset].precision

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


def _is_decimal_string(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return Decimal(value).is_finite()
    except InvalidOperation:
        return False


def _check_rate(path: str, value: Any, errors: list[tuple[str, str]], *, positive: bool = False) -> None:
    if not _is_decimal_string(value):
        errors.append((path, f"must be a decimal string, got {json.dumps(value)}"))
    elif positive and Decimal(value) <= 0:
        errors.append((path, f"must be > 0, got {value}"))
    elif Decimal(value) < 0:
        errors.append((path, f"must be >= 0, got {value}"))


def _check_asset_fields(asset: str, fields: Any, errors: list[tuple[str, str]]) -> None:
    path = f"assets.{asset}"
    if not isinstance(fields, dict):
        errors.append((path, "must be an object"))
        return
    for name in sorted(set(fields) - ASSET_FIELDS):
        errors.append((f"{path}.{name}", "unknown asset parameter"))
    if "precision" in fields:
        precision = fields["precision"]
        if not isinstance(precision, int) or isinstance(precision, bool) or not 0 <= precision <= MAX_PRECISION:
            errors.append((f"{path}.precision", f"must be an integer from 0 to {MAX_PRECISION}"))
    for flag in ("liquid", "stable"):
        if flag in fields and not isinstance(fields[flag], bool):
            errors.append((f"{path}.{flag}", "must be true or false"))
    for rate in ("hourly_interest", "pro_mmr"):
        if rate in fields:
            _check_rate(f"{path}.{rate}", fields[rate], errors)


def _check_margin(margin: Any, errors: list[tuple[str, str]]) -> None:
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
            path = f"margin.{mode}.{leverage}"
            if not str(leverage).isdigit() or int(leverage) < 2:
                errors.append((path, "leverage must be an integer >= 2"))
            if not isinstance(fields, dict):
                errors.append((path, "must be an object"))
                continue
            for name in sorted(set(fields) - TIER_FIELDS):
                errors.append((f"{path}.{name}", "unknown margin parameter"))
            for name in sorted(TIER_FIELDS & set(fields)):
                _check_rate(f"{path}.{name}", fields[name], errors, positive=name != "fee")


def validate_parameter_changes(changes: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for every fault in a `params` input's changes."""
    errors: list[tuple[str, str]] = []
    for name in sorted(set(changes) - TOP_LEVEL_FIELDS):
        errors.append((name, "unknown parameter"))
    if "valuation_asset" in changes and not isinstance(changes["valuation_asset"], str):
        errors.append(("valuation_asset", "must be an asset name"))
    assets = changes.get("assets", {})
    if not isinstance(assets, dict):
        errors.append(("assets", "must be an object keyed by asset"))
    else:
        for asset, fields in assets.items():
            _check_asset_fields(asset, fields, errors)
    if "margin" in changes:
        _check_margin(changes["margin"], errors)
    if "auto_topup" in changes:
        target = changes["auto_topup"].get("target") if isinstance(changes["auto_topup"], dict) else None
        _check_rate("auto_topup.target", target, errors, positive=True)
    if "symbols" in changes and not isinstance(changes["symbols"], dict):
        errors.append(("symbols", "must be an object keyed by symbol"))
    return errors


def validate_parameter_set(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Faults of a whole merged set that no single field shows."""
    errors: list[tuple[str, str]] = []
    if data["valuation_asset"] not in data["assets"]:
        errors.append(("valuation_asset", f"asset {data['valuation_asset']} is not declared"))
    for mode, tiers in data["margin"].items():
        for leverage, fields in tiers.items():
            missing = TIER_FIELDS - set(fields)
            if missing:
                errors.append((f"margin.{mode}.{leverage}", f"missing {', '.join(sorted(missing))}"))
            elif Decimal(fields["margin_call"]) < Decimal(fields["liquidation"]):
                errors.append((f"margin.{mode}.{leverage}", "margin_call must not be below liquidation"))
    return errors
