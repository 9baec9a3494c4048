"""Choosing frames to label or review: uniform in time, pose diversity, clips around events.

Every function is deterministic: the same inputs and seed give the same frames, whatever the
order in which sequences are processed (each sequence's seed is derived from the run seed and
the sequence key, see :func:`sequence_seed`). Frame indices are positions on the track's frame
axis, which is the video's frame index for tracks read from that video.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from w2t_bkin.extras import require
from w2t_bkin.features.library import egocentric, heading, normalize_body_scale
from w2t_bkin.features.library._checks import KeypointSelector, check_positions, check_times
from w2t_bkin.features.sampling.errors import SamplingError

__all__ = [
    "ClipSpec",
    "FrameSelection",
    "SamplingSpec",
    "SequenceTrack",
    "ThresholdSpec",
    "apply_quota",
    "combine",
    "pose_features",
    "sample_event_clips",
    "sample_kmeans",
    "sample_uniform",
    "select_frames",
    "sequence_seed",
    "threshold_onsets",
]


@dataclass(frozen=True)
class FrameSelection:
    """Frames chosen from one sequence, sorted by frame index, each once.

    Attributes
    ----------
    frame_idx
        ``(n,) int64`` strictly increasing frame indices.
    t_s
        ``(n,) float64`` their timestamps in seconds.
    reason
        ``(n,)`` unicode array: why each frame was chosen (``"uniform"``, ``"kmeans:3"`` for
        cluster 3, ``"<label>#2"`` for the third event of a clip list).
    """

    frame_idx: np.ndarray
    t_s: np.ndarray
    reason: np.ndarray

    def __len__(self) -> int:
        return int(self.frame_idx.shape[0])


def _selection(frame_idx: np.ndarray, t_s: np.ndarray, reason: np.ndarray) -> FrameSelection:
    """Sort by frame and keep the first reason of a repeated frame."""
    frames = np.asarray(frame_idx, dtype=np.int64)
    reasons = np.asarray(reason, dtype=np.str_)
    unique, first = np.unique(frames, return_index=True)  # first occurrence keeps its reason
    return FrameSelection(
        frame_idx=unique, t_s=np.asarray(t_s, dtype=np.float64)[unique], reason=reasons[first]
    )


def _empty() -> FrameSelection:
    return FrameSelection(
        frame_idx=np.empty(0, np.int64), t_s=np.empty(0), reason=np.empty(0, dtype=np.str_)
    )


def _valid_frames(t_s: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    if valid is None:
        return np.ones(len(t_s), dtype=bool)
    mask = np.asarray(valid, dtype=bool)
    if mask.shape != t_s.shape:
        raise SamplingError(
            f"valid must have shape {t_s.shape} (one flag per frame); found {mask.shape}",
            hint="pass a boolean per frame, True where the frame may be chosen",
        )
    return mask


def _check_count(n: int, name: str) -> None:
    if n < 0:
        raise SamplingError(f"{name} must be >= 0 frames; found {n}", hint=f"e.g. {name}=20")


def sample_uniform(t_s: np.ndarray, n: int, *, valid: np.ndarray | None = None) -> FrameSelection:
    """``n`` frames evenly spread in time (not in frame count).

    Recorded time is cut into ``n`` equal intervals and the valid frame nearest to each
    interval's centre is taken (the earlier one on a tie). Recorded time runs along the valid
    frames, each interval between consecutive valid frames counting its real duration up to
    twice the track's median frame interval: a recording gap (or a stretch of invalid frames)
    neither draws several targets onto the frames at its edges nor shifts the other frames.

    Parameters
    ----------
    t_s
        ``(n_frames,) float64`` strictly increasing timestamps in seconds.
    n
        Frames wanted; fewer come back when the valid frames are fewer or too clustered.
    valid
        ``(n_frames,) bool`` frames that may be chosen; ``None``: all.

    Returns
    -------
    FrameSelection
        Reason ``"uniform"``.
    """
    times = check_times(t_s, len(np.asarray(t_s)))
    _check_count(n, "n")
    candidates = np.flatnonzero(_valid_frames(times, valid))
    if n == 0 or len(candidates) == 0:
        return _empty()
    # recorded time: intervals capped at twice the median frame interval, so gaps collapse
    cap_s = 2.0 * float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    steps_s = np.minimum(np.diff(times[candidates]), cap_s)
    cand_t = np.r_[0.0, np.cumsum(steps_s)]
    targets_s = cand_t[-1] * (np.arange(n) + 0.5) / n
    right = np.clip(np.searchsorted(cand_t, targets_s), 1, len(candidates) - 1)
    if len(candidates) == 1:
        chosen = candidates[np.zeros(n, dtype=np.int64)]
    else:
        left = right - 1
        take_right = np.abs(cand_t[right] - targets_s) < np.abs(targets_s - cand_t[left])
        chosen = candidates[np.where(take_right, right, left)]
    return _selection(chosen, times, np.full(len(chosen), "uniform"))


def pose_features(
    positions: np.ndarray,
    origin: KeypointSelector,
    rear: KeypointSelector,
    front: KeypointSelector,
) -> np.ndarray:
    """Pose in each animal's body frame, in body-size units: the space k-means clusters in.

    Translation (origin keypoint at 0), rotation (rear->front along +x) and size (divided by
    the track's median body scale) are removed, so clusters differ by posture, not by where
    the animal is, which way it faces or how far the camera is.

    Parameters
    ----------
    positions
        ``(n_frames, n_individuals, n_keypoints, 2)``.
    origin, rear, front
        Keypoint selectors (index or indices) of the body centre and the body axis.

    Returns
    -------
    np.ndarray
        ``(n_frames, n_individuals, n_keypoints * 2) float64``; NaN where a point is missing.
    """
    array = check_positions(positions)
    aligned = egocentric(array, origin, heading(array, rear, front))
    scaled = normalize_body_scale(aligned, per="track")
    return scaled.reshape(*scaled.shape[:2], -1)


def sample_kmeans(
    positions: np.ndarray,
    t_s: np.ndarray,
    n: int,
    *,
    origin: KeypointSelector,
    rear: KeypointSelector,
    front: KeypointSelector,
    seed: int,
    valid: np.ndarray | None = None,
    max_fit_rows: int = 50_000,
) -> FrameSelection:
    """``n`` frames of diverse postures: k-means on :func:`pose_features`, one frame per cluster.

    Every (frame, individual) with all keypoints present is a sample. k-means (scikit-learn,
    ``n_init=10``, ``random_state=seed``) is fitted on at most ``max_fit_rows`` of them, evenly
    spaced in time, then every sample is assigned; from each cluster the sample nearest to its
    centre is taken (the earliest frame on a tie). DeepLabCut's sampler takes a random member
    instead; the nearest one is reproducible and typical of its cluster.

    Parameters
    ----------
    positions
        ``(n_frames, n_individuals, n_keypoints, 2)``.
    t_s
        ``(n_frames,) float64`` timestamps in seconds.
    n
        Clusters (frames wanted); fewer frames when samples are fewer or two clusters pick the
        same frame through different individuals.
    origin, rear, front
        Keypoint selectors of the body centre and body axis (see :func:`pose_features`).
    seed
        k-means seed.
    valid
        ``(n_frames,) bool`` frames that may be chosen; ``None``: all.
    max_fit_rows
        Largest number of samples the model is fitted on (fitting cost), ``>= n``.

    Returns
    -------
    FrameSelection
        Reasons ``"kmeans:<cluster>"``.
    """
    # heavy and optional (the 'features' extra): imported only when clustering
    cluster = require("sklearn.cluster", "features", "k-means frame sampling")

    array = check_positions(positions)
    times = check_times(t_s, array.shape[0])
    _check_count(n, "n")
    if max_fit_rows < n:
        raise SamplingError(
            f"max_fit_rows ({max_fit_rows}) must be >= n ({n})",
            hint="raise max_fit_rows or ask for fewer frames",
        )
    features = pose_features(array, origin, rear, front)
    usable = np.all(np.isfinite(features), axis=-1) & _valid_frames(times, valid)[:, None]
    frame_of, _ = np.nonzero(usable)  # samples in (frame, individual) order
    samples = features[usable]
    if n == 0 or len(samples) == 0:
        return _empty()
    if len(samples) <= n:
        chosen = frame_of
        labels = np.arange(len(samples))
    else:
        fit_rows = np.unique(np.linspace(0, len(samples) - 1, min(max_fit_rows, len(samples))))
        model = cluster.KMeans(n_clusters=n, n_init=10, random_state=seed)
        model.fit(samples[fit_rows.astype(np.int64)])
        assigned = model.predict(samples)
        distance = np.linalg.norm(samples - model.cluster_centers_[assigned], axis=1)
        # lexsort: by cluster, then distance, then frame; the first row of each cluster wins
        order = np.lexsort((frame_of, distance, assigned))
        first = order[np.r_[True, np.diff(assigned[order]) != 0]]
        chosen, labels = frame_of[first], assigned[first]
    reasons = np.char.add("kmeans:", labels.astype(np.str_))
    return _selection(chosen, times, reasons)


def sample_event_clips(
    t_s: np.ndarray,
    event_times_s: np.ndarray,
    *,
    before_s: float,
    after_s: float,
    label: str = "event",
    max_frames_per_clip: int | None = None,
    valid: np.ndarray | None = None,
) -> FrameSelection:
    """Frames within ``[event - before_s, event + after_s]`` of each event time.

    Parameters
    ----------
    t_s
        ``(n_frames,) float64`` timestamps in seconds (same clock as the events).
    event_times_s
        ``(n_events,) float64`` event times (trial outcomes, stimulus onsets, threshold
        crossings); NaN events are skipped.
    before_s, after_s
        Clip extent around each event, ``>= 0``.
    label
        Reason prefix: frames get ``"<label>#<event number>"`` (the first event that claims them).
    max_frames_per_clip
        At most this many frames per clip, spread uniformly in time over the clip (see
        :func:`sample_uniform`); ``None`` keeps every frame.
    valid
        ``(n_frames,) bool`` frames that may be chosen; ``None``: all.

    Returns
    -------
    FrameSelection
        The union of the clips.
    """
    times = check_times(t_s, len(np.asarray(t_s)))
    if not (before_s >= 0 and after_s >= 0):
        raise SamplingError(
            f"before_s and after_s must be >= 0 seconds; found {before_s}, {after_s}",
            hint="e.g. before_s=0.5, after_s=1.0",
        )
    mask = _valid_frames(times, valid)
    events = np.asarray(event_times_s, dtype=np.float64).ravel()
    frames: list[np.ndarray] = []
    reasons: list[np.ndarray] = []
    for number, event_s in enumerate(events):
        if np.isnan(event_s):
            continue
        lo, hi = np.searchsorted(times, [event_s - before_s, event_s + after_s], side="left")
        hi = max(hi, lo)
        hi += int(hi < len(times) and times[hi] == event_s + after_s)  # the end is inclusive
        clip = np.arange(lo, hi)[mask[lo:hi]]
        if max_frames_per_clip is not None and len(clip) > max_frames_per_clip:
            inner = sample_uniform(times[clip], max_frames_per_clip)
            clip = clip[np.searchsorted(times[clip], inner.t_s)]
        frames.append(clip)
        reasons.append(np.full(len(clip), f"{label}#{number}"))
    if not frames:
        return _empty()
    return _selection(np.concatenate(frames), times, np.concatenate(reasons))


def threshold_onsets(
    values: np.ndarray,
    t_s: np.ndarray,
    threshold: float,
    *,
    above: bool = True,
    min_duration_s: float = 0.0,
) -> np.ndarray:
    """Times at which a per-frame feature enters a state beyond a threshold.

    A run is a stretch of consecutive frames with ``values > threshold`` (``above``) or
    ``values < threshold`` (not ``above``); NaN ends a run. Runs shorter than
    ``min_duration_s`` (from the run's first to its last frame time) are dropped.

    Parameters
    ----------
    values
        ``(n_frames,)`` feature values (e.g. the speed of one keypoint).
    t_s
        ``(n_frames,) float64`` timestamps in seconds.
    threshold
        The level.
    above
        Look for values above (True) or below (False) the threshold.
    min_duration_s
        Shortest run kept, in seconds.

    Returns
    -------
    np.ndarray
        ``(n_runs,) float64`` onset times (the first frame time of each run).
    """
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1:
        raise SamplingError(
            f"values must be 1-D (one value per frame); found shape {data.shape}",
            hint="select one keypoint and individual, e.g. speed[:, 0, 0]",
        )
    times = check_times(t_s, len(data))
    with np.errstate(invalid="ignore"):
        state = data > threshold if above else data < threshold
    edges = np.diff(np.r_[0, state.astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    keep = times[stops] - times[starts] >= min_duration_s
    result: np.ndarray = times[starts[keep]]
    return result


def combine(selections: Sequence[FrameSelection]) -> FrameSelection:
    """Union of selections; a frame chosen twice keeps the reason of the earlier selection."""
    if not selections:
        return _empty()
    frames = np.concatenate([s.frame_idx for s in selections])
    times = np.concatenate([s.t_s for s in selections])
    reasons = np.concatenate([s.reason.astype(np.str_) for s in selections])
    unique, first = np.unique(frames, return_index=True)
    return FrameSelection(frame_idx=unique, t_s=times[first], reason=reasons[first])


def apply_quota(selection: FrameSelection, quota: int | None, seed: int) -> FrameSelection:
    """At most ``quota`` frames: a seeded random subset (kept in frame order) when over it."""
    if quota is None or len(selection) <= quota:
        return selection
    _check_count(quota, "quota")
    keep = np.sort(np.random.default_rng(seed).choice(len(selection), size=quota, replace=False))
    return FrameSelection(
        frame_idx=selection.frame_idx[keep], t_s=selection.t_s[keep], reason=selection.reason[keep]
    )


def sequence_seed(seed: int, sequence_key: str) -> int:
    """A 63-bit seed for one sequence from the run seed and the sequence key (order-free)."""
    digest = hashlib.sha256(f"{seed}\x00{sequence_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@dataclass(frozen=True)
class SequenceTrack:
    """What sampling needs from one sequence (session x camera x individual set).

    Attributes
    ----------
    t_s
        ``(n_frames,) float64`` synchronised frame times in seconds.
    positions
        ``(n_frames, n_individuals, n_keypoints, 2)`` or ``None`` (no pose-diversity sampling).
    events
        Event list name -> ``(n_events,) float64`` times on the same clock as ``t_s``.
    features
        Feature name -> ``(n_frames,)`` per-frame values for threshold clips.
    valid
        ``(n_frames,) bool`` frames that may be chosen, or ``None`` for all.
    """

    t_s: np.ndarray
    positions: np.ndarray | None = None
    events: Mapping[str, np.ndarray] = field(default_factory=dict)
    features: Mapping[str, np.ndarray] = field(default_factory=dict)
    valid: np.ndarray | None = None


@dataclass(frozen=True)
class ClipSpec:
    """Clips around the times of a named event list (``SequenceTrack.events[events]``)."""

    events: str
    before_s: float
    after_s: float
    max_frames_per_clip: int | None = None


@dataclass(frozen=True)
class ThresholdSpec:
    """Clips around the onsets of a feature beyond a threshold (:func:`threshold_onsets`)."""

    feature: str
    threshold: float
    before_s: float
    after_s: float
    above: bool = True
    min_duration_s: float = 0.0
    max_frames_per_clip: int | None = None


@dataclass(frozen=True)
class SamplingSpec:
    """A frame-sampling request applied to every sequence.

    Attributes
    ----------
    uniform
        Frames per sequence spread uniformly in time.
    kmeans
        Frames per sequence chosen for pose diversity (needs ``positions``).
    origin, rear, front
        Keypoint selectors for the body frame of k-means (:func:`pose_features`).
    clips, thresholds
        Event and feature-threshold clips.
    quota
        At most this many frames per sequence (``None``: no limit); when exceeded, a seeded
        random subset of the union is kept.
    seed
        Run seed; each sequence uses :func:`sequence_seed` of it.
    """

    uniform: int = 0
    kmeans: int = 0
    origin: KeypointSelector = 0
    rear: KeypointSelector = 0
    front: KeypointSelector = 1
    clips: tuple[ClipSpec, ...] = ()
    thresholds: tuple[ThresholdSpec, ...] = ()
    quota: int | None = None
    seed: int = 0


def _sequence_selection(key: str, track: SequenceTrack, spec: SamplingSpec) -> FrameSelection:
    seed = sequence_seed(spec.seed, key)
    parts: list[FrameSelection] = []
    for clip in spec.clips:
        if clip.events not in track.events:
            raise SamplingError(
                f"sequence {key!r} has no event list {clip.events!r}; it has "
                f"{sorted(track.events)}",
                hint="name an event list the sequence provides",
            )
        parts.append(
            sample_event_clips(
                track.t_s,
                track.events[clip.events],
                before_s=clip.before_s,
                after_s=clip.after_s,
                label=clip.events,
                max_frames_per_clip=clip.max_frames_per_clip,
                valid=track.valid,
            )
        )
    for rule in spec.thresholds:
        if rule.feature not in track.features:
            raise SamplingError(
                f"sequence {key!r} has no feature {rule.feature!r}; it has "
                f"{sorted(track.features)}",
                hint="name a per-frame feature the sequence provides",
            )
        onsets = threshold_onsets(
            track.features[rule.feature],
            track.t_s,
            rule.threshold,
            above=rule.above,
            min_duration_s=rule.min_duration_s,
        )
        sign = ">" if rule.above else "<"
        parts.append(
            sample_event_clips(
                track.t_s,
                onsets,
                before_s=rule.before_s,
                after_s=rule.after_s,
                label=f"{rule.feature}{sign}{rule.threshold:g}",
                max_frames_per_clip=rule.max_frames_per_clip,
                valid=track.valid,
            )
        )
    if spec.kmeans:
        if track.positions is None:
            raise SamplingError(
                f"sequence {key!r} has no positions; k-means sampling needs poses",
                hint="set kmeans=0 or provide positions for the sequence",
            )
        parts.append(
            sample_kmeans(
                track.positions,
                track.t_s,
                spec.kmeans,
                origin=spec.origin,
                rear=spec.rear,
                front=spec.front,
                seed=seed,
                valid=track.valid,
            )
        )
    if spec.uniform:
        parts.append(sample_uniform(track.t_s, spec.uniform, valid=track.valid))
    return apply_quota(combine(parts), spec.quota, seed)


def select_frames(
    sequences: Mapping[str, SequenceTrack], spec: SamplingSpec
) -> dict[str, FrameSelection]:
    """Apply a :class:`SamplingSpec` to every sequence; the pipeline step wraps this.

    Reasons on a frame picked by several strategies follow the order event clips, threshold
    clips, k-means, uniform (the first claims it).

    Parameters
    ----------
    sequences
        Sequence key -> its track data.
    spec
        The request; ``quota`` and ``seed`` apply per sequence.

    Returns
    -------
    dict[str, FrameSelection]
        One selection per sequence, same keys.
    """
    for name in ("uniform", "kmeans"):
        _check_count(getattr(spec, name), name)
    if spec.quota is not None:
        _check_count(spec.quota, "quota")
    return {key: _sequence_selection(key, track, spec) for key, track in sequences.items()}
