"""The futures product's processes: its drivers' index (which wallets hold each symbol),
the evaluation of a wallet against its maintenance margins, funding settlements, and the
futures liquidation (trigger, then close, clearance fee, shortfall and unlock). Importing
this package registers their indexes, steps, reactions and handlers."""

from ledger.processes.futures import (  # noqa: F401 - registers them
    evaluation,
    funding,
    indexes,
    liquidation,
    risk,
)
