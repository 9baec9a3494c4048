"""Repetition segmentation: one window per repetition of a movement, valley to valley.

A subject repeats a movement (reaching, lifting, a gait cycle); a 1-D signal chosen from the
pose rises and falls once per repetition. Each prominent peak of the signal is one repetition,
and it runs from the lowest point before the peak to the lowest point after it.

The method (``valley_to_valley_v2``)
------------------------------------
1. Extract the signal (:class:`SignalSpec`): one coordinate of a joint, the distance between
   two joints, the speed of a joint, or the angle at a joint.
2. Gaps (NaN: the joint or the subject was not detected). A gap of at most ``max_gap_s``
   between two observed samples is filled by linear interpolation; a longer gap, and NaN at
   either end, is not filled and splits the signal into runs. Each run is segmented on its
   own, so no repetition spans a long gap; runs of fewer than 3 samples are skipped.
3. Peaks: :func:`scipy.signal.find_peaks` with the configured minimum distance, prominence and
   height.
4. Boundaries: on each side of a peak, the lowest value between it and the neighbouring peak
   (or the run's edge) is the repetition's base. Walking away from the peak, the boundary is
   the first sample within ``base_fraction`` (5 %) of the peak's height above that base, then
   onwards down to the first local minimum. So a boundary is the valley where the movement
   starts or ends: not a noise dip on a flank (it is above the threshold), and not an
   arbitrary sample of a rest between repetitions (the walk stops where the rest begins).
   Two repetitions with no rest between them meet at the same valley.
5. A segment is ``[start_frame, end_frame)`` with ``end_frame`` one past its closing valley.
   It is ``complete`` when neither boundary is the edge of its run (a repetition cut by the
   start or end of the recording or by a long gap is reported but flagged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from w2t_bkin.analysis.angles import joint_angles
from w2t_bkin.analysis.errors import AnalysisError

__all__ = [
    "METHOD",
    "Segmentation",
    "SegmentationConfig",
    "SignalKind",
    "SignalSpec",
    "extract_signal",
    "fill_gaps",
    "segment_poses",
    "segment_signal",
    "slice_segments",
]

METHOD = "valley_to_valley_v2"
"""Version stamp of the algorithm, stored with every result."""

SignalKind = Literal["joint_axis", "joint_pair_distance", "joint_speed", "joint_angle"]
_JOINTS_PER_KIND: dict[str, int] = {
    "joint_axis": 1,
    "joint_pair_distance": 2,
    "joint_speed": 1,
    "joint_angle": 3,
}


@dataclass(frozen=True)
class SignalSpec:
    """Which 1-D signal of a pose sequence to segment.

    Attributes
    ----------
    kind
        ``"joint_axis"`` (one coordinate of one joint), ``"joint_pair_distance"`` (Euclidean
        distance between two joints), ``"joint_speed"`` (distance moved per second, or per
        frame without a rate) or ``"joint_angle"`` (radians at the middle joint of three).
    joints
        Joint indices: 1, 2, 1 and 3 of them for the kinds above.
    axis
        The coordinate for ``"joint_axis"`` (0 = x, 1 = y, 2 = z).
    invert
        Negate the signal, so that repetitions are its troughs (image y points down: a raised
        hand is a small y).
    """

    kind: SignalKind
    joints: tuple[int, ...]
    axis: int = 0
    invert: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _JOINTS_PER_KIND:
            raise AnalysisError(
                f"signal kind {self.kind!r} is unknown; expected one of "
                f"{', '.join(get_args(SignalKind))}"
            )
        needed = _JOINTS_PER_KIND[self.kind]
        if len(self.joints) != needed or len(set(self.joints)) != needed:
            raise AnalysisError(
                f"signal {self.kind}: expected {needed} different joint(s), found "
                f"{list(self.joints)}",
                hint="joint_axis and joint_speed take one joint, joint_pair_distance two, "
                "joint_angle three (angle at the middle one)",
            )
        if self.axis not in (0, 1, 2):
            raise AnalysisError(f"signal axis: expected 0, 1 or 2, found {self.axis}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (inverse: :meth:`from_dict`)."""
        return {
            "kind": self.kind,
            "joints": list(self.joints),
            "axis": self.axis,
            "invert": self.invert,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignalSpec:
        """Rebuild a spec written by :meth:`to_dict`."""
        return cls(
            kind=data["kind"],
            joints=tuple(int(j) for j in data["joints"]),
            axis=int(data.get("axis", 0)),
            invert=bool(data.get("invert", False)),
        )


@dataclass(frozen=True)
class SegmentationConfig:
    """Everything that determines a segmentation (stored with it, so results describe
    themselves).

    Attributes
    ----------
    signal
        The signal segmented.
    rate_hz
        Frame rate used to turn the seconds below into frames (and speed into units/s).
    min_distance_s
        Shortest time between two repetition peaks, or ``None``.
    min_prominence
        Smallest peak prominence (signal units), or ``None``.
    min_height
        Smallest peak value (signal units, after ``invert``), or ``None``.
    max_gap_s
        Longest gap filled by interpolation; longer gaps split the signal.
    base_fraction
        Fraction of a peak's height above its base within which a boundary is sought.
    method
        Algorithm version stamp (:data:`METHOD`).
    """

    signal: SignalSpec
    rate_hz: float
    min_distance_s: float | None = None
    min_prominence: float | None = None
    min_height: float | None = None
    max_gap_s: float = 0.0
    base_fraction: float = 0.05
    method: str = METHOD

    def __post_init__(self) -> None:
        if not (np.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise AnalysisError(f"segmentation rate_hz: expected > 0, found {self.rate_hz}")
        for name in ("min_distance_s", "max_gap_s"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise AnalysisError(f"segmentation {name}: expected seconds >= 0, found {value}")
        if self.min_prominence is not None and not self.min_prominence >= 0:
            raise AnalysisError(
                f"segmentation min_prominence: expected >= 0, found {self.min_prominence}"
            )
        if not 0 <= self.base_fraction < 1:
            raise AnalysisError(
                f"segmentation base_fraction: expected 0 <= value < 1, found {self.base_fraction}"
            )
        if self.method != METHOD:
            raise AnalysisError(
                f"segmentation method {self.method!r} is not this version's {METHOD!r}",
                hint="segment again with this version of w2t-bkin",
            )

    @property
    def min_distance_frames(self) -> int | None:
        """``min_distance_s`` in frames (at least 1), or ``None``."""
        if self.min_distance_s is None:
            return None
        return max(1, round(self.min_distance_s * self.rate_hz))

    @property
    def max_gap_frames(self) -> int:
        """``max_gap_s`` in frames (rounded)."""
        return round(self.max_gap_s * self.rate_hz)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (inverse: :meth:`from_dict`)."""
        return {
            "method": self.method,
            "signal": self.signal.to_dict(),
            "rate_hz": self.rate_hz,
            "min_distance_s": self.min_distance_s,
            "min_prominence": self.min_prominence,
            "min_height": self.min_height,
            "max_gap_s": self.max_gap_s,
            "base_fraction": self.base_fraction,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentationConfig:
        """Rebuild a configuration written by :meth:`to_dict`."""
        return cls(
            signal=SignalSpec.from_dict(data["signal"]),
            rate_hz=float(data["rate_hz"]),
            min_distance_s=data.get("min_distance_s"),
            min_prominence=data.get("min_prominence"),
            min_height=data.get("min_height"),
            max_gap_s=float(data.get("max_gap_s", 0.0)),
            base_fraction=float(data.get("base_fraction", 0.05)),
            method=data.get("method", METHOD),
        )


@dataclass(frozen=True, eq=False)
class Segmentation:
    """The repetitions found in one signal, with the configuration that found them.

    Attributes
    ----------
    config
        How they were found.
    start_frame
        ``(n_segments,) int64``: first frame (the opening valley).
    peak_frame
        ``(n_segments,) int64``: the peak.
    end_frame
        ``(n_segments,) int64``: one past the closing valley.
    complete
        ``(n_segments,) bool``: neither boundary is the edge of a run (see the module).
    runs
        ``(n_runs, 2) int64``: ``[start, end)`` of the stretches segmented after the gap rule.
    n_filled_frames
        Frames filled by interpolation.
    signal
        ``(n_frames,) float64``: the signal segmented (after ``invert`` and gap filling; NaN in
        gaps that were not filled).
    """

    config: SegmentationConfig
    start_frame: np.ndarray
    peak_frame: np.ndarray
    end_frame: np.ndarray
    complete: np.ndarray
    runs: np.ndarray
    n_filled_frames: int
    signal: np.ndarray

    @property
    def n_segments(self) -> int:
        """Number of repetitions found."""
        return int(self.peak_frame.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: configuration, runs and segments (frames and seconds)."""
        rate = self.config.rate_hz
        return {
            "config": self.config.to_dict(),
            "n_frames": int(self.signal.shape[0]),
            "n_filled_frames": self.n_filled_frames,
            "runs": self.runs.tolist(),
            "segments": [
                {
                    "start_frame": int(s),
                    "peak_frame": int(p),
                    "end_frame": int(e),
                    "duration_s": (int(e) - int(s) - 1) / rate,
                    "complete": bool(c),
                }
                for s, p, e, c in zip(
                    self.start_frame, self.peak_frame, self.end_frame, self.complete, strict=True
                )
            ],
        }


def extract_signal(
    positions: np.ndarray, spec: SignalSpec, rate_hz: float | None = None
) -> np.ndarray:
    """The 1-D signal ``spec`` describes, per frame.

    Parameters
    ----------
    positions
        ``(n_frames, n_joints, n_space)``, ``n_space`` 2 or 3; NaN where not detected.
    spec
        Which signal.
    rate_hz
        Frame rate: speeds are per second with it, per frame without.

    Returns
    -------
    np.ndarray
        ``(n_frames,) float64`` (negated when ``spec.invert``); NaN where an input joint is
        missing. ``joint_speed`` is the backward difference, so frame 0 is NaN.
    """
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[2] not in (2, 3):
        raise AnalysisError(
            "signal extraction: expected positions (n_frames, n_joints, 2 or 3), found "
            f"{pos.shape}",
            hint="select one individual of (n_frames, n_individuals, n_joints, n_space) first",
        )
    n_joints = pos.shape[1]
    for j in spec.joints:
        if not 0 <= j < n_joints:
            raise AnalysisError(
                f"signal {spec.kind}: joint index {j} does not exist; expected 0..{n_joints - 1}",
                hint="name a joint of the pose model",
            )
    if spec.kind == "joint_axis":
        if spec.axis >= pos.shape[2]:
            raise AnalysisError(
                f"signal joint_axis: axis {spec.axis} does not exist in {pos.shape[2]}-D poses",
                hint="use axis 0 (x) or 1 (y) for 2-D poses",
            )
        signal = pos[:, spec.joints[0], spec.axis].copy()
    elif spec.kind == "joint_pair_distance":
        signal = np.linalg.norm(pos[:, spec.joints[1]] - pos[:, spec.joints[0]], axis=-1)
    elif spec.kind == "joint_speed":
        signal = np.full(pos.shape[0], np.nan)
        signal[1:] = np.linalg.norm(np.diff(pos[:, spec.joints[0]], axis=0), axis=-1)
        if rate_hz is not None:
            signal *= rate_hz
    else:
        signal = joint_angles(pos, [spec.joints])[:, 0]
    return -signal if spec.invert else signal


def fill_gaps(signal: np.ndarray, max_gap_frames: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Apply the gap rule: interpolate short inner gaps, split at the others.

    Parameters
    ----------
    signal
        ``(n_frames,) float64`` with NaN gaps.
    max_gap_frames
        Longest gap (in frames) filled by linear interpolation.

    Returns
    -------
    filled, runs, n_filled
        ``(n_frames,) float64`` with the short gaps filled; ``(n_runs, 2) int64``
        ``[start, end)`` of the finite stretches left; the number of frames filled.
    """
    x = np.array(signal, dtype=np.float64)
    missing = np.isnan(x)
    n_filled = 0
    if missing.any() and not missing.all():
        edges = np.diff(np.concatenate(([0], missing.astype(np.int8), [0])))
        gap_starts = np.flatnonzero(edges == 1)
        gap_ends = np.flatnonzero(edges == -1)
        observed = np.flatnonzero(~missing)
        for start, end in zip(gap_starts, gap_ends, strict=True):
            inner = start > 0 and end < x.size
            if inner and end - start <= max_gap_frames:
                frames = np.arange(start, end)
                x[start:end] = np.interp(frames, observed, x[observed])
                n_filled += int(end - start)
    finite = np.isfinite(x)
    edges = np.diff(np.concatenate(([0], finite.astype(np.int8), [0])))
    runs = np.column_stack((np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))
    return x, runs.astype(np.int64).reshape(-1, 2), n_filled


def segment_signal(signal: np.ndarray, config: SegmentationConfig) -> Segmentation:
    """Find the repetitions of a 1-D signal (the module describes the method).

    Parameters
    ----------
    signal
        ``(n_frames,)`` real values, NaN where not observed (already extracted and inverted:
        ``config.signal`` is recorded, not applied).
    config
        Peak criteria, gap rule and frame rate.

    Returns
    -------
    Segmentation
    """
    from scipy.signal import find_peaks

    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1:
        raise AnalysisError(f"segmentation: expected a 1-D signal, found shape {x.shape}")
    if np.isinf(x).any():
        raise AnalysisError(
            f"segmentation: frame {int(np.flatnonzero(np.isinf(x))[0])} of the signal is "
            "infinite; expected finite values or NaN (not observed)"
        )
    filled, runs, n_filled = fill_gaps(x, config.max_gap_frames)
    starts: list[int] = []
    peaks: list[int] = []
    ends: list[int] = []
    complete: list[bool] = []
    kept_runs = runs[(runs[:, 1] - runs[:, 0]) >= 3]
    for run_start, run_end in kept_runs:
        part = filled[run_start:run_end]
        found, _ = find_peaks(
            part,
            distance=config.min_distance_frames,
            prominence=config.min_prominence,
            height=config.min_height,
        )
        if found.size == 0:
            continue
        last = part.size - 1
        limits = np.concatenate(([0], found, [last]))
        for k, peak in enumerate(found):
            start = _boundary(part, int(peak), int(limits[k]), -1, config.base_fraction)
            end = _boundary(part, int(peak), int(limits[k + 2]), 1, config.base_fraction)
            starts.append(int(run_start + start))
            peaks.append(int(run_start + peak))
            ends.append(int(run_start + end + 1))
            complete.append(bool(start > 0 and end < last))
    return Segmentation(
        config=config,
        start_frame=np.asarray(starts, dtype=np.int64),
        peak_frame=np.asarray(peaks, dtype=np.int64),
        end_frame=np.asarray(ends, dtype=np.int64),
        complete=np.asarray(complete, dtype=bool),
        runs=kept_runs.astype(np.int64).reshape(-1, 2),
        n_filled_frames=n_filled,
        signal=filled,
    )


def _boundary(x: np.ndarray, peak: int, limit: int, step: int, base_fraction: float) -> int:
    """The valley on one side of ``peak`` (``step`` -1: before it, +1: after it).

    ``limit`` is the neighbouring peak or the run's edge; the walk never passes it.
    """
    lo, hi = (limit, peak) if step < 0 else (peak, limit)
    base = float(np.min(x[lo : hi + 1]))
    threshold = base + base_fraction * (float(x[peak]) - base)
    side = x[lo : hi + 1] if step > 0 else x[lo : hi + 1][::-1]
    # First sample within the threshold, walking away from the peak (exists: the base is).
    k = int(np.argmax(side <= threshold))
    # Then down to the first local minimum.
    while k + 1 < side.size and side[k + 1] < side[k]:
        k += 1
    return peak + step * k


def segment_poses(positions: np.ndarray, config: SegmentationConfig) -> Segmentation:
    """Extract ``config.signal`` from poses and segment it.

    Parameters
    ----------
    positions
        ``(n_frames, n_joints, n_space)``; NaN where not detected (frames with nothing
        detected are gaps, handled by the gap rule, never an error).
    config
        What to extract and how to segment.
    """
    return segment_signal(extract_signal(positions, config.signal, config.rate_hz), config)


def slice_segments(values: np.ndarray, segmentation: Segmentation) -> list[np.ndarray]:
    """The frames of each repetition, e.g. to compare repetitions with DTW.

    Parameters
    ----------
    values
        ``(n_frames, ...)``: the poses (or any per-frame array) the segmentation was found in.
    segmentation
        The repetitions.

    Returns
    -------
    list[np.ndarray]
        One view ``values[start_frame:end_frame]`` per repetition, in order.
    """
    arr = np.asarray(values)
    if arr.shape[0] != segmentation.signal.shape[0]:
        raise AnalysisError(
            f"slicing repetitions: the array has {arr.shape[0]} frames, the segmentation "
            f"{segmentation.signal.shape[0]}; expected the recording that was segmented"
        )
    return [
        arr[start:end]
        for start, end in zip(segmentation.start_frame, segmentation.end_frame, strict=True)
    ]
