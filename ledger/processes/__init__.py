"""The processes: what recorded events call for (`routing`), the steps that carry it
out (`steps`), the drivers' indexes (`indexes`), and the two drivers: `ledger run`
inline (`inline`) and the service's workers (`service`).

Each product's processes register their steps, reactions and handlers when imported;
this is the one list of them (a new product adds its line).
"""

import ledger.processes.futures  # noqa: F401 - registers the futures product's processes
import ledger.processes.margin  # noqa: F401 - registers the spot-margin product's processes
