"""Moved into the :mod:`w2t_bkin.session` package (a module per phase); this path keeps working."""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = tuple("w2t_bkin.session." + name for name in ["pose"])


def __getattr__(name: str) -> Any:
    for module in _MODULES:
        found = importlib.import_module(module)
        if hasattr(found, name):
            return getattr(found, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
