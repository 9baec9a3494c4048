"""Errors of movement analysis."""

from __future__ import annotations

from w2t_bkin.errors import W2TError


class AnalysisError(W2TError, ValueError):
    """Arrays or parameters handed to an analysis cannot be analysed as asked.

    Exit code 5, as for inputs that do not agree with each other: two pose sequences with
    different joint counts, a joint index that does not exist, a negative band. Missing
    detections (NaN) are never an error: each analysis documents its rule for them.
    """

    exit_code = 5
