"""The futures product's inputs (scenario.md, "Futures inputs"): position mode, leverage,
trades, funding and isolated margin, a mark on a symbol (`ledger.inputs.market` reads
the `mark` op and asks here), and the checks of opening a USDⓈ-M or COIN-M wallet.
Each model is registered with its check (`ledger.inputs.registry`).

What a line's shape and the known accounts, assets and symbols can tell is an input
error; what depends on the wallet's state (its positions, its balance, the marks) is
a rejection, decided by the command.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ValidationInfo

from ledger.domain.limits import AMOUNT_MAX, LEVERAGE_MAX, RATE_MAX, Sign, parse_whole_number
from ledger.domain.product import AccountMode, Product
from ledger.inputs.checker import LineChecker
from ledger.inputs.fields import InputModel, Name, Positive, Symbol, decimal_field, restoring
from ledger.inputs.opening import OpenInput, registers_open
from ledger.inputs.registry import registers

USDM_DEFAULT_ASSET = "USDT"


def _futures_leverage(value: Any, info: ValidationInfo) -> int:
    return value if restoring(info) else parse_whole_number(value, minimum=1, maximum=LEVERAGE_MAX)


FuturesLeverage = Annotated[int, BeforeValidator(_futures_leverage)]
Fee = Annotated[Decimal, decimal_field(Sign.NON_NEGATIVE, AMOUNT_MAX)]
FundingRate = Annotated[Decimal, decimal_field(Sign.ANY, RATE_MAX)]
SignedAmount = Annotated[Decimal, decimal_field(Sign.NON_ZERO, AMOUNT_MAX)]
PositionSide = Literal["long", "short"]


class PositionModeInput(InputModel):
    op: Literal["position_mode"]
    account: Name
    mode: Literal["one_way", "hedge"]


class LeverageInput(InputModel):
    op: Literal["leverage"]
    account: Name
    symbol: Symbol
    leverage: FuturesLeverage
    margin_type: Literal["cross", "isolated"]


class TradeInput(InputModel):
    op: Literal["trade"]
    account: Name
    symbol: Symbol
    side: Literal["buy", "sell"]
    quantity: Positive
    price: Positive
    position_side: PositionSide | None = None
    reduce_only: bool = False
    fee: Fee = Decimal(0)


class FundingInput(InputModel):
    op: Literal["funding"]
    symbol: Symbol
    rate: FundingRate


class IsolatedMarginInput(InputModel):
    op: Literal["isolated_margin"]
    account: Name
    symbol: Symbol
    amount: SignedAmount
    position_side: PositionSide | None = None


# --- checks in context ---------------------------------------------------------------------


@registers_open(Product.FUTURES)
def check_open_futures(body: OpenInput, check: LineChecker) -> None:
    if body.leverage is not None:
        check.fail("leverage", "a futures wallet takes no leverage: each symbol's is set by a leverage input")
    if body.pair is not None:
        check.fail("pair", "a futures wallet has no pair")
    if body.mode == AccountMode.COINM and body.asset is None:
        check.fail("asset", 'a coinm wallet needs its margin coin, such as "BTC"')
    if body.asset is not None:
        check.asset("asset", body.asset)


def wallet_asset(body: OpenInput) -> str:
    """The asset of a futures wallet as its `open` names it (USDⓈ-M: USDT unless named)."""
    return body.asset or USDM_DEFAULT_ASSET


def check_futures_account(check: LineChecker, account: str) -> None:
    """A known account, and a futures one."""
    mode = check.known.accounts.get(account)
    if mode is None:
        check.account("account", account)
    elif AccountMode(mode).product is not Product.FUTURES:
        check.fail("account", f"'{account}' is a {mode} account, not a futures wallet")


def settlement_asset(spec: dict[str, Any]) -> str:
    """The asset a symbol's margin, PnL and fees are in: an inverse symbol's coin, a linear
    symbol's quote asset."""
    asset: str = spec["base"] if spec["type"] == "inverse" else spec["quote"]
    return asset


@registers(PositionModeInput)
def check_position_mode(body: PositionModeInput, check: LineChecker) -> None:
    check_futures_account(check, body.account)


@registers(LeverageInput)
def check_leverage(body: LeverageInput, check: LineChecker) -> None:
    check_futures_account(check, body.account)
    check.symbol("symbol", body.symbol)


@registers(TradeInput)
def check_trade(body: TradeInput, check: LineChecker) -> None:
    check_futures_account(check, body.account)
    spec = check.symbol("symbol", body.symbol)
    if spec is None:
        return
    if spec["type"] == "inverse":
        if body.quantity != body.quantity.to_integral_value():
            check.fail("quantity", f"{body.symbol} trades whole contracts, not {body.quantity}")
    else:
        check.amount("quantity", spec["base"], body.quantity)
        check.value_moved("price", body.quantity, body.price)
    check.amount("fee", settlement_asset(spec), body.fee)


@registers(FundingInput)
def check_funding(body: FundingInput, check: LineChecker) -> None:
    check.symbol("symbol", body.symbol)


@registers(IsolatedMarginInput)
def check_isolated_margin(body: IsolatedMarginInput, check: LineChecker) -> None:
    check_futures_account(check, body.account)
    spec = check.symbol("symbol", body.symbol)
    if spec is not None:
        check.amount("amount", settlement_asset(spec), body.amount.copy_abs())
