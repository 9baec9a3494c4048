"""Errors of pose estimation, each with its exit code (see :mod:`w2t_bkin.errors`)."""

from __future__ import annotations

from w2t_bkin.errors import ConfigError, IngestError, OutputError, W2TError

__all__ = [
    "PoseBackendUnavailableError",
    "PoseInferenceError",
    "PoseModelError",
    "PoseResultsError",
    "UnknownPoseBackendError",
    "WorkerProtocolError",
]


class UnknownPoseBackendError(ConfigError):
    """A backend name or an option is not one the registry knows (exit code 2)."""


class PoseModelError(IngestError):
    """A model file is missing, unreadable or not what the backend expects (exit code 4)."""


class PoseResultsError(IngestError):
    """A predictions file is not ours, is corrupt, or has a schema version we cannot read."""


class PoseBackendUnavailableError(W2TError, RuntimeError):
    """The backend's package or its Python environment is not installed (exit code 7).

    The message names the backend and what is missing; the hint says what to install and how.
    """

    exit_code = 7


class PoseInferenceError(W2TError, RuntimeError):
    """The backend failed while estimating poses on a readable video (exit code 1)."""


class WorkerProtocolError(OutputError):
    """A worker subprocess answered outside the request/response protocol (exit code 6)."""
