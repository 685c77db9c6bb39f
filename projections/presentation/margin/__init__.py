"""How the spot-margin product's accounts and liquidations are printed: the report's
and `history`'s sheets, the postmortem's sheets and page, each registered on the
shared table of its concern when its module is imported (here)."""

import projections.presentation.margin.html  # noqa: F401
import projections.presentation.margin.postmortem  # noqa: F401
import projections.presentation.margin.report  # noqa: F401
