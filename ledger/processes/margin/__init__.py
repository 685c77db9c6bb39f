"""The spot-margin product's processes: margin evaluation and auto top-up, the
liquidation (regular part, hand-off, fee, return, unlock), the takeover desk, and
hourly interest. Importing this package registers their steps, reactions and handlers."""

from ledger.processes.margin import evaluation, interest, liquidation, takeover  # noqa: F401 - registers them
