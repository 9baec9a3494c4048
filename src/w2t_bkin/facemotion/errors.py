"""Errors of facial motion extraction (each names the camera, the ROI and the fix)."""

from __future__ import annotations

from w2t_bkin.errors import IngestError, MetadataError, OutputError

__all__ = ["FaceMotionCacheError", "FaceMotionDecodeError", "ROIError"]


class ROIError(MetadataError):
    """A declared ROI does not fit the camera's video frame, or is too small for its binning.

    Exit code 2 (metadata): the fix is in ``[[facemotion.cameras.<id>.rois]]``.
    """


class FaceMotionDecodeError(IngestError):
    """A camera's videos cannot be decoded, or decode to another frame count than probed.

    Exit code 4 (input unreadable).
    """


class FaceMotionCacheError(OutputError):
    """A facial motion result file is not one w2t-bkin wrote, or has another schema version."""
