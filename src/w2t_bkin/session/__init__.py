"""Processing one session: raw files in, one NWB file and its sidecars out.

Phases, in order, one module each (each phase logs its start, end and duration to the session's
``pipeline.log``):

=================  ==========================================================================
configuration      :mod:`~w2t_bkin.session.context`: configuration.toml and merged metadata
discovery          :mod:`~w2t_bkin.session.verify`: every glob of the metadata resolved
verification       :mod:`~w2t_bkin.session.verify`: cheap checks (probes, TTL, Bpod names)
pose generation    :mod:`~w2t_bkin.session.generate`: pose computed (cached) for cameras whose
                   model names a backend; declared models checked
ingestion          :mod:`~w2t_bkin.session.ingest`: pose outputs read per camera
synchronization    :mod:`~w2t_bkin.session.synchronize`: frame times and Bpod clock model
facial motion      :mod:`~w2t_bkin.session.facemotion`: motion energy and SVD of declared ROIs
assembly           :mod:`~w2t_bkin.session.assemble`: the NWB file staged under a temporary name
finalization       :mod:`~w2t_bkin.session.finalize`: validation, publication, QC, provenance
=================  ==========================================================================

:mod:`~w2t_bkin.session.driver` runs them (:func:`process_session`); the output-folder policy
(one run per session, earlier outputs set aside into ``previous/``) is in
:mod:`~w2t_bkin.session.outputs`, the sidecars (``status.json``, QC, provenance) in
:mod:`~w2t_bkin.session.sidecars`.

A failing phase stops the run with an error that names the phase, the file and the fix: any
exception becomes a :class:`~w2t_bkin.errors.PhaseError` (an unexpected one keeps its traceback
in ``pipeline.log``; the console shows it only with ``--debug``). The
:class:`~w2t_bkin.model.results.SessionResult` lists outputs, statistics and warnings either way.

Outputs and re-runs
-------------------
Every run writes ``pipeline.log`` and ``status.json`` (status, failed phase, error, outputs of
this run) and, unless the configuration turns them off, ``qc/report.html`` and
``provenance.json`` carrying the run's status, also when it failed. The NWB file is written
under a hidden temporary name, validated, and only then renamed to
``sub-<subject>_ses-<session>.nwb``: no partial or invalid file ever appears at that path. A file
with blocking validation findings is kept as ``sub-<subject>_ses-<session>.invalid.nwb``.

Several sessions may run at once in one process (threads) or in several processes: each run's
log records and warnings are routed to it alone (:mod:`w2t_bkin.runtime.capture`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from w2t_bkin.errors import PhaseError, UnexpectedError
    from w2t_bkin.model.results import SessionResult, SessionStatus
    from w2t_bkin.session.context import SessionContext, load_context
    from w2t_bkin.session.driver import PHASES, as_w2t_error, process_session
    from w2t_bkin.session.ingest import IngestedInputs
    from w2t_bkin.session.outputs import session_lock
    from w2t_bkin.session.verify import VerifiedInputs, discover_files, verify_inputs

# Loaded on first use: `w2t-bkin status` and the cache check import session.cache, which must
# not pull in the whole pipeline (pandas, SciPy, readers) through this package's __init__. A
# name that is also a submodule (``ingest``) is not offered: once that submodule is imported,
# the package attribute is the module.
_LAZY = {
    "PhaseError": "w2t_bkin.errors",
    "UnexpectedError": "w2t_bkin.errors",
    "SessionResult": "w2t_bkin.model.results",
    "SessionStatus": "w2t_bkin.model.results",
    "SessionContext": "w2t_bkin.session.context",
    "load_context": "w2t_bkin.session.context",
    "PHASES": "w2t_bkin.session.driver",
    "as_w2t_error": "w2t_bkin.session.driver",
    "process_session": "w2t_bkin.session.driver",
    "IngestedInputs": "w2t_bkin.session.ingest",
    "session_lock": "w2t_bkin.session.outputs",
    "VerifiedInputs": "w2t_bkin.session.verify",
    "discover_files": "w2t_bkin.session.verify",
    "verify_inputs": "w2t_bkin.session.verify",
}

__all__ = [
    "PHASES",
    "IngestedInputs",
    "PhaseError",
    "SessionContext",
    "SessionResult",
    "SessionStatus",
    "UnexpectedError",
    "VerifiedInputs",
    "as_w2t_error",
    "discover_files",
    "load_context",
    "process_session",
    "session_lock",
    "verify_inputs",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
