"""Built-in features: the kinematics library wrapped as cached, per-entry pipeline steps.

Each reads a track table (the dataset's tracks, or the output of ``clean-track``, which keeps
the track layout) and computes on the entry's real timestamps ``t_s``. Keypoints are named, so
params survive a change of keypoint order. :data:`FEATURES` maps names to classes for TOML
pipelines (``feature = "kinematics"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Generic, Literal, TypeVar, cast

import numpy as np
from pydantic import Field

from w2t_bkin.features.base import BaseFeature
from w2t_bkin.features.dataset import COORDS, TrackArrays, track_arrays, track_frame
from w2t_bkin.features.errors import FeatureInputError
from w2t_bkin.features.identity import Params
from w2t_bkin.features.library import (
    angular_velocity,
    heading,
    interpolate_gaps,
    joint_angles,
    keypoint_pairs,
    kinematics,
    mask_low_confidence,
    median_smooth,
    pairwise_distances,
    savgol_smooth,
)
from w2t_bkin.features.models.classifier import BehaviorClassifier, BehaviorPredict

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FEATURES",
    "CleanTrack",
    "HeadingFeature",
    "JointAngles",
    "KeypointDistances",
    "KinematicsFeature",
]

_P = TypeVar("_P", bound=Params)


def _indices(names: tuple[str, ...], wanted: tuple[str, ...] | None, what: str) -> list[int]:
    if wanted is None:
        return list(range(len(names)))
    missing = [w for w in wanted if w not in names]
    if missing:
        raise FeatureInputError(
            f"{what}: keypoints {missing} are not in the track (it has {list(names)})",
            hint="name keypoints as the pose files do",
        )
    return [names.index(w) for w in wanted]


class CleanTrackParams(Params):
    min_confidence: float | None = Field(None, ge=0.0, le=1.0)
    """Points scored below this become NaN (points without a score are kept)."""
    max_gap_s: float | None = Field(None, gt=0.0)
    """Interpolate gaps up to this long in time; ``None``: no interpolation."""
    smoothing: Literal["none", "savgol", "median"] = "none"
    window_s: float = Field(0.2, gt=0.0)
    polyorder: int = Field(2, ge=1)


class CleanTrack(BaseFeature):
    """Confidence filter, gap interpolation and smoothing; the output is a track table."""

    name = "clean-track"
    version = "0.1"
    scope_dependent = False
    Params: ClassVar[type[Params]] = CleanTrackParams

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        p = self.params
        assert isinstance(p, CleanTrackParams)
        track = track_arrays(frame)
        positions = track.positions.astype(np.float64)
        if p.min_confidence is not None:
            positions = mask_low_confidence(positions, track.confidence, p.min_confidence)
        if p.max_gap_s is not None:
            positions = interpolate_gaps(positions, track.t_s, p.max_gap_s)
        if p.smoothing == "savgol":
            positions = savgol_smooth(
                positions, track.t_s, window_s=p.window_s, polyorder=p.polyorder
            )
        elif p.smoothing == "median":
            positions = median_smooth(positions, track.t_s, window_s=p.window_s)
        out = track_frame(
            track.frame_idx, track.t_s, positions[:, 0], track.confidence[:, 0], track.keypoints
        )
        if "segment" in frame:
            out["segment"] = frame["segment"].to_numpy()
        return out


class _TrackColumns(BaseFeature, Generic[_P]):
    """A stateless per-entry feature of one track table: its key columns plus named columns.

    Subclasses set ``name``, ``version`` (each its own: bump it when its output changes),
    ``Params`` and implement :meth:`columns`; the output keeps the input's key columns
    (``frame_idx``, ``t_s``, ``segment``) in front of the new ones.
    """

    scope_dependent = False

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        params = self.params
        assert isinstance(params, self.Params)  # build_params validated into this class
        return self.keys(frame).assign(**self.columns(track_arrays(frame), cast("_P", params)))

    def columns(self, track: TrackArrays, p: _P) -> dict[str, np.ndarray]:
        """Output columns by name, each ``(n_frames,)`` aligned with the track's rows."""
        raise NotImplementedError(f"{type(self).__name__}.columns")


class KinematicsParams(Params):
    keypoints: tuple[str, ...] | None = None
    with_acceleration: bool = True


class KinematicsFeature(_TrackColumns[KinematicsParams]):
    """Per keypoint: ``v{x,y}/<kp>`` (px/s), ``speed/<kp>`` and ``a{x,y}/<kp>`` (px/s²)."""

    name = "kinematics"
    version = "0.1"
    Params: ClassVar[type[Params]] = KinematicsParams

    def columns(self, track: TrackArrays, p: KinematicsParams) -> dict[str, np.ndarray]:
        idx = _indices(track.keypoints, p.keypoints, self.name)
        k = kinematics(track.positions[:, :, idx], track.t_s, with_acceleration=p.with_acceleration)
        n_space = track.positions.shape[-1]
        columns: dict[str, np.ndarray] = {}
        for j, i in enumerate(idx):
            name = track.keypoints[i]
            for d in range(n_space):
                columns[f"v{COORDS[d]}/{name}"] = k.velocity[:, 0, j, d]
            columns[f"speed/{name}"] = k.speed[:, 0, j]
            if p.with_acceleration:
                for d in range(n_space):
                    columns[f"a{COORDS[d]}/{name}"] = k.acceleration[:, 0, j, d]
        return columns


class HeadingParams(Params):
    rear: tuple[str, ...]
    front: tuple[str, ...]


class HeadingFeature(_TrackColumns[HeadingParams]):
    """Body-axis heading (``heading_rad``, rear to front) and its wrapped rate
    (``angular_velocity_rad_s``)."""

    name = "heading"
    version = "0.1"
    Params: ClassVar[type[Params]] = HeadingParams

    def columns(self, track: TrackArrays, p: HeadingParams) -> dict[str, np.ndarray]:
        rear = _indices(track.keypoints, p.rear, self.name)
        front = _indices(track.keypoints, p.front, self.name)
        angle = heading(track.positions, rear, front)
        rate = angular_velocity(angle, track.t_s)
        return {"heading_rad": angle[:, 0], "angular_velocity_rad_s": rate[:, 0]}


class JointAnglesParams(Params):
    triplets: tuple[tuple[str, str, str], ...] = Field(min_length=1)
    signed: bool = False


class JointAngles(_TrackColumns[JointAnglesParams]):
    """Angle at the middle keypoint of each triplet: ``angle/<a>-<b>-<c>`` (radians)."""

    name = "joint-angles"
    version = "0.1"
    Params: ClassVar[type[Params]] = JointAnglesParams

    def columns(self, track: TrackArrays, p: JointAnglesParams) -> dict[str, np.ndarray]:
        triplets = [tuple(_indices(track.keypoints, t, self.name)) for t in p.triplets]
        angles = joint_angles(track.positions, triplets, signed=p.signed)  # type: ignore[arg-type]
        return {f"angle/{'-'.join(t)}": angles[:, 0, j] for j, t in enumerate(p.triplets)}


class DistancesParams(Params):
    pairs: tuple[tuple[str, str], ...] | None = None
    """Keypoint pairs; ``None``: every pair."""


class KeypointDistances(_TrackColumns[DistancesParams]):
    """Distances between keypoints of the individual: ``dist/<a>-<b>`` (pixels)."""

    name = "keypoint-distances"
    version = "0.1"
    Params: ClassVar[type[Params]] = DistancesParams

    def columns(self, track: TrackArrays, p: DistancesParams) -> dict[str, np.ndarray]:
        pairs: list[tuple[int, int]] = []
        if p.pairs is None:
            pairs = [(int(a), int(b)) for a, b in keypoint_pairs(len(track.keypoints))]
        for names in p.pairs or ():
            a, b = _indices(track.keypoints, names, self.name)
            pairs.append((a, b))
        dist = pairwise_distances(track.positions, pairs)
        return {
            f"dist/{track.keypoints[a]}-{track.keypoints[b]}": dist[:, 0, j]
            for j, (a, b) in enumerate(pairs)
        }


FEATURES: dict[str, type[BaseFeature]] = {
    cls.name: cls
    for cls in (
        CleanTrack,
        KinematicsFeature,
        HeadingFeature,
        JointAngles,
        KeypointDistances,
        BehaviorClassifier,
        BehaviorPredict,
    )
}
"""Built-in features by name."""
