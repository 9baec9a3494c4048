"""SpikeInterface's numba kernels are compiled once and kept on disk (not per worker process)."""

from __future__ import annotations

import importlib
import importlib.util

from _skip import skip_or_fail
from w2t_bkin.ephys._spikeinterface import KERNEL_MODULES, cache_numba_kernels, kernel_modules_for


def test_sorter_kernels_get_an_on_disk_cache() -> None:
    if importlib.util.find_spec("numba") is None:  # make test installs it: CI fails
        skip_or_fail("numba is not installed (pip install -e '.[ephys]')")
    from numba.core.caching import FunctionCache, NullCache
    from numba.core.dispatcher import Dispatcher

    n_cached = cache_numba_kernels()

    module = importlib.import_module(KERNEL_MODULES[1])  # locally exclusive peak detection
    kernel = module.detect_peaks_numba_locally_exclusive_on_chunk
    assert isinstance(kernel, Dispatcher)
    assert isinstance(kernel._cache, FunctionCache)
    assert not isinstance(kernel._cache, NullCache)
    assert n_cached >= 2  # both peak detection kernels at least
    # a second call finds them cached and keeps the same cache object
    cache = kernel._cache
    assert cache_numba_kernels(KERNEL_MODULES) == n_cached
    assert kernel._cache is cache


def test_modules_missing_from_this_version_are_skipped() -> None:
    assert cache_numba_kernels(("spikeinterface.no_such_module",)) == 0


def test_simple_sorter_does_not_import_clustering_for_its_cache() -> None:
    simple = kernel_modules_for("simple")
    assert KERNEL_MODULES[1] in simple
    assert not any(".clustering." in m or ".matching." in m for m in simple)
    assert kernel_modules_for("spykingcircus2") == KERNEL_MODULES
