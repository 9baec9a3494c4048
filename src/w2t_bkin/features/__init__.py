"""The feature pipeline: declarative, cached, lineage-tracked features on pose tracks.

Public names load on first use (``from w2t_bkin.features import run_feature``), so importing
the package stays cheap; pandas and pyarrow load only when tables are read or written.

* :class:`FeatureDataset` — tracks with real timestamps, feature runs, the registry;
* :class:`BaseFeature`, :class:`Params`, :class:`Inputs`, :class:`Result`, :class:`HashExclude`;
* :func:`run_feature`, :class:`Pipeline`, :class:`FeatureStep`, :class:`CallbackStep`;
  :func:`shutdown_workers` stops the process-mode workers kept between runs;
* :mod:`w2t_bkin.features.models` — behaviour classifiers with training progress;
* :mod:`w2t_bkin.features.library` — the pure kinematics functions;
  :mod:`w2t_bkin.features.builtin` — them as pipeline features.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FeatureDataset": "w2t_bkin.features.dataset",
    "TrackEntry": "w2t_bkin.features.dataset",
    "BaseFeature": "w2t_bkin.features.base",
    "Feature": "w2t_bkin.features.base",
    "InputStream": "w2t_bkin.features.base",
    "TrainingProgressCallback": "w2t_bkin.features.base",
    "HashExclude": "w2t_bkin.features.identity",
    "Inputs": "w2t_bkin.features.identity",
    "Params": "w2t_bkin.features.identity",
    "Result": "w2t_bkin.features.identity",
    "run_feature": "w2t_bkin.features.run",
    "shutdown_workers": "w2t_bkin.features._workers",
    "Pipeline": "w2t_bkin.features.pipeline",
    "FeatureStep": "w2t_bkin.features.pipeline",
    "CallbackStep": "w2t_bkin.features.pipeline",
    "FeatureRegistry": "w2t_bkin.features.registry",
    "read_progress": "w2t_bkin.features.registry",
    "make_entry_key": "w2t_bkin.features.keys",
    "parse_entry_key": "w2t_bkin.features.keys",
    "train_model": "w2t_bkin.features.models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'w2t_bkin.features' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
