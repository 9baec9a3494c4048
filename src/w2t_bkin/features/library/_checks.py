"""Argument checks shared by the library functions (shapes, timestamps, keypoint indices)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from w2t_bkin.features.library.errors import LibraryParameterError, TrackDataError

KeypointSelector = int | Sequence[int]
"""One keypoint index, or several whose centroid is used (e.g. both ears for the head)."""


def check_positions(positions: np.ndarray, *, name: str = "positions") -> np.ndarray:
    """Return ``positions`` as a floating array of shape ``(n_frames, n_ind, n_kp, n_space)``."""
    array = np.asarray(positions)
    if array.ndim != 4:
        raise TrackDataError(
            f"{name} must be 4-D (n_frames, n_individuals, n_keypoints, n_space); found shape "
            f"{array.shape}",
            hint="add missing axes, e.g. positions[:, None] for one individual",
        )
    if array.shape[-1] not in (2, 3):
        raise TrackDataError(
            f"{name} must have 2 or 3 spatial coordinates on its last axis; found "
            f"{array.shape[-1]}",
            hint="the last axis holds (x, y) or (x, y, z)",
        )
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    return array


def check_planar(positions: np.ndarray, what: str) -> None:
    """Refuse 3-D points for a function defined in the image plane."""
    if positions.shape[-1] != 2:
        raise TrackDataError(
            f"{what} is defined for 2-D points; positions have {positions.shape[-1]} "
            "coordinates per point",
            hint="pass positions[..., :2] to work in the x-y plane",
        )


def check_times(t_s: np.ndarray, n_frames: int, *, name: str = "t_s") -> np.ndarray:
    """Return ``t_s`` as ``(n_frames,) float64``, finite and strictly increasing."""
    times = np.asarray(t_s, dtype=np.float64)
    if times.shape != (n_frames,):
        raise TrackDataError(
            f"{name} must have shape ({n_frames},), one time per frame; found {times.shape}",
            hint="pass the synchronised per-frame timestamps of the same track",
        )
    if not np.all(np.isfinite(times)):
        bad = int(np.flatnonzero(~np.isfinite(times))[0])
        raise TrackDataError(
            f"{name}[{bad}] is {float(times[bad])}; expected finite seconds",
            hint="drop frames without a timestamp before computing features",
        )
    steps = np.diff(times)
    if np.any(steps <= 0):
        bad = int(np.flatnonzero(steps <= 0)[0])
        raise TrackDataError(
            f"{name} must be strictly increasing; {name}[{bad + 1}] = "
            f"{float(times[bad + 1])!r} follows {name}[{bad}] = {float(times[bad])!r}",
            hint="sort frames by time and remove duplicated frames",
        )
    return times


def check_min_frames(n_frames: int, minimum: int, what: str) -> None:
    """Refuse a track too short for a computation."""
    if n_frames < minimum:
        raise TrackDataError(
            f"{what} needs at least {minimum} frames; found {n_frames}",
            hint="use a longer track",
        )


def keypoint_list(selector: KeypointSelector, n_keypoints: int, name: str) -> list[int]:
    """Validate a keypoint selector and return it as a non-empty list of indices."""
    if isinstance(selector, int | np.integer):
        indices = [int(selector)]
    else:
        indices = [int(i) for i in selector]
    if not indices:
        raise LibraryParameterError(f"{name} selects no keypoint", hint="give at least one index")
    for index in indices:
        if not -n_keypoints <= index < n_keypoints:
            raise LibraryParameterError(
                f"{name} keypoint index {index} is out of range for {n_keypoints} keypoints",
                hint=f"use an index in 0..{n_keypoints - 1}",
            )
    return indices


def keypoint_centroid(positions: np.ndarray, selector: KeypointSelector, name: str) -> np.ndarray:
    """Mean of the selected keypoints: ``(n_frames, n_ind, n_space)``; NaN if any is missing."""
    indices = keypoint_list(selector, positions.shape[2], name)
    if len(indices) == 1:
        return np.asarray(positions[:, :, indices[0], :])
    # a plain mean (not nanmean): a centroid from a subset of the points would jump
    result: np.ndarray = positions[:, :, indices, :].mean(axis=2)
    return result


def resolve_window(
    t_s: np.ndarray,
    window_s: float | None,
    window_frames: int | None,
    *,
    minimum: int,
    what: str,
) -> int:
    """The odd window length in frames from a window in seconds or in frames.

    A window in seconds becomes ``round(window_s / median_dt)`` frames, ``median_dt`` being the
    median frame interval of ``t_s``, raised to the next odd number (so the window is centred on
    a frame). Exactly one of ``window_s`` and ``window_frames`` must be given.
    """
    if (window_s is None) == (window_frames is None):
        raise LibraryParameterError(
            f"{what}: give exactly one of window_s and window_frames; found "
            f"window_s={window_s!r}, window_frames={window_frames!r}",
            hint="e.g. window_s=0.1 (converted with the median frame interval) or window_frames=5",
        )
    if window_frames is not None:
        n_window = int(window_frames)
        if n_window % 2 == 0 or n_window < minimum:
            raise LibraryParameterError(
                f"{what}: window_frames must be odd and >= {minimum}; found {window_frames}",
                hint=f"use an odd number of frames >= {minimum}",
            )
        return n_window
    assert window_s is not None
    if not window_s > 0 or len(t_s) < 2:
        raise LibraryParameterError(
            f"{what}: window_s must be > 0 on a track of >= 2 frames; found window_s={window_s} "
            f"on {len(t_s)} frames",
            hint="give a positive window in seconds",
        )
    median_dt_s = float(np.median(np.diff(t_s)))
    n_window = round(window_s / median_dt_s)
    n_window += 1 - n_window % 2  # odd: centred on a frame
    if n_window < minimum:
        raise LibraryParameterError(
            f"{what}: window_s={window_s} s is {n_window} frame(s) at the median frame interval "
            f"{median_dt_s:.6g} s; at least {minimum} frames are needed",
            hint=f"use window_s >= {minimum * median_dt_s:.6g}",
        )
    return n_window


def out_dtype(array: np.ndarray) -> np.dtype[np.floating]:
    """Result dtype: float32 input stays float32 (memory), anything else becomes float64."""
    if array.dtype == np.float32:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def leading_median(sorted_rows: np.ndarray, n_valid: np.ndarray) -> np.ndarray:
    """Median of the first ``n_valid`` values of each row sorted on the last axis.

    With NaN sorted last (``np.sort``), this is the NaN-ignoring median without ``nanmedian``'s
    per-row cost. Returns ``sorted_rows.shape[:-1]`` float64, NaN where ``n_valid == 0``.
    """
    low = np.clip((n_valid - 1) // 2, 0, None)
    high = np.clip(n_valid // 2, 0, None)
    lo = np.take_along_axis(sorted_rows, low[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(sorted_rows, high[..., None], axis=-1)[..., 0]
    result: np.ndarray = (lo + hi) / 2.0
    result[n_valid == 0] = np.nan
    return result
