"""Presentation: the read models' data turned into text (rich tables) and HTML pages.
The read models (`projections.report`, `history`, `postmortem`, `reconcile`,
`counterfactual`) produce data and never import this package.

Below: the products whose sheets and pages it knows, each registering its own
(`projections.products`). A new product adds its line here; the report prints the
products' sheets in this order.
"""

# isort: off
import projections.presentation.margin  # noqa: F401
import projections.presentation.futures  # noqa: F401

# isort: on
