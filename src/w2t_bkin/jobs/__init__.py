"""The pose job daemon: folders of videos in, pose results out, never losing finished work.

- :mod:`~w2t_bkin.jobs.layout`: the data folder (``in/``, ``out/``, ``failed/``, lock, staging)
  and completeness detection (``.ready`` marker, or unchanged and settled across polls);
- :mod:`~w2t_bkin.jobs.status`: ``out/status.json`` (versioned JSON schema, atomic writes,
  rebuilt from disk when missing or corrupt) and :func:`read_status` for dashboards;
- :mod:`~w2t_bkin.jobs.daemon`: :class:`JobDaemon` (watch or drain, signals, crash recovery,
  videos as executor tasks);
- :mod:`~w2t_bkin.jobs.worker`: the per-video task (estimate, write result and record);
- :mod:`~w2t_bkin.jobs.ingest`: :func:`ingest_zip` (validate everything, then place atomically);
- :mod:`~w2t_bkin.jobs.admin`: :func:`retry_job` and :func:`reset_data_dir`.

Names are imported on first use, so ``import w2t_bkin.jobs`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DaemonConfig": "w2t_bkin.jobs.daemon",
    "JobDaemon": "w2t_bkin.jobs.daemon",
    "ingest_zip": "w2t_bkin.jobs.ingest",
    "read_status": "w2t_bkin.jobs.status",
    "reset_data_dir": "w2t_bkin.jobs.admin",
    "retry_job": "w2t_bkin.jobs.admin",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
