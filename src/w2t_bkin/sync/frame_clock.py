"""Frame times of cameras declared without TTL pulses (``frame_clock = 'rate'`` or ``'video'``).

Nothing is matched to pulses here, so no dropped frame can be detected.
"""

from __future__ import annotations

import numpy as np

from w2t_bkin.errors import SyncError
from w2t_bkin.sync.clock import ClockModel


def frame_times_from_rate(n_frames: int, rate_hz: float, t_start_s: float = 0.0) -> np.ndarray:
    """``(n_frames,) float64`` times of a camera with a declared constant rate and start time.

    Only for cameras explicitly declared without TTL pulses: no drop can be detected.
    """
    if rate_hz <= 0:
        raise SyncError(
            f"frame rate must be positive, got {rate_hz} Hz", hint="set the camera's rate_hz"
        )
    return t_start_s + np.arange(n_frames, dtype=np.float64) / rate_hz


def frame_times_from_video(frame_pts_s: np.ndarray, clock: ClockModel | None = None) -> np.ndarray:
    """``(n_frames,) float64`` frame times from container timestamps through a clock model.

    For cameras explicitly declared to run on another clock: ``clock`` maps that clock onto the
    reference clock; ``None`` means the pts already are reference times.
    """
    pts = np.asarray(frame_pts_s, dtype=np.float64)
    return pts.copy() if clock is None else np.asarray(clock(pts), dtype=np.float64)
