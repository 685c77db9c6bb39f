"""The `open` input, common to every product: its model, the checks every account
needs, and the checks of its mode, which the product of that mode registers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from ledger.domain.entries import SYSTEM_ACCOUNTS
from ledger.domain.product import AccountMode, Product
from ledger.inputs.checker import LineChecker
from ledger.inputs.fields import Asset, InputModel, Leverage, Mode, Name
from ledger.inputs.registry import registers


class OpenInput(InputModel):
    op: Literal["open"]
    account: Name
    mode: Mode
    leverage: Leverage | None = None
    pair: str | None = None
    asset: Asset | None = None


OpenCheck = Callable[[OpenInput, LineChecker], None]
_BY_PRODUCT: dict[Product, OpenCheck] = {}


def registers_open(product: Product) -> Callable[[OpenCheck], OpenCheck]:
    """Registers the decorated function as the check of an `open` of `product`'s modes."""

    def register(check: OpenCheck) -> OpenCheck:
        assert product not in _BY_PRODUCT, f"{product} has an open check already"
        _BY_PRODUCT[product] = check
        return check

    return register


@registers(OpenInput)
def check_open(body: OpenInput, check: LineChecker) -> None:
    if body.account in SYSTEM_ACCOUNTS:
        check.fail("account", f"'{body.account}' is a system account")
    _BY_PRODUCT[AccountMode(body.mode).product](body, check)
    # Known to the lines after it only when it will open.
    if body.account not in check.known.accounts and not check.errors_on_line():
        check.known.accounts[body.account] = body.mode
