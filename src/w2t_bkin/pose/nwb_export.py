"""Predictions of one video as a standalone NWB file (ndx-pose), on request.

The session pipeline puts generated pose into the session's NWB file on the camera's
synchronized frame times; this is for a lone video (``w2t-bkin pose process --nwb``): one
``PoseEstimation`` (per person) in ``processing/behavior``, timestamps the video's own
presentation times. NWB is written by :mod:`w2t_bkin.nwb` only.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from w2t_bkin.metadata import SessionMetadata
from w2t_bkin.nwb.assembly import CameraAssembly, SessionAssembly, write_nwb
from w2t_bkin.pose.results import PosePredictions

__all__ = ["write_predictions_nwb"]


def write_predictions_nwb(
    predictions: PosePredictions,
    path: str | Path,
    *,
    session_start_time: datetime | None = None,
    session_description: str | None = None,
) -> Path:
    """Write ``predictions`` to a new NWB file at ``path`` (atomically).

    Parameters
    ----------
    predictions
        What to write (2-D keypoints and scores; ndx-pose has no 3-D world landmarks field, so
        those stay in the ``.npz``).
    session_start_time
        tz-aware start of the recording; default: the video file's modification time (UTC),
        which is when most cameras finished writing it: pass the real start when known.
    session_description
        Default: "Pose estimated by <backend> in <video>".

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    OutputError
        The file cannot be written; nothing is left at ``path``.
    """
    video = predictions.video_path
    start = session_start_time
    if start is None:
        start = datetime.fromtimestamp(video.stat().st_mtime, tz=UTC) if video.exists() else None
        start = start or datetime.now(UTC)
    description = session_description or f"Pose estimated by {predictions.backend} in {video.name}"
    camera = CameraAssembly(
        camera_id=video.stem,
        frame_times_s=predictions.frame_times_s,
        frame_clock="video",
        videos=None,
        pose=predictions.to_pose_data(),
        description=f"Camera that recorded {video.name}",
    )
    session = SessionAssembly(
        metadata=SessionMetadata(session_description=description),
        session_start_time=start,
        reference_clock_description="the video's presentation times, seconds from its start",
        identifier=str(uuid.uuid4()),
        ttl_channels=(),
        cameras=(camera,),
        trials=None,
        alignment_stats=(),
    )
    return write_nwb(session, Path(path))
