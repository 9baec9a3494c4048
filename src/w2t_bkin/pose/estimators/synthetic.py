"""A deterministic pose estimator with known kinematics, for end-to-end tests without a model.

The "animal" is a rigid five-keypoint body whose centre follows a Lissajous path inside the
frame while it turns at a constant rate; every value is a closed-form function of the frame
index and the frame size (:func:`synthetic_keypoints`), so a test computes the exact ground
truth of any video from its frame count alone. The estimator reads the real decoded frames
(so an empty or truncated video yields as many predictions as it has frames) but their content
does not change the output.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from w2t_bkin._version import __version__
from w2t_bkin.pose.errors import UnknownPoseBackendError
from w2t_bkin.pose.estimators.base import EstimatorInfo, FrameBuffers

__all__ = [
    "SYNTHETIC_KEYPOINTS",
    "SYNTHETIC_SKELETON",
    "SyntheticEstimator",
    "SyntheticTruth",
    "synthetic_keypoints",
]

SYNTHETIC_KEYPOINTS = ("nose", "left_ear", "right_ear", "neck", "tail_base")
SYNTHETIC_SKELETON = ((0, 1), (0, 2), (1, 3), (2, 3), (3, 4))

# Keypoint offsets in the body frame, in body lengths: (forward, left).
_OFFSETS_BODY = np.array(
    [[0.5, 0.0], [0.3, 0.15], [0.3, -0.15], [0.2, 0.0], [-0.5, 0.0]], dtype=np.float64
)
_SCORES = np.array([0.95, 0.9, 0.85, 0.8, 0.75], dtype=np.float32)
_MM_PER_PX = 1.0  # the 3-D output pretends a pixel is 1 mm at the animal's depth


@dataclass(frozen=True)
class SyntheticTruth:
    """Ground truth of :func:`synthetic_keypoints` for ``n_frames`` frames.

    Attributes
    ----------
    keypoints_px
        ``(n_frames, 1, 5, 2) float32``; NaN in missed frames.
    scores
        ``(n_frames, 1, 5) float32``; NaN in missed frames.
    detected
        ``(n_frames, 1) bool``.
    keypoints_3d
        ``(n_frames, 1, 5, 3) float32`` in metres; NaN in missed frames.
    """

    keypoints_px: np.ndarray
    scores: np.ndarray
    detected: np.ndarray
    keypoints_3d: np.ndarray


def synthetic_keypoints(
    frame_idx: np.ndarray,
    width: int,
    height: int,
    *,
    period_frames: float = 100.0,
    missing_every: int = 0,
) -> SyntheticTruth:
    """The exact output of the synthetic backend for the given frames.

    Parameters
    ----------
    frame_idx
        ``(n,) int`` frame indices.
    width, height
        Frame size in pixels.
    period_frames
        Frames per turn of the body and per horizontal cycle of its path.
    missing_every
        Every ``missing_every``-th frame (indices ``missing_every - 1``, ``2 * missing_every - 1``,
        ...) has no detection; 0 for none.

    Returns
    -------
    SyntheticTruth
        Keypoints, scores, detection flags and 3-D keypoints.
    """
    idx = np.asarray(frame_idx, dtype=np.float64)
    phase = 2.0 * np.pi * idx / period_frames
    centre_x = width * (0.5 + 0.25 * np.sin(phase))
    centre_y = height * (0.5 + 0.25 * np.sin(2.0 * phase + 0.5))
    heading = phase  # one full turn per period
    body_px = 0.2 * min(width, height)
    forward = np.stack([np.cos(heading), np.sin(heading)], axis=-1)  # (n, 2)
    left = np.stack([-np.sin(heading), np.cos(heading)], axis=-1)
    offsets = (
        _OFFSETS_BODY[None, :, 0, None] * forward[:, None, :]
        + _OFFSETS_BODY[None, :, 1, None] * left[:, None, :]
    ) * body_px  # (n, 5, 2)
    xy = offsets + np.stack([centre_x, centre_y], axis=-1)[:, None, :]
    n = idx.shape[0]
    detected = np.ones(n, dtype=bool)
    if missing_every > 0:
        detected = (np.asarray(frame_idx) % missing_every) != missing_every - 1
    keypoints_px = xy.astype(np.float32)[:, None]
    depth_m = np.linspace(0.0, 0.04, len(SYNTHETIC_KEYPOINTS))
    centred = (xy - np.array([width / 2.0, height / 2.0])) * _MM_PER_PX * 1e-3
    keypoints_3d = np.concatenate(
        [centred, np.broadcast_to(depth_m[None, :, None], (n, len(depth_m), 1))], axis=-1
    ).astype(np.float32)[:, None]
    scores = np.broadcast_to(_SCORES, (n, 1, len(_SCORES))).copy()
    keypoints_px[~detected] = np.nan
    keypoints_3d[~detected] = np.nan
    scores[~detected] = np.nan
    return SyntheticTruth(keypoints_px, scores, detected[:, None], keypoints_3d)


class SyntheticEstimator:
    """The ``synthetic`` backend: :func:`synthetic_keypoints` for every decoded frame.

    Parameters
    ----------
    model
        A model id recorded in the results (there is no model file); ``"synthetic-v1"``.
    period_frames, missing_every
        See :func:`synthetic_keypoints`.
    delay_s
        Seconds each frame waits before returning, to imitate a slow model (tests of
        progress reporting and cancellation).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        period_frames: float = 100.0,
        missing_every: int = 0,
        delay_s: float = 0.0,
    ) -> None:
        if period_frames <= 0:
            raise UnknownPoseBackendError(
                f"synthetic backend option period_frames must be positive, not {period_frames}",
                hint="pass period_frames=100 (the default) or another positive number",
            )
        if missing_every < 0 or delay_s < 0:
            raise UnknownPoseBackendError(
                "synthetic backend options missing_every and delay_s must be >= 0, not "
                f"{missing_every} and {delay_s}",
                hint="use missing_every=0 for no missed frames and delay_s=0 for no delay",
            )
        self.period_frames = float(period_frames)
        self.missing_every = int(missing_every)
        self.delay_s = float(delay_s)
        self._info = EstimatorInfo(
            backend="synthetic",
            backend_version=__version__,
            model=model or "synthetic-v1",
            model_sha256=None,
            keypoint_names=SYNTHETIC_KEYPOINTS,
            skeleton_edges=SYNTHETIC_SKELETON,
            keypoints_3d_units="m",
            versions={"w2t-bkin": __version__},
        )
        self._size = (0, 0)
        self._loaded = False

    @property
    def info(self) -> EstimatorInfo:
        """Backend, model id and keypoints."""
        return self._info

    def load(self) -> float:
        """Nothing to load; returns 0.0."""
        self._loaded = True
        return 0.0

    def close(self) -> None:
        """Nothing to release."""
        self._loaded = False

    def start_video(self, width: int, height: int, rate_hz: float | None) -> None:
        """Remember the frame size the kinematics scale to."""
        self._size = (width, height)

    def infer(self, frame_rgb: np.ndarray, frame_idx: int, t_ms: int, out: FrameBuffers) -> None:
        """Write the known pose of frame ``frame_idx`` into ``out``."""
        if self.delay_s:
            time.sleep(self.delay_s)
        height, width = frame_rgb.shape[:2]
        truth = synthetic_keypoints(
            np.array([frame_idx]),
            width,
            height,
            period_frames=self.period_frames,
            missing_every=self.missing_every,
        )
        if not truth.detected[0, 0]:
            return
        out.keypoints_px[frame_idx] = truth.keypoints_px[0]
        out.scores[frame_idx] = truth.scores[0]
        out.detected[frame_idx] = True
        if out.keypoints_3d is not None:
            out.keypoints_3d[frame_idx] = truth.keypoints_3d[0]
        xy = truth.keypoints_px[0, 0]
        out.boxes_px[frame_idx, 0] = (*xy.min(axis=0), *xy.max(axis=0))
