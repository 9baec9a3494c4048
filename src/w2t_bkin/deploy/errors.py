"""Errors of the optional orchestrators (no orchestrator import: the CLI renders them)."""

from __future__ import annotations

from w2t_bkin.errors import W2TError


class FlowInputError(W2TError, ValueError):
    """A flow parameter is invalid (e.g. a pattern where one session's ID is expected)."""

    exit_code = 2


class SessionsFailedError(W2TError):
    """A flow ran every selected session and some failed: the flow run ends failed."""

    exit_code = 1
