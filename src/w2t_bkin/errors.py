"""One error hierarchy for the whole package.

Every error carries an ``exit_code`` (used by the CLI) and an optional ``hint`` that tells the
user how to fix the problem. Subclasses also inherit the matching built-in exception so that
callers who catch ``ValueError`` or ``OSError`` keep working.

Exit codes
----------
1  generic failure (``W2TError``)
2  configuration or metadata is invalid (``ConfigError``, ``MetadataError``)
3  workspace layout problem (``WorkspaceError``)
4  input files missing or unreadable (``DiscoveryError``, ``IngestError``)
5  data do not agree with each other (``VerificationError``, ``SyncError``)
6  output could not be written or validated (``OutputError``, ``NWBValidationError``)
7  a required optional dependency is missing (``MissingExtraError``)
8  the run registry cannot be read or written, or has no such run (``RegistryError``)
70 an error w2t-bkin did not raise on purpose: a bug or an unforeseen input
   (``UnexpectedError``; the CLI's ``internal error`` exit uses the same code)

A :class:`PhaseError` (a session phase failed) takes the exit code of the error it wraps.
"""

from __future__ import annotations

import contextvars
import warnings
from collections.abc import Callable
from pathlib import Path


class W2TError(Exception):
    """Base class of every error raised on purpose by w2t-bkin.

    ``transient`` marks an error that may not happen again on a retry (an I/O error of a
    network disk, a timeout): a batch with ``--retries`` retries those, never bad input.
    """

    exit_code: int = 1
    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        path: str | Path | None = None,
    ) -> None:
        self.message = message
        self.hint = hint
        self.path = Path(path) if path is not None else None
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = self.message
        if self.path is not None and str(self.path) not in text:
            text = f"{self.path}: {text}"
        if self.hint:
            text = f"{text}\n  hint: {self.hint}"
        return text


class ConfigError(W2TError, ValueError):
    """``configuration.toml`` is unreadable or does not match the schema."""

    exit_code = 2


class MetadataError(W2TError, ValueError):
    """Session metadata (TOML) is unreadable or does not match the schema."""

    exit_code = 2


class WorkspaceError(W2TError, OSError):
    """The experiment folder layout is missing, invalid or would be overwritten."""

    exit_code = 3


class AlreadyExistsError(WorkspaceError):
    """A subject or session to be created exists already (``--force`` overwrites it)."""


class DiscoveryError(W2TError, FileNotFoundError):
    """Files declared in metadata are not where the metadata says."""

    exit_code = 4


class IngestError(W2TError, ValueError):
    """A raw file exists but cannot be read or is not the expected format."""

    exit_code = 4


class VerificationError(W2TError, ValueError):
    """Inputs disagree (e.g. frame count vs TTL pulses) beyond the configured tolerance."""

    exit_code = 5


class SyncError(W2TError, ValueError):
    """Clocks cannot be aligned under the configured policy."""

    exit_code = 5


class OutputError(W2TError, OSError):
    """An output file could not be written."""

    exit_code = 6


class SessionBusyError(OutputError):
    """Another run (thread or process) holds the session's lock; this run did nothing."""


class NWBValidationError(W2TError, ValueError):
    """The written NWB file has critical validation findings."""

    exit_code = 6


# The ignore stays: ImportError.path is ``str | None`` where W2TError.path is ``Path | None``.
# This error never sets a path (ImportError.__init__ would reset it), so the clash is harmless.
class MissingExtraError(W2TError, ImportError):  # type: ignore[misc]
    """An optional dependency is not installed (or installed but cannot be imported).

    ``purpose`` says what needed it (``"reading SLEAP file x.slp"``); ``cause`` is the import
    error text when the module is installed but broken. ``name`` is the module, as for any
    ``ImportError``.
    """

    exit_code = 7

    def __init__(
        self, module: str, extra: str, *, purpose: str | None = None, cause: str | None = None
    ) -> None:
        needed = f"{purpose} needs" if purpose else "w2t-bkin needs"
        if cause is None:
            message = f"{needed} the optional dependency '{module}', which is not installed"
            hint = f"install it with: pip install 'w2t-bkin[{extra}]'"
        else:
            message = f"{needed} the optional dependency '{module}', which fails to import: {cause}"
            hint = f"reinstall it with: pip install --force-reinstall 'w2t-bkin[{extra}]'"
        super().__init__(message, hint=hint)
        self.name = module
        self.extra = extra


class RegistryError(W2TError, LookupError):
    """The run registry (``ROOT/.w2t/registry.sqlite``) is unusable or lacks the run asked for."""

    exit_code = 8


class UnexpectedError(W2TError):
    """An exception w2t-bkin did not raise on purpose (a bug, or an unforeseen input)."""

    exit_code = 70


class PhaseError(W2TError):
    """A phase of a session run failed; wraps the original error and names the phase.

    The exit code, hint and path are those of the wrapped error (``cause``).
    """

    def __init__(self, phase: str, cause: W2TError) -> None:
        self.phase = phase
        self.cause = cause
        self.exit_code = cause.exit_code
        super().__init__(f"{phase} failed: {cause.message}", hint=cause.hint, path=cause.path)


class DataQualityWarning(UserWarning):
    """A finding about the data (dropped frames, unmatched pulses) that does not stop a run."""


_quality_sink: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar(
    "w2t_data_quality_sink", default=None
)


def warn_data_quality(message: str, *, stacklevel: int = 1) -> None:
    """Report a finding about the data that does not stop the run.

    Inside a session run (:func:`w2t_bkin.runtime.capture.capture_run`) the finding goes
    straight to that run: the process-wide warning filters, which another thread may be changing
    at that moment (``warnings.catch_warnings`` is not thread-safe), cannot drop it or hand it to
    another session. Outside a run it is an ordinary :class:`DataQualityWarning`
    (``stacklevel`` as for :func:`warnings.warn`, counted from the caller).
    """
    sink = _quality_sink.get()
    if sink is not None:
        sink(message)
        return
    warnings.warn(message, DataQualityWarning, stacklevel=stacklevel + 1)


def set_data_quality_sink(sink: Callable[[str], None] | None) -> contextvars.Token:
    """Send this context's :func:`warn_data_quality` findings to ``sink`` (``None``: warn).

    Returns the token that :func:`reset_data_quality_sink` takes to restore the previous sink.
    """
    return _quality_sink.set(sink)


def reset_data_quality_sink(token: contextvars.Token) -> None:
    _quality_sink.reset(token)
