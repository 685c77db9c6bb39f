"""The spot-margin product's processes: its drivers' indexes (who owes, open takeovers,
which marks may change whom), margin assessment, evaluation and auto top-up, the
liquidation (regular part, hand-off, fee, return, unlock), the takeover desk, and
hourly interest. Importing this package registers their indexes, steps, reactions and handlers."""

from ledger.processes.margin import (  # noqa: F401 - registers them
    assessment,
    evaluation,
    indexes,
    interest,
    liquidation,
    takeover,
)
