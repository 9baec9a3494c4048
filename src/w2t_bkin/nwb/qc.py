"""Moved to :mod:`w2t_bkin.report.qc` (reports are not NWB); this path keeps working."""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    return getattr(importlib.import_module("w2t_bkin.report.qc"), name)
