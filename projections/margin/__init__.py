"""The spot-margin product's read side: its views, its report section, its accounts'
state in `history`, its postmortem, its check against the books and what `ledger replay`
compares of it, each registered
on the shared table of its concern when its module is imported (here)."""

import projections.margin.counterfactual  # noqa: F401
import projections.margin.history  # noqa: F401
import projections.margin.postmortem  # noqa: F401
import projections.margin.reconcile  # noqa: F401
import projections.margin.report  # noqa: F401
import projections.margin.views  # noqa: F401
