"""What the video files of a camera contain: :class:`VideoProbe` and :class:`CameraVideos`.

:func:`w2t_bkin.sources.video.probe_video` fills them (with PyAV); the model knows no container
format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

__all__ = ["CameraVideos", "ProbeMethod", "VideoProbe"]

ProbeMethod = Literal["index", "demux", "decode"]
"""How the frames of a video were counted (see :attr:`VideoProbe.method`)."""


@dataclass(frozen=True)
class VideoProbe:
    """What one video file contains.

    Attributes
    ----------
    path
        The probed file.
    n_frames
        Exact number of video frames (packets of the first video stream, or decoded frames).
    rate_hz
        Average frame rate stated by the container (frames per second).
    width, height
        Frame size in pixels.
    codec
        Codec name as reported by FFmpeg (e.g. ``"h264"``).
    duration_s
        Duration of the video stream in seconds.
    method
        ``"index"`` when frames were read from the container's sample index, ``"demux"`` when
        counted from packets, ``"decode"`` when every frame was decoded.
    frame_pts_s
        ``(n_frames,) float64`` presentation times in seconds relative to the first frame, sorted,
        on the camera/container clock; ``None`` when the container has no usable timestamps.
    """

    path: Path
    n_frames: int
    rate_hz: float
    width: int
    height: int
    codec: str
    duration_s: float
    method: ProbeMethod
    frame_pts_s: np.ndarray | None = None


@dataclass(frozen=True)
class CameraVideos:
    """The ordered video chunks of one camera (several files when recording was split).

    Attributes
    ----------
    camera_id
        The ``[[cameras]].id`` from metadata.
    chunks
        One :class:`VideoProbe` per file, in recording order.
    """

    camera_id: str
    chunks: tuple[VideoProbe, ...]

    @property
    def n_frames(self) -> int:
        """Frames of all chunks together."""
        return sum(chunk.n_frames for chunk in self.chunks)

    @property
    def starting_frame(self) -> np.ndarray:
        """``(n_chunks,) int64``: index of the first frame of each chunk in the camera's frames."""
        counts = np.array([chunk.n_frames for chunk in self.chunks], dtype=np.int64)
        return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
