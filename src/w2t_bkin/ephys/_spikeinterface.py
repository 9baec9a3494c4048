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


#: SpikeInterface modules whose module-level numba kernels every in-process sorter calls (peak
#: detection, sorting tools; SpikeInterface 0.105).
_COMMON_KERNELS = (
    "spikeinterface.core.sorting_tools",
    "spikeinterface.sortingcomponents.peak_detection.locally_exclusive",
    "spikeinterface.sortingcomponents.peak_detection.matched_filtering",
    "spikeinterface.postprocessing.localization_tools",
    "spikeinterface.postprocessing.template_similarity",
)
#: ... and those of clustering and template matching, which ``simple`` never imports (importing
#: them only to cache their kernels costs seconds).
KERNEL_MODULES = (
    *_COMMON_KERNELS,
    "spikeinterface.sortingcomponents.clustering.isosplit_isocut",
    "spikeinterface.sortingcomponents.clustering.itersplit_tools",
    "spikeinterface.sortingcomponents.matching.tdc_peeler",
)


def kernel_modules_for(sorter: str) -> tuple[str, ...]:
    """The modules whose kernels ``sorter`` runs (measured with SpikeInterface 0.105.3)."""
    return _COMMON_KERNELS if sorter == "simple" else KERNEL_MODULES


def cache_numba_kernels(modules: tuple[str, ...] = KERNEL_MODULES) -> int:
    """Keep SpikeInterface's compiled numba kernels on disk, so a new process loads them.

    SpikeInterface declares its kernels without ``cache=True``: every process (each worker of
    ``ephys sort --jobs N``, every new command) compiles them again, which costs tens of
    seconds of CPU on a 2-vCPU machine (measured: 27 s of a 44 s first sort of a 20 s
    recording). Numba's ``Dispatcher.enable_caching()`` is what ``cache=True`` calls: with it the
    first compile writes the machine code next to the module (or to numba's user-wide cache
    directory, ``NUMBA_CACHE_DIR``, when that is read-only) and later processes load it. The
    cache is keyed by the source file's timestamp and the argument types, so an upgrade
    recompiles.

    Returns
    -------
    int
        Kernels now cached (0 without numba or SpikeInterface).
    """
    try:
        from numba.core.caching import NullCache
        from numba.core.dispatcher import Dispatcher
    except ImportError:
        return 0
    n_cached = 0
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a module this SpikeInterface version does not have
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher):
                # private attribute, but the only way to tell "already cached" from "not"
                if isinstance(getattr(value, "_cache", None), NullCache):
                    value.enable_caching()
                n_cached += 1
    return n_cached
