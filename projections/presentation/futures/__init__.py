"""How the futures product's wallets, trades and liquidations are printed in the report,
each registered on the shared table of its concern when its module is imported (here)."""

import projections.presentation.futures.report  # noqa: F401
