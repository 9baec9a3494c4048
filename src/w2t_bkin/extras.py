"""Optional extras: heavy dependencies imported only by the code paths that need them.

``pip install w2t-bkin`` gives the whole raw → NWB pipeline; an extra adds what only some
inputs need. A code path that needs one calls :func:`require` at the point of use, so that a
missing package fails with :class:`~w2t_bkin.errors.MissingExtraError` (exit code 7) that says
what needed it and which extra to install, instead of a bare ``ModuleNotFoundError``.

Extras (``pyproject.toml``, ``[project.optional-dependencies]``; ``all`` installs every one):

``pose``
    ``sleap-io``: reading SLEAP ``.slp`` label and prediction files (SLEAP analysis exports,
    DeepLabCut and Lightning Pose files need no extra); ``mediapipe`` and ``flatbuffers``:
    pose estimation with MediaPipe (``w2t-bkin pose``, pose generated in the pipeline).
``dask``
    ``dask[distributed]`` and ``dask-jobqueue``: ``run --executor dask`` (a local Dask cluster,
    a running scheduler, or Dask workers started as SLURM jobs).
``features``
    ``pyarrow``, ``scikit-learn``, ``skops``: the feature pipeline's Parquet storage, behaviour
    classifiers and their safe model files (``w2t-bkin features``).
``analysis``
    ``numba``: the compiled exact DTW (``w2t-bkin analyze``).
``ephys``
    ``spikeinterface[full]``: spike-sorting dispatch and sorting (``w2t-bkin ephys``).
``web``
    ``fastapi``, ``uvicorn``, ``python-multipart``, ``jinja2``: the dashboard
    (``w2t-bkin server start``).
``prefect``
    ``prefect``: the ``process-session`` and ``batch-process-sessions`` Prefect deployments
    (``w2t-bkin server start --prefect``, :mod:`w2t_bkin.deploy.prefect_flows`).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from w2t_bkin.errors import MissingExtraError

EXTRAS: dict[str, tuple[str, ...]] = {
    "pose": ("sleap-io", "mediapipe", "flatbuffers"),
    "dask": ("dask", "dask-jobqueue"),
    "features": ("pyarrow", "scikit-learn", "skops"),
    "analysis": ("numba",),
    "ephys": ("spikeinterface",),
    "web": ("fastapi", "uvicorn", "python-multipart", "jinja2"),
    "prefect": ("prefect",),
}
"""Distributions each extra installs (the ``all`` extra installs every one)."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or explain which extra provides it.

    Parameters
    ----------
    module
        Import name, e.g. ``"sleap_io"``.
    extra
        The w2t-bkin extra that installs it, e.g. ``"pose"``.
    purpose
        What needs it, as the start of a sentence: ``"reading SLEAP file x.slp"``.

    Returns
    -------
    ModuleType
        The imported module.

    Raises
    ------
    MissingExtraError
        The module (or its top-level package) is not installed, or it is installed but its
        own import fails (a broken or incompatible installation); the hint names the extra.
    """
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {sorted(EXTRAS)}")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = exc.name is not None and (module == exc.name or module.startswith(exc.name + "."))
        if missing:
            raise MissingExtraError(module, extra, purpose=purpose) from exc
        # installed, but something it imports is absent or incompatible
        raise MissingExtraError(module, extra, purpose=purpose, cause=str(exc)) from exc


__all__ = ["EXTRAS", "require"]
