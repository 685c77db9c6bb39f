"""The default futures symbols and their leverage brackets (version 1 of the parameters).

Where the figures come from:

USDⓈ-M BTCUSDT/ETHUSDT: github.com/freqtrade/freqtrade,
freqtrade/exchange/binance_leverage_tiers.json at commit
c9ae5e1e9ff25bb55dd61f5e5519f7c479291edb (file last changed by
3d9514d2660c42dfdbde517f7b421d1a5cf4f196, 2024-10-24; keys 'BTC/USDT:USDT',
'ETH/USDT:USDT'; cap = info.notionalCap, max_leverage = info.initialLeverage, mmr =
info.maintMarginRatio; cum derived by cum_n = floor_n x (MMR_n - MMR_n-1) + cum_n-1
matches info.cum in all 24 rows). COIN-M: freqtrade's file has no COIN-M symbols.
BTCUSD_PERP floors and MMRs: github.com/ccxt/ccxt,
ts/src/test/static/response/binance.json at commit
05776890e288bf88d1aeba7b62da9e697d3e37f5, options.leverageBrackets['BTC/USD:BTC']
([floor, MMR] pairs; cap = next floor, in BTC; undated, older than Binance's 2024
table); max leverage: Binance FAQ be2c7d9d95b04a7e8044ed02dd7dfe5c 'Leverage and Margin
in Coin-Margined Futures Contracts' (125x<=5, 100x<=10, 50x<=20, 20x<=50, 10x<=100,
5x<=200, 4x<=400 BTC; 3x<=1000 and 2x<=1500 follow the ccxt floors, 2x<=1500 also
matches maxQty 1500 at 2x in dev.binance.vision topic 7049); cum 11.605 at 12.5%
(200-400 BTC) is confirmed by Binance FAQ ceccfcfb4e3a45e3b48b0b1bb1a8ae46. The last cap
(1x, MMR 0.5, floor 1500) is not in any source: 9223372036854775807 stands for 'no cap'.
ETHUSD_PERP: NO published bracket table was found; caps and max leverage are the ETHUSD
ladder of Binance FAQ be2c7d9d95b04a7e8044ed02dd7dfe5c (2020 version: 100x<=100,
75x<=500, 50x<=1000, 20x<=2000, 10x<=4000, 5x<=6000, 4x<=8000, 3x<=10000, 2x above 10000
ETH, last cap 'no cap' as above) and each MMR is ASSUMED: the MMR the same max leverage
has in every sourced table here (100x 0.5%, 75x 0.65%, 50x 1%, 20x 2.5%, 10x 5%, 5x 10%,
4x 12.5%, 3x 15%, 2x 25%); replace it when a real table is found. COIN-M caps are in
coin (BTC/ETH): notional = contracts x contract_size / mark.
"""

from __future__ import annotations

from typing import Any

DEFAULT_SYMBOLS: dict[str, Any] = {
    "BTCUSDT": {
        "type": "linear",
        "base": "BTC",
        "quote": "USDT",
        "brackets": [
            {"cap": "50000", "max_leverage": 125, "mmr": "0.004"},
            {"cap": "600000", "max_leverage": 100, "mmr": "0.005"},
            {"cap": "3000000", "max_leverage": 75, "mmr": "0.0065"},
            {"cap": "12000000", "max_leverage": 50, "mmr": "0.01"},
            {"cap": "70000000", "max_leverage": 25, "mmr": "0.02"},
            {"cap": "100000000", "max_leverage": 20, "mmr": "0.025"},
            {"cap": "230000000", "max_leverage": 10, "mmr": "0.05"},
            {"cap": "480000000", "max_leverage": 5, "mmr": "0.1"},
            {"cap": "600000000", "max_leverage": 4, "mmr": "0.125"},
            {"cap": "800000000", "max_leverage": 3, "mmr": "0.15"},
            {"cap": "1200000000", "max_leverage": 2, "mmr": "0.25"},
            {"cap": "1800000000", "max_leverage": 1, "mmr": "0.5"},
        ],
    },
    "ETHUSDT": {
        "type": "linear",
        "base": "ETH",
        "quote": "USDT",
        "brackets": [
            {"cap": "50000", "max_leverage": 125, "mmr": "0.004"},
            {"cap": "600000", "max_leverage": 100, "mmr": "0.005"},
            {"cap": "3000000", "max_leverage": 75, "mmr": "0.0065"},
            {"cap": "12000000", "max_leverage": 50, "mmr": "0.01"},
            {"cap": "50000000", "max_leverage": 25, "mmr": "0.02"},
            {"cap": "65000000", "max_leverage": 20, "mmr": "0.025"},
            {"cap": "150000000", "max_leverage": 10, "mmr": "0.05"},
            {"cap": "320000000", "max_leverage": 5, "mmr": "0.1"},
            {"cap": "400000000", "max_leverage": 4, "mmr": "0.125"},
            {"cap": "530000000", "max_leverage": 3, "mmr": "0.15"},
            {"cap": "800000000", "max_leverage": 2, "mmr": "0.25"},
            {"cap": "1200000000", "max_leverage": 1, "mmr": "0.5"},
        ],
    },
    "BTCUSD_PERP": {
        "type": "inverse",
        "base": "BTC",
        "contract_size": "100",
        "brackets": [
            {"cap": "5", "max_leverage": 125, "mmr": "0.004"},
            {"cap": "10", "max_leverage": 100, "mmr": "0.005"},
            {"cap": "20", "max_leverage": 50, "mmr": "0.01"},
            {"cap": "50", "max_leverage": 20, "mmr": "0.025"},
            {"cap": "100", "max_leverage": 10, "mmr": "0.05"},
            {"cap": "200", "max_leverage": 5, "mmr": "0.1"},
            {"cap": "400", "max_leverage": 4, "mmr": "0.125"},
            {"cap": "1000", "max_leverage": 3, "mmr": "0.15"},
            {"cap": "1500", "max_leverage": 2, "mmr": "0.25"},
            {"cap": "9223372036854775807", "max_leverage": 1, "mmr": "0.5"},
        ],
    },
    "ETHUSD_PERP": {
        "type": "inverse",
        "base": "ETH",
        "contract_size": "10",
        "brackets": [
            {"cap": "100", "max_leverage": 100, "mmr": "0.005"},
            {"cap": "500", "max_leverage": 75, "mmr": "0.0065"},
            {"cap": "1000", "max_leverage": 50, "mmr": "0.01"},
            {"cap": "2000", "max_leverage": 20, "mmr": "0.025"},
            {"cap": "4000", "max_leverage": 10, "mmr": "0.05"},
            {"cap": "6000", "max_leverage": 5, "mmr": "0.1"},
            {"cap": "8000", "max_leverage": 4, "mmr": "0.125"},
            {"cap": "10000", "max_leverage": 3, "mmr": "0.15"},
            {"cap": "9223372036854775807", "max_leverage": 2, "mmr": "0.25"},
        ],
    },
}
