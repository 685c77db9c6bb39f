"""The futures product's read side (USDⓈ-M and COIN-M wallets): its views, its report
section and `trades` list, its wallets' state in `history`, its postmortem, its check against the books
and what `ledger replay` compares of it, each registered on the shared table of its
concern when its module is imported (here)."""

import projections.futures.counterfactual  # noqa: F401
import projections.futures.history  # noqa: F401
import projections.futures.postmortem  # noqa: F401
import projections.futures.reconcile  # noqa: F401
import projections.futures.report  # noqa: F401
import projections.futures.views  # noqa: F401
