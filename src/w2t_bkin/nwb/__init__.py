"""NWB output: assembly of a session (per-modality writers), atomic writing and inspection.

This is the only package that imports pynwb for writing. Names are imported lazily so that
``import w2t_bkin.nwb.<module>`` for one module does not load pynwb and every extension.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CameraAssembly": "w2t_bkin.nwb.assembly",
    "SessionAssembly": "w2t_bkin.nwb.assembly",
    "TrialsAssembly": "w2t_bkin.nwb.assembly",
    "build_nwbfile": "w2t_bkin.nwb.assembly",
    "write_nwb": "w2t_bkin.nwb.assembly",
    "write_nwbfile_atomic": "w2t_bkin.nwb.io",
    "summarize_nwb": "w2t_bkin.nwb.inspection",
    "format_summary": "w2t_bkin.nwb.inspection",
    "read_nwb": "w2t_bkin.nwb.inspection",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
