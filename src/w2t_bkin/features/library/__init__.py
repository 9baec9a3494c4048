"""Vectorised kinematics on pose tracks with real per-frame timestamps (NumPy/SciPy only, no I/O).

Conventions
-----------
- ``positions``: ``(n_frames, n_individuals, n_keypoints, n_space)`` float32/float64 in pixels
  (or any length unit), NaN where a point is missing; ``n_space`` is 2 or 3.
- ``t_s``: ``(n_frames,) float64`` synchronised timestamps in seconds, strictly increasing.
  Every time-dependent function takes them; none takes a frame rate, so dropped frames and
  variable frame intervals are handled where the data say they are.
- Angles are radians in image coordinates (x right, y down).
- Results keep float32 when given float32 (memory); arithmetic is float64.

Where these functions differ from ``movement`` (neuroinformatics-unit) on the same input:
``mask_low_confidence`` keeps points without a score (NaN confidence) unless
``keep_unscored=False``; ``interpolate_gaps`` interpolates in time and limits gaps in seconds
(movement interpolates by index with a limit in frames: equal on evenly spaced frames when
``max_gap_s = (max_gap + 1) * dt``); ``savgol_smooth`` fits on the real timestamps (equal to
movement's ``savgol_filter`` on evenly spaced frames). Velocity, speed, acceleration, median
smoothing, keypoint distances and signed joint angles follow the same definitions.
"""

from w2t_bkin.features.library.errors import LibraryParameterError, TrackDataError
from w2t_bkin.features.library.filtering import gap_mask, interpolate_gaps, mask_low_confidence
from w2t_bkin.features.library.geometry import (
    body_scale,
    egocentric,
    joint_angles,
    keypoint_pairs,
    normalize_body_scale,
    pairwise_distances,
)
from w2t_bkin.features.library.motion import (
    Kinematics,
    acceleration,
    angular_velocity,
    heading,
    kinematics,
    speed,
    time_gradient,
    velocity,
    wrap_angle,
)
from w2t_bkin.features.library.smoothing import median_smooth, savgol_smooth
from w2t_bkin.features.library.social import NearestNeighbours, nearest_neighbours
from w2t_bkin.features.library.summaries import STATISTICS, WindowedSummary, windowed_summary

__all__ = [
    "STATISTICS",
    "Kinematics",
    "LibraryParameterError",
    "NearestNeighbours",
    "TrackDataError",
    "WindowedSummary",
    "acceleration",
    "angular_velocity",
    "body_scale",
    "egocentric",
    "gap_mask",
    "heading",
    "interpolate_gaps",
    "joint_angles",
    "keypoint_pairs",
    "kinematics",
    "mask_low_confidence",
    "median_smooth",
    "nearest_neighbours",
    "normalize_body_scale",
    "pairwise_distances",
    "savgol_smooth",
    "speed",
    "time_gradient",
    "velocity",
    "windowed_summary",
    "wrap_angle",
]
