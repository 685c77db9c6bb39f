"""What kind of account an account is: its mode, and the product whose rules it
follows. Defined once; the values are the words inputs and stored events use."""

from __future__ import annotations

from enum import StrEnum


class Product(StrEnum):
    MARGIN = "margin"  # spot wallets and spot-margin accounts (seed 004)
    FUTURES = "futures"  # USDⓈ-M and COIN-M futures accounts


class AccountMode(StrEnum):
    SPOT = "spot"
    CROSS_CLASSIC = "cross_classic"
    CROSS_PRO = "cross_pro"
    ISOLATED = "isolated"
    USDM = "usdm"
    COINM = "coinm"

    @property
    def product(self) -> Product:
        return Product.FUTURES if self in FUTURES_MODES else Product.MARGIN

    @property
    def is_margin(self) -> bool:
        return self in MARGIN_MODES


MARGIN_MODES = (AccountMode.CROSS_CLASSIC, AccountMode.CROSS_PRO, AccountMode.ISOLATED)
FUTURES_MODES = (AccountMode.USDM, AccountMode.COINM)
