"""SpikeInterface, imported at the point of use: a missing install names the ``ephys`` extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from w2t_bkin.errors import MissingExtraError


def require_spikeinterface(purpose: str) -> ModuleType:
    """Import ``spikeinterface``, or raise :class:`MissingExtraError` naming the ``ephys`` extra.

    (``extras.require`` does not know the ``ephys`` extra yet; this is the same behaviour.)
    """
    try:
        return importlib.import_module("spikeinterface")
    except ImportError as exc:
        missing = exc.name is not None and "spikeinterface".startswith(exc.name)
        raise MissingExtraError(
            "spikeinterface", "ephys", purpose=purpose, cause=None if missing else str(exc)
        ) from exc
