"""Futures inputs, refused by this version of the ledger: their ops are read (any fields)
and named in the refusal, as are futures account modes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from ledger.domain.product import Product
from ledger.inputs.checker import LineChecker
from ledger.inputs.opening import OpenInput, registers_open
from ledger.inputs.registry import registers


class FuturesInput(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    op: Literal["position_mode", "leverage", "trade", "funding", "isolated_margin"]


@registers(FuturesInput)
def check_futures_input(body: FuturesInput, check: LineChecker) -> None:
    check.fail("op", f"'{body.op}' is a futures input, not supported by this version of the ledger")


@registers_open(Product.FUTURES)
def check_open_futures(body: OpenInput, check: LineChecker) -> None:
    check.fail("mode", f"futures accounts ({body.mode}) are not supported by this version of the ledger")
