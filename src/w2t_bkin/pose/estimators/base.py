"""The estimator protocols and the buffers frame estimators write into.

Two kinds of estimators exist:

- a :class:`FramePoseEstimator` takes decoded RGB frames one at a time (MediaPipe, the
  synthetic backend); :func:`~w2t_bkin.pose.process.process_video` decodes the video in a
  thread and calls :meth:`~FramePoseEstimator.infer` for each frame, which writes its result
  straight into preallocated arrays (:class:`FrameBuffers`): no per-frame Python objects
  survive a frame;
- a :class:`VideoPoseEstimator` processes a whole video file itself (DeepLabCut and SLEAP run
  in their own Python environments, through a worker subprocess).

Both share :class:`PoseEstimator`: an :class:`EstimatorInfo`, ``load()`` and ``close()``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from w2t_bkin.pose.results import PosePredictions

__all__ = [
    "EstimatorInfo",
    "FrameBuffers",
    "FramePoseEstimator",
    "PoseEstimator",
    "Progress",
    "VideoPoseEstimator",
]

Progress = Callable[[int, int | None], None]
"""``progress(frames_done, frames_total_or_None)``."""


@dataclass(frozen=True)
class EstimatorInfo:
    """What an estimator is: backend, model, keypoints, where it runs.

    Attributes
    ----------
    backend
        Registry name (``"mediapipe"``).
    backend_version
        Version of the package that runs the model.
    model
        Model identity: a file path or a model id.
    model_sha256
        SHA-256 of the model file; ``None`` when the model is not a file.
    keypoint_names
        Names of the keypoints, in output order.
    skeleton_edges
        Pairs of indices into ``keypoint_names``.
    individual_names
        Names of the individual slots the estimator fills.
    keypoints_3d_units
        Units of the 3-D keypoints the model gives (``"m"``); ``None`` for a 2-D model.
    device
        Where inference runs (``"cpu"``).
    versions
        Versions of every package involved.
    """

    backend: str
    backend_version: str
    model: str
    model_sha256: str | None
    keypoint_names: tuple[str, ...]
    skeleton_edges: tuple[tuple[int, int], ...]
    individual_names: tuple[str, ...] = ("individual_0",)
    keypoints_3d_units: str | None = None
    device: str = "cpu"
    versions: Mapping[str, str] = field(default_factory=dict)

    @property
    def n_keypoints(self) -> int:
        """Number of keypoints."""
        return len(self.keypoint_names)

    @property
    def n_individuals(self) -> int:
        """Number of individual slots."""
        return len(self.individual_names)


@runtime_checkable
class PoseEstimator(Protocol):
    """Anything that estimates poses: described by :attr:`info`, loaded once, closed."""

    @property
    def info(self) -> EstimatorInfo:
        """Backend, model and keypoints of this estimator."""
        ...

    def load(self) -> float:
        """Load the model when not loaded yet; return the seconds it took (0.0 if loaded)."""
        ...

    def close(self) -> None:
        """Release the model (idempotent)."""
        ...


@runtime_checkable
class FramePoseEstimator(PoseEstimator, Protocol):
    """An estimator fed one decoded frame at a time."""

    def start_video(self, width: int, height: int, rate_hz: float | None) -> None:
        """Prepare for a new video (resets tracking state between videos)."""
        ...

    def infer(self, frame_rgb: np.ndarray, frame_idx: int, t_ms: int, out: FrameBuffers) -> None:
        """Estimate poses in one frame and write them into row ``frame_idx`` of ``out``.

        Parameters
        ----------
        frame_rgb
            ``(height, width, 3) uint8`` RGB frame.
        frame_idx
            Index of the frame in the video (0-based, decoding order).
        t_ms
            Strictly increasing timestamp in milliseconds (from the frame's PTS).
        out
            Buffers whose row ``frame_idx`` is pre-filled with NaN / ``False``.
        """
        ...


@runtime_checkable
class VideoPoseEstimator(PoseEstimator, Protocol):
    """An estimator that processes a whole video file itself."""

    def estimate_video(self, video_path: Path, progress: Progress | None) -> PosePredictions:
        """Predictions for every frame of ``video_path``."""
        ...


class FrameBuffers:
    """Growable per-frame output arrays of a :class:`FramePoseEstimator`.

    Rows are pre-filled with NaN (``detected`` with ``False``) so that an estimator writes only
    what it found. Capacity doubles when a row beyond it is requested, so an unknown or wrong
    frame count in the container costs a few copies, not a failure.

    Attributes
    ----------
    keypoints_px
        ``(capacity, n_individuals, n_keypoints, 2) float32``.
    scores
        ``(capacity, n_individuals, n_keypoints) float32``.
    boxes_px
        ``(capacity, n_individuals, 4) float32``: x_min, y_min, x_max, y_max.
    detected
        ``(capacity, n_individuals) bool``.
    keypoints_3d
        ``(capacity, n_individuals, n_keypoints, 3) float32`` or ``None`` (2-D model).
    """

    def __init__(self, info: EstimatorInfo, capacity: int) -> None:
        self._n_ind = info.n_individuals
        self._n_kp = info.n_keypoints
        self._with_3d = info.keypoints_3d_units is not None
        self.capacity = 0
        self.keypoints_px = self._empty((0, self._n_ind, self._n_kp, 2))
        self.scores = self._empty((0, self._n_ind, self._n_kp))
        self.boxes_px = self._empty((0, self._n_ind, 4))
        self.detected = np.zeros((0, self._n_ind), dtype=bool)
        self.keypoints_3d: np.ndarray | None = (
            self._empty((0, self._n_ind, self._n_kp, 3)) if self._with_3d else None
        )
        self.reserve(max(capacity, 1))

    @staticmethod
    def _empty(shape: tuple[int, ...]) -> np.ndarray:
        return np.full(shape, np.nan, dtype=np.float32)

    def reserve(self, capacity: int) -> None:
        """Make room for at least ``capacity`` rows (existing rows are kept)."""
        if capacity <= self.capacity:
            return
        new_capacity = max(capacity, 2 * self.capacity)
        self.keypoints_px = _grow(self.keypoints_px, new_capacity, np.nan)
        self.scores = _grow(self.scores, new_capacity, np.nan)
        self.boxes_px = _grow(self.boxes_px, new_capacity, np.nan)
        self.detected = _grow(self.detected, new_capacity, False)
        if self.keypoints_3d is not None:
            self.keypoints_3d = _grow(self.keypoints_3d, new_capacity, np.nan)
        self.capacity = new_capacity

    def trimmed(self, n_frames: int) -> dict[str, np.ndarray | None]:
        """The first ``n_frames`` rows of every array (copies, so the capacity is released)."""
        return {
            "keypoints_px": self.keypoints_px[:n_frames].copy(),
            "scores": self.scores[:n_frames].copy(),
            "boxes_px": self.boxes_px[:n_frames].copy(),
            "detected": self.detected[:n_frames].copy(),
            "keypoints_3d": None
            if self.keypoints_3d is None
            else self.keypoints_3d[:n_frames].copy(),
        }


def _grow(array: np.ndarray, capacity: int, fill: float | bool) -> np.ndarray:
    grown = np.full((capacity, *array.shape[1:]), fill, dtype=array.dtype)
    grown[: array.shape[0]] = array
    return grown
