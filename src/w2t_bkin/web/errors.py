"""Errors of the dashboard and its server (each a :class:`~w2t_bkin.errors.W2TError`)."""

from __future__ import annotations

from w2t_bkin.errors import W2TError


class ServerError(W2TError, RuntimeError):
    """The dashboard server cannot start, stop or be found (port taken, no PID file, a PID
    file that names another program)."""

    exit_code = 9


class BatchBusyError(W2TError, RuntimeError):
    """A batch is already running in this server (HTTP 409)."""

    exit_code = 9


class ReadOnlyError(W2TError, PermissionError):
    """An action was requested from a ``--read-only`` dashboard (HTTP 403)."""

    exit_code = 3


class PathRefusedError(W2TError, PermissionError):
    """A requested path is outside the workspace's data folder, or names no file (HTTP 404)."""

    exit_code = 3
