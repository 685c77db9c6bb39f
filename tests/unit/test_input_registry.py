"""Inputs and their commands are looked up by the input's model, registered by the
product module that owns them (`ledger.inputs.registry`, `ledger.commands.registry`):
a product adds its ops without editing another product's module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

import pytest

from ledger.commands import registry as command_registry
from ledger.commands import run_command
from ledger.domain.parameters import first_version_data
from ledger.inputs import InputErrors, KnownState, parse_scenario, restore_input
from ledger.inputs import registry as input_registry
from ledger.inputs.checker import LineChecker
from ledger.inputs.fields import Asset, InputModel, Name, Positive

EVERY_OP = [
    {"op": "params", "at": "2026-01-05T10:00:00Z", "assets": {"USDC": {"hourly_interest": "0"}}},
    {"op": "open", "account": "S", "mode": "spot"},
    {"op": "open", "account": "A", "mode": "cross_classic", "leverage": 5},
    {"op": "mark", "asset": "BTC", "price": "50000"},
    {"op": "liquidity", "asset": "BTC", "price": "49000", "quantity": "1"},
    {"op": "deposit", "account": "A", "asset": "BTC", "amount": "2"},
    {"op": "withdraw", "account": "A", "asset": "BTC", "amount": "1"},
    {"op": "transfer", "from": "A", "to": "S", "asset": "BTC", "amount": "0.5"},
    {"op": "borrow", "account": "A", "asset": "USDC", "amount": "100"},
    {"op": "repay", "account": "A", "asset": "USDC", "amount": "50"},
    {"op": "fill", "account": "A", "side": "sell", "base": "BTC", "quote": "USDC", "quantity": "0.1", "price": "50000"},
    {"op": "auto_topup", "account": "A", "source": "S", "assets": ["USDC"]},
    {"op": "clock", "at": "2026-01-05T12:00:00Z"},
    {"op": "open", "account": "F", "mode": "usdm"},
    {"op": "position_mode", "account": "F", "mode": "hedge"},
    {"op": "leverage", "account": "F", "symbol": "BTCUSDT", "leverage": 10, "margin_type": "isolated"},
    {"op": "mark", "symbol": "BTCUSDT", "price": "50000"},
    {
        "op": "trade",
        "account": "F",
        "symbol": "BTCUSDT",
        "side": "buy",
        "quantity": "0.1",
        "price": "50000",
        "position_side": "long",
        "fee": "0.5",
    },
    {"op": "isolated_margin", "account": "F", "symbol": "BTCUSDT", "amount": "-10", "position_side": "long"},
    {"op": "funding", "symbol": "BTCUSDT", "rate": "-0.0001"},
]
FUTURES_OPS = ("position_mode", "leverage", "trade", "isolated_margin", "funding")
MODULE_OF_OP = {
    "open": "ledger.inputs.opening",
    "params": "ledger.inputs.market",
    "mark": "ledger.inputs.market",
    "liquidity": "ledger.inputs.market",
    "clock": "ledger.inputs.market",
}


def parse(*lines: dict[str, Any]) -> list[Any]:
    text = "\n".join(json.dumps(line) for line in lines)
    known = KnownState(parameter_data=first_version_data({}))
    return parse_scenario(text, "registry.jsonl", known).inputs


def errors_of(*lines: dict[str, Any]) -> list[str]:
    with pytest.raises(InputErrors) as raised:
        parse(*lines)
    return [str(error) for error in raised.value.errors]


def test_every_op_is_read_into_the_model_its_product_registered() -> None:
    inputs = parse(*EVERY_OP)
    assert [item.op for item in inputs] == [line["op"] for line in EVERY_OP]
    for item in inputs:
        product_module = "ledger.inputs.futures" if item.op in FUTURES_OPS else "ledger.inputs.margin"
        assert type(item.body).__module__ == MODULE_OF_OP.get(item.op, product_module)


def test_futures_lines_are_read_by_the_futures_models() -> None:
    assert errors_of(
        {"op": "trade", "symbol": "BTCUSDT"}, {"op": "open", "account": "F", "mode": "usdm", "leverage": 5}
    ) == [
        "line 1: account: missing",
        "line 1: side: missing",
        "line 1: quantity: missing",
        "line 1: price: missing",
        "line 2: leverage: a futures wallet takes no leverage: each symbol's is set by a leverage input",
    ]


def test_an_unknown_op_is_named_and_a_field_error_drops_the_op_from_its_path() -> None:
    assert errors_of({"op": "teleport"}, {"op": "deposit", "account": "A", "asset": "BTC", "amount": 1}) == [
        'line 1: op: unknown op "teleport"',
        'line 2: amount: must be a decimal string such as "12.5", got 1',
    ]


class TeleportInput(InputModel):
    """An input of a product other than spot margin, registered from its own module."""

    op: Literal["teleport"]
    account: Name
    asset: Asset
    amount: Positive


@pytest.fixture
def isolated_registries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Registrations made by a test are forgotten after it."""
    with monkeypatch.context() as patch:
        patch.setattr(input_registry, "_MODELS", dict(input_registry._MODELS))
        patch.setattr(input_registry, "_CHECKS", dict(input_registry._CHECKS))
        patch.setattr(command_registry, "_COMMANDS", dict(command_registry._COMMANDS))
        yield
    input_registry.input_adapter.cache_clear()  # the union is built again from what stands


def test_a_new_product_registers_its_input_and_command_without_editing_others(isolated_registries: None) -> None:
    checked: list[str] = []
    applied: list[tuple[Any, str]] = []

    @input_registry.registers(TeleportInput)
    def check_teleport(body: TeleportInput, check: LineChecker) -> None:
        checked.append(body.account)
        check.account("account", body.account)

    @command_registry.command(TeleportInput)
    def teleport(uow: Any, body: TeleportInput, at: datetime, cause: dict[str, Any]) -> None:
        applied.append((uow, body.account))

    opened = {"op": "open", "account": "A", "mode": "spot"}
    (_, item) = parse(opened, {"op": "teleport", "account": "A", "asset": "BTC", "amount": "1"})
    assert isinstance(item.body, TeleportInput) and checked == ["A"]
    assert errors_of({"op": "teleport", "account": "Z", "asset": "BTC", "amount": "1"}) == [
        "line 1: account: unknown account 'Z'"
    ]
    record = {"source": "f", "line": 2, "at": "2026-01-05T10:00:00Z", "input": item.raw}
    assert isinstance(restore_input(record).body, TeleportInput)

    unit_of_work = object()
    run_command(unit_of_work, item.body, datetime(2026, 1, 5, tzinfo=UTC), item.cause())  # type: ignore[arg-type]
    assert applied == [(unit_of_work, "A")]


def test_an_op_cannot_be_registered_by_two_models(isolated_registries: None) -> None:
    class OtherDeposit(InputModel):
        op: Literal["deposit"]

    with pytest.raises(AssertionError, match="registered twice"):
        input_registry.registers(OtherDeposit)(lambda body, check: None)
