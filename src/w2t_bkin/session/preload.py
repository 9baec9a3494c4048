"""What a worker process imports as it starts, so that its first session imports nothing.

A session imports its heavy libraries where it uses them (``w2t-bkin --help`` and
``w2t-bkin status`` must start fast): PyAV, SciPy, pynwb and the NWB extensions, nwbinspector,
matplotlib, PIL, isal. A worker that runs sessions should instead have them loaded before its
first task, while the coordinator runs the preflight. Importing this module does that: the
local pool's fork server imports it once for every worker it forks, Dask workers import it
as their ``preload`` (:data:`w2t_bkin.runtime.executors.common.WORKER_PRELOAD`), and the
command line before it runs its first session itself (``run_batch(own_process=True)``).
It ends by freezing what is loaded out of the garbage collector's full passes
(``gc.freeze``): import it only in a process that runs sessions and then exits.

Complete for the sessions of :mod:`w2t_bkin.testing`'s generator (a test runs one in a process
that imported only this module and checks that no module was imported after it); inputs that
sessions seldom have (Bpod ``.mat`` files, ephys recordings, pose models) still load what they
need when they meet it.
"""

from __future__ import annotations

import contextlib
import gc
import importlib

from w2t_bkin.report.backend import draw_to_files

MODULES = (
    # the whole session driver: every phase module and what they import at module level
    "w2t_bkin.session.driver",
    "w2t_bkin.nwb.assembly",
    "w2t_bkin.nwb.validation",
    "w2t_bkin.report.provenance",
    "w2t_bkin.report.qc",
    # what the phases import inside functions: the input readers (PyAV, gzip through isal),
    # validation, the QC report (PIL encodes its PNGs)
    "av.subtitles.stream",
    "isal.igzip_lib",
    "isal.isal_zlib",
    "nwbinspector",
    "PIL.Image",
    "encodings.ascii",
    "encodings.raw_unicode_escape",
    "encodings.utf_8_sig",
    # the helper process that validates beside the QC drawing (finalization)
    "multiprocessing.heap",
    "multiprocessing.popen_fork",
    "multiprocessing.sharedctypes",
    "multiprocessing.synchronize",
)
"""Imported, in this order, by importing this module."""

OPTIONAL_MODULES = ("pyarrow.pandas_compat", "pyarrow.vendored.version")
"""Imported where installed: pyarrow comes with the ``features`` extra and pandas uses it where
present. A worker must start without it (a Dask worker whose preload raises does not start)."""

draw_to_files()  # a worker never shows a window; before matplotlib is imported
for _name in MODULES:
    importlib.import_module(_name)
for _name in OPTIONAL_MODULES:
    with contextlib.suppress(ImportError):
        importlib.import_module(_name)

# PIL registers its image plugins on the first save; a worker's first QC report need not
importlib.import_module("PIL.Image").preinit()

# What is loaded now lives as long as the worker: the garbage collector's full passes (one
# after every session's assembly, see the driver) skip these ~220,000 objects from now on,
# and forked workers do not copy the pages that collecting them would write to.
gc.freeze()
