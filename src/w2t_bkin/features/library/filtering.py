"""Cleaning pose tracks: drop low-confidence points, fill short gaps in time."""

from __future__ import annotations

import numpy as np

from w2t_bkin.features.library._checks import check_positions, check_times
from w2t_bkin.features.library.errors import LibraryParameterError, TrackDataError

__all__ = ["gap_mask", "interpolate_gaps", "mask_low_confidence"]


def mask_low_confidence(
    positions: np.ndarray,
    confidence: np.ndarray,
    threshold: float,
    *,
    keep_unscored: bool = True,
) -> np.ndarray:
    """Set points whose confidence is below ``threshold`` to NaN.

    Parameters
    ----------
    positions
        ``(n_frames, n_individuals, n_keypoints, n_space)`` float32/float64.
    confidence
        ``(n_frames, n_individuals, n_keypoints)`` scores; NaN where the source has none.
    threshold
        Points with ``confidence < threshold`` are removed (a score equal to it is kept).
    keep_unscored
        Keep points whose confidence is NaN (hand labels, files without scores). ``movement``'s
        ``filter_by_confidence`` drops them (``confidence >= threshold`` is false for NaN); pass
        ``False`` for that behaviour.

    Returns
    -------
    np.ndarray
        A new array of the shape and dtype of ``positions``; the input is not modified.
    """
    array = check_positions(positions)
    scores = np.asarray(confidence)
    if scores.shape != array.shape[:-1]:
        raise TrackDataError(
            f"confidence must have shape {array.shape[:-1]} (positions without the space axis); "
            f"found {scores.shape}",
            hint="pass the confidence array read with the same positions",
        )
    if not np.isfinite(threshold):
        raise LibraryParameterError(
            f"threshold must be a finite number; found {threshold!r}", hint="e.g. threshold=0.6"
        )
    drop = scores < threshold
    if not keep_unscored:
        drop |= np.isnan(scores)
    result = array.copy()
    result[drop] = np.nan
    return result


def _neighbour_valid(valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the last valid frame at or before, and first valid frame at or after, each frame.

    ``valid`` is ``(n_frames, n_series) bool``; missing neighbours are -1 and ``n_frames``.
    """
    n_frames = valid.shape[0]
    frame = np.arange(n_frames)[:, None]
    previous = np.maximum.accumulate(np.where(valid, frame, -1), axis=0)
    following = np.minimum.accumulate(np.where(valid, frame, n_frames)[::-1], axis=0)[::-1]
    return previous, following


def gap_mask(valid: np.ndarray, t_s: np.ndarray, max_gap_s: float | None) -> np.ndarray:
    """Which missing values lie inside a gap that :func:`interpolate_gaps` fills.

    Parameters
    ----------
    valid
        ``(n_frames, ...) bool``: True where a value exists.
    t_s
        ``(n_frames,) float64`` timestamps in seconds.
    max_gap_s
        Largest fillable gap, measured as the time between the valid values on both sides of it
        (``t_s[next_valid] - t_s[previous_valid]``); ``None`` fills every interior gap.

    Returns
    -------
    np.ndarray
        ``(n_frames, ...) bool``: True for missing values with valid values on both sides and a
        gap no longer than ``max_gap_s``. Leading and trailing gaps are never filled.
    """
    flat = valid.reshape(valid.shape[0], -1)
    previous, following = _neighbour_valid(flat)
    n_frames = flat.shape[0]
    inside = (~flat) & (previous >= 0) & (following < n_frames)
    if max_gap_s is not None:
        span_s = t_s[np.minimum(following, n_frames - 1)] - t_s[np.maximum(previous, 0)]
        inside &= span_s <= max_gap_s
    return inside.reshape(valid.shape)


def interpolate_gaps(
    positions: np.ndarray, t_s: np.ndarray, max_gap_s: float | None = None
) -> np.ndarray:
    """Fill missing points by linear interpolation in time over gaps up to ``max_gap_s``.

    Interpolation uses the timestamps (a point missing for a dropped-frame interval lands
    where constant velocity puts it in time, not halfway by frame count). Each coordinate of
    each keypoint is filled independently, as in ``movement.filtering.interpolate_over_time``.

    Parameters
    ----------
    positions
        ``(n_frames, n_individuals, n_keypoints, n_space)`` float32/float64, NaN where missing.
    t_s
        ``(n_frames,) float64`` strictly increasing timestamps in seconds.
    max_gap_s
        Largest gap filled, in seconds between the valid frames on both sides (so a single
        missing frame at 30 Hz is a gap of 2/30 s); longer gaps stay NaN. ``None`` fills
        every gap between two valid values. Leading and trailing NaNs are never extrapolated.

    Returns
    -------
    np.ndarray
        A new array of the shape and dtype of ``positions``.
    """
    array = check_positions(positions)
    times = check_times(t_s, array.shape[0])
    if max_gap_s is not None and not max_gap_s >= 0:
        raise LibraryParameterError(
            f"max_gap_s must be >= 0 seconds or None; found {max_gap_s!r}",
            hint="e.g. max_gap_s=0.2 fills gaps of up to 200 ms",
        )
    result = array.copy()
    flat = result.reshape(array.shape[0], -1)  # a view: filled in place
    # one series at a time keeps the int64 neighbour arrays at n_frames, not n_frames x n_series
    for series in range(flat.shape[1]):
        column = flat[:, series]
        valid = ~np.isnan(column)
        if valid.all() or not valid.any():
            continue
        fill = gap_mask(valid, times, max_gap_s)
        if not fill.any():
            continue
        previous, following = _neighbour_valid(valid[:, None])
        prev_idx, next_idx = previous[fill, 0], following[fill, 0]
        t_prev, t_next = times[prev_idx], times[next_idx]
        weight = (times[fill] - t_prev) / (t_next - t_prev)
        y_prev = column[prev_idx].astype(np.float64)
        column[fill] = y_prev + weight * (column[next_idx] - y_prev)
    return result
