"""The spot-margin product's inputs: moving money (deposit, withdraw, transfer), debt
(borrow, repay), trades (fill), auto top-up, and the checks of opening a spot or margin
account. Each model is registered with its check (`ledger.inputs.registry`)."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from ledger.domain.limits import NameKind, name_fault
from ledger.domain.product import MARGIN_MODES, AccountMode, Product
from ledger.inputs.checker import LineChecker
from ledger.inputs.fields import Asset, InputModel, Level, Name, Positive
from ledger.inputs.opening import OpenInput, registers_open
from ledger.inputs.registry import registers


class DepositInput(InputModel):
    op: Literal["deposit"]
    account: Name
    asset: Asset
    amount: Positive


class WithdrawInput(InputModel):
    op: Literal["withdraw"]
    account: Name
    asset: Asset
    amount: Positive


class TransferInput(InputModel):
    # Read by their names in the file only (`from`, `to`): `from_account` is an unknown field.
    op: Literal["transfer"]
    from_account: Name = Field(alias="from")
    to_account: Name = Field(alias="to")
    asset: Asset
    amount: Positive


class BorrowInput(InputModel):
    op: Literal["borrow"]
    account: Name
    asset: Asset
    amount: Positive


class RepayInput(InputModel):
    op: Literal["repay"]
    account: Name
    asset: Asset
    amount: Positive


class FillInput(InputModel):
    op: Literal["fill"]
    account: Name
    side: Literal["buy", "sell"]
    base: Asset
    quote: Asset
    quantity: Positive
    price: Positive


class AutoTopUpInput(InputModel):
    op: Literal["auto_topup"]
    account: Name
    source: Name
    assets: list[Asset] = Field(min_length=1, max_length=3)
    target: Level | None = None


@registers_open(Product.MARGIN)
def check_open_margin(body: OpenInput, check: LineChecker) -> None:
    if body.mode == AccountMode.SPOT:
        if body.leverage is not None or body.pair is not None:
            check.fail("leverage" if body.leverage is not None else "pair", "a spot account takes no leverage or pair")
        return
    if body.leverage is not None and str(body.leverage) not in check.known.parameter_data["margin"].get(body.mode, {}):
        check.fail("leverage", f"no margin tier for {body.mode} at {body.leverage}x")
    if body.mode == AccountMode.ISOLATED:
        _check_pair(body.pair, check)
    elif body.pair is not None:
        check.fail("pair", "only an isolated account has a pair")


def _check_pair(pair: str | None, check: LineChecker) -> None:
    if pair is None:
        check.fail("pair", 'an isolated account needs a pair such as "BTC/USDC"')
        return
    assets = pair.split("/")
    misnamed = not check.restoring and any(name_fault(a, NameKind.ASSET) for a in assets)
    if len(assets) != 2 or assets[0] == assets[1] or misnamed:
        check.fail("pair", f'{json.dumps(pair)} is not a pair of two assets such as "BTC/USDC"')
        return
    for asset in assets:
        check.asset("pair", asset)


@registers(DepositInput, WithdrawInput)
def check_account_amount(body: DepositInput | WithdrawInput, check: LineChecker) -> None:
    """Deposits and withdrawals: any account's (a futures wallet's too)."""
    check.account("account", body.account)
    if check.asset("asset", body.asset):
        check.amount("amount", body.asset, body.amount)


@registers(BorrowInput, RepayInput)
def check_debt_amount(body: BorrowInput | RepayInput, check: LineChecker) -> None:
    check_spot_or_margin_account(check, body.account)
    if check.asset("asset", body.asset):
        check.amount("amount", body.asset, body.amount)


def check_spot_or_margin_account(check: LineChecker, account: str) -> None:
    """A known account of this product (a futures wallet neither borrows nor fills)."""
    mode = check.known.accounts.get(account)
    if mode is None:
        check.account("account", account)
    elif AccountMode(mode).product is not Product.MARGIN:
        check.fail("account", f"'{account}' is a {mode} futures wallet, not a spot or margin account")


@registers(TransferInput)
def check_transfer(body: TransferInput, check: LineChecker) -> None:
    check.account("from", body.from_account)
    check.account("to", body.to_account)
    if body.from_account == body.to_account:
        check.fail("to", "a transfer needs two different accounts")
    if check.asset("asset", body.asset):
        check.amount("amount", body.asset, body.amount)


@registers(FillInput)
def check_fill(body: FillInput, check: LineChecker) -> None:
    check_spot_or_margin_account(check, body.account)
    base_known = check.asset("base", body.base)
    check.asset("quote", body.quote)
    if body.base == body.quote:
        check.fail("quote", "base and quote must differ")
    if base_known:
        check.amount("quantity", body.base, body.quantity)
    check.value_moved("price", body.quantity, body.price)


@registers(AutoTopUpInput)
def check_auto_topup(body: AutoTopUpInput, check: LineChecker) -> None:
    known = check.known
    check_spot_or_margin_account(check, body.account)
    check.account("source", body.source)
    if known.accounts.get(body.account, AccountMode.SPOT) not in MARGIN_MODES and body.account in known.accounts:
        check.fail("account", f"'{body.account}' is not a margin account")
    if known.accounts.get(body.source) not in (None, AccountMode.SPOT):
        check.fail("source", f"'{body.source}' is not a spot account")
    for asset in body.assets:
        check.asset("assets", asset)
    if len(set(body.assets)) != len(body.assets):
        check.fail("assets", "an asset is ranked twice")
