"""Errors of the job daemon and of archive ingest, each with its exit code.

Exit codes (see :mod:`w2t_bkin.errors` for the shared ones)
-----------------------------------------------------------
4  an archive is unsafe, invalid or collides with existing jobs (:class:`ArchiveError` and
   subclasses; they are :class:`~w2t_bkin.errors.IngestError` s)
9  the job folder is in a state that refuses the request: no such job, job not failed,
   a daemon holds the data folder, a status file from a newer w2t-bkin (:class:`JobsError`)
"""

from __future__ import annotations

from w2t_bkin.errors import IngestError, W2TError

__all__ = [
    "ArchiveError",
    "DaemonRunningError",
    "JobCollisionError",
    "JobNotFoundError",
    "JobStateError",
    "JobsError",
    "StatusVersionError",
]


class JobsError(W2TError):
    """The job data folder refuses the request in its present state (exit code 9)."""

    exit_code = 9


class DaemonRunningError(JobsError):
    """A daemon holds the data folder's lock; ``holder`` names it (PID and start time)."""

    def __init__(self, message: str, *, holder: str, hint: str, path: object = None) -> None:
        self.holder = holder
        super().__init__(message, hint=hint, path=path if path is None else str(path))


class JobNotFoundError(JobsError, LookupError):
    """No job of that name exists in ``in/``, ``failed/`` or the status file."""


class JobStateError(JobsError):
    """The job exists but its state does not allow the request (e.g. retry of a queued job)."""


class StatusVersionError(JobsError):
    """``out/status.json`` was written by a newer w2t-bkin (a schema version this one lacks)."""


class ArchiveError(IngestError):
    """A job archive is not a readable zip, is empty, or holds unsafe members (exit code 4)."""


class JobCollisionError(ArchiveError):
    """Jobs or videos of an archive collide with each other or with existing jobs.

    ``collisions`` lists every one found (all are reported at once).
    """

    def __init__(self, message: str, *, collisions: list[str], hint: str) -> None:
        self.collisions = collisions
        super().__init__(message, hint=hint)
