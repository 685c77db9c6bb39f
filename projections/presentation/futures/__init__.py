"""How the futures product's wallets, trades and liquidations are printed: the report's
and `history`'s sheets, the postmortem's sheets and page, each registered on the shared
table of its concern when its module is imported (here)."""

import projections.presentation.futures.html  # noqa: F401
import projections.presentation.futures.postmortem  # noqa: F401
import projections.presentation.futures.report  # noqa: F401
