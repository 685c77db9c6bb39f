"""Futures (USDⓈ-M and COIN-M): the exchange's margin rules as pure functions.

`brackets` (maintenance-margin brackets, cum derived), `contracts` (a symbol, notional,
margins, PnL, cost to open), `balances` (wallet, margin and available balances, ratios,
the liquidation thresholds), `liquidation_price` (the exchange's formulas) and `funding`.
Everything is Decimal and exact; rounding happens only where domain.md says.
"""
