"""Read models: what reports, history and reconciliation read.

Below: the products whose views and read models the read side knows, each
registering its own entries when imported (`projections.products`,
`LedgerViews.update`). A new product adds its line here.
"""

import projections.futures  # noqa: F401
import projections.margin  # noqa: F401
