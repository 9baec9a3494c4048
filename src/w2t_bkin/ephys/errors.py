"""Errors of the ephys dispatch: bad parameters, unreadable job files, nothing to sort."""

from __future__ import annotations

from w2t_bkin.errors import ConfigError, DiscoveryError, IngestError, OutputError

__all__ = [
    "DispatchParamsError",
    "JobFileError",
    "NoJobsError",
    "PortablePathError",
]


class DispatchParamsError(ConfigError):
    """Dispatch parameters (flags or ``--params`` file) are invalid or contradict each other.

    Exit code 2, as for any configuration error.
    """


class JobFileError(IngestError):
    """A ``job_<id>.json`` file is missing, not JSON, or does not match the job schema.

    Exit code 4.
    """


class NoJobsError(DiscoveryError):
    """Dispatch found nothing to sort: no stream, or every one was excluded or skipped.

    Exit code 4. The message lists why each candidate was left out.
    """


class PortablePathError(OutputError):
    """A recording references a file outside the data folder, so its job could not be moved.

    Exit code 6.
    """
