"""Errors of frame sampling and export: each names the sequence, video or frame, and the fix."""

from __future__ import annotations

from w2t_bkin.errors import IngestError
from w2t_bkin.features.errors import FeatureError

__all__ = ["FrameExportError", "SamplingError"]


class SamplingError(FeatureError):
    """A sampling request does not fit its data (unknown event list, bad quota, too few frames)."""


class FrameExportError(IngestError):
    """A video cannot give the frames asked for (no such frame index, no timestamps, bad seek)."""
