"""Errors of the kinematics library: each names the argument, expected vs found, and the fix."""

from __future__ import annotations

from w2t_bkin.features.errors import FeatureError

__all__ = ["LibraryParameterError", "TrackDataError"]


class TrackDataError(FeatureError):
    """Pose arrays or timestamps handed to a library function do not fit together.

    Examples: ``positions`` is not 4-D, ``t_s`` has another length than the frame axis, the
    timestamps are not strictly increasing, a 2-D-only function got 3-D points.
    """


class LibraryParameterError(FeatureError):
    """A parameter of a library function is out of range (a window, a keypoint index, a quota)."""
