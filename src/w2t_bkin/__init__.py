"""w2t-bkin: raw behavioural-neuroscience sessions to synchronized, validated NWB files.

The package has no side effects at import: no logging set-up, no I/O. The Python API is the
same as the command line's:

- :func:`process_session` (``w2t_bkin.session.process_session``): one session, a
  :class:`~w2t_bkin.model.results.SessionResult`;
- :func:`run_batch` (``w2t_bkin.batch.run_batch``): the selected sessions of a workspace with
  caching, the run registry and an executor (local processes or Dask), a
  :class:`~w2t_bkin.batch.BatchResult`.

Both are imported on first use, so ``import w2t_bkin`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from w2t_bkin._version import __version__
from w2t_bkin.errors import W2TError

_LAZY = {"process_session": "w2t_bkin.session", "run_batch": "w2t_bkin.batch"}

__all__ = ["W2TError", "__version__", "process_session", "run_batch"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
