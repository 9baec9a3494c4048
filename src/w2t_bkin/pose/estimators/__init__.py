"""Pose estimator backends and their registry.

``make_estimator("mediapipe")`` makes an estimator by name; :func:`list_backends` lists the names.
A backend registers a factory with :func:`register_backend`; the built-in factories import
their framework only when called, so listing backends stays cheap.

Built-in backends:

``synthetic``
    Deterministic, known kinematics, no model file (:mod:`.synthetic`).
``mediapipe``
    MediaPipe Pose Landmarker (human, 33 keypoints, 2-D and 3-D world landmarks), in process,
    offline, from a ``.task`` bundle (:mod:`.mediapipe`).
``deeplabcut``, ``sleap``
    The user's trained model, run by a worker subprocess in the backend's own Python
    environment (:mod:`w2t_bkin.pose.worker`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from w2t_bkin.pose.errors import UnknownPoseBackendError
from w2t_bkin.pose.estimators.base import (
    EstimatorInfo,
    FrameBuffers,
    FramePoseEstimator,
    PoseEstimator,
    Progress,
    VideoPoseEstimator,
)

__all__ = [
    "BackendEntry",
    "EstimatorInfo",
    "FrameBuffers",
    "FramePoseEstimator",
    "PoseEstimator",
    "Progress",
    "VideoPoseEstimator",
    "backend_entry",
    "list_backends",
    "make_estimator",
    "register_backend",
]

EstimatorFactory = Callable[..., PoseEstimator]


@dataclass(frozen=True)
class BackendEntry:
    """One registered backend.

    Attributes
    ----------
    name
        Registry name.
    factory
        ``"module:function"`` path of ``factory(model, **options) -> PoseEstimator`` (imported
        when the backend is made), or the function itself.
    description
        One line for ``--help`` and listings.
    needs_model
        The backend cannot run without a ``model`` argument (a user's trained model).
    """

    name: str
    factory: str | EstimatorFactory
    description: str
    needs_model: bool = False

    def resolve(self) -> EstimatorFactory:
        """The factory function (importing its module when given as a path)."""
        if callable(self.factory):
            return self.factory
        module, _, function = self.factory.partition(":")
        factory: EstimatorFactory = getattr(importlib.import_module(module), function)
        return factory


_BACKENDS: dict[str, BackendEntry] = {}


def register_backend(
    name: str,
    factory: str | EstimatorFactory,
    description: str,
    *,
    needs_model: bool = False,
) -> None:
    """Register (or replace) backend ``name``; see :class:`BackendEntry` for the parameters."""
    _BACKENDS[name] = BackendEntry(name, factory, description, needs_model)


def list_backends() -> list[str]:
    """Names of the registered backends, sorted."""
    return sorted(_BACKENDS)


def backend_entry(backend: str) -> BackendEntry:
    """The registry entry of ``backend`` (case-insensitive).

    Raises
    ------
    UnknownPoseBackendError
        No backend has that name (the message lists the known ones).
    """
    entry = _BACKENDS.get(backend.strip().lower())
    if entry is None:
        raise UnknownPoseBackendError(
            f"unknown pose backend {backend!r}; known backends: {', '.join(list_backends())}",
            hint="pass one of the known backends (e.g. --backend mediapipe)",
        )
    return entry


def make_estimator(backend: str, model: str | Path | None = None, **options: Any) -> PoseEstimator:
    """Make the estimator of ``backend`` for ``model`` (the model is loaded lazily).

    Parameters
    ----------
    backend
        A name from :func:`list_backends`.
    model
        A model file or folder, or a model id; ``None`` for the backend's default (MediaPipe:
        the bundle built by ``w2t-bkin pose build-model``; synthetic: ``"synthetic-v1"``).
    **options
        Backend options (e.g. ``missing_every=10`` for ``synthetic``,
        ``min_pose_detection_confidence=0.5`` for ``mediapipe``,
        ``python="/opt/dlc/bin/python"`` for the worker backends).

    Raises
    ------
    UnknownPoseBackendError
        Unknown backend or option.
    PoseModelError
        The model is required but missing, or is not a file the backend reads.
    PoseBackendUnavailableError
        The backend's package or environment is not installed.
    """
    entry = backend_entry(backend)
    if entry.needs_model and model is None:
        raise UnknownPoseBackendError(
            f"pose backend {entry.name!r} needs a trained model and none was given",
            hint="pass the model (--model PATH: a DeepLabCut project config.yaml or a SLEAP "
            "model folder)",
        )
    factory = entry.resolve()
    try:
        return factory(model, **options)
    except TypeError as exc:
        # An unexpected keyword is the user's option, not our bug: say which ones exist.
        if "unexpected keyword argument" not in str(exc):
            raise
        raise UnknownPoseBackendError(
            f"pose backend {entry.name!r} does not accept that option: {exc}",
            hint=f"see the options of backend {entry.name!r} in `w2t-bkin pose process --help`",
        ) from exc


register_backend(
    "synthetic",
    "w2t_bkin.pose.estimators.synthetic:SyntheticEstimator",
    "deterministic known kinematics, no model (tests, demos)",
)
register_backend(
    "mediapipe",
    "w2t_bkin.pose.estimators.mediapipe:MediaPipeEstimator",
    "MediaPipe Pose Landmarker: human, 33 keypoints, 2-D + 3-D, CPU, offline",
)
register_backend(
    "deeplabcut",
    "w2t_bkin.pose.worker.client:deeplabcut_estimator",
    "DeepLabCut model run in its own Python environment (worker subprocess)",
    needs_model=True,
)
register_backend(
    "sleap",
    "w2t_bkin.pose.worker.client:sleap_estimator",
    "SLEAP (sleap-nn) model run in its own Python environment (worker subprocess)",
    needs_model=True,
)
