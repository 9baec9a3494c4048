"""First module the feature fork server imports (nothing else does): what its workers inherit.

A feature class defined in a module run as ``python -m package.module`` is preloaded by the
server, and, as multiprocessing does for every worker, that main module is run again as
``__mp_main__``; runpy then warns that the module is already imported. Both runs are intended
(the preload spares each worker the module's imports), so the warning is silenced here, in the
server and the workers forked from it only.
"""

from __future__ import annotations

import warnings

warnings.filterwarnings(
    "ignore",
    message=r".*found in sys\.modules after import of package.*",
    category=RuntimeWarning,
)
