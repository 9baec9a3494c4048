"""Summaries of per-frame values over windows of time (not of frame counts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from w2t_bkin.features.library._checks import check_times, leading_median
from w2t_bkin.features.library.errors import LibraryParameterError

__all__ = ["STATISTICS", "Statistic", "WindowedSummary", "windowed_summary"]

Statistic = Literal["mean", "std", "min", "max", "median", "count"]
STATISTICS: tuple[Statistic, ...] = ("mean", "std", "min", "max", "median", "count")


@dataclass(frozen=True)
class WindowedSummary:
    """Statistics of a per-frame array over consecutive (or overlapping) time windows.

    Attributes
    ----------
    start_s, end_s
        ``(n_windows,) float64``: window ``i`` holds the frames with
        ``start_s[i] <= t_s < end_s[i]``.
    n_frames
        ``(n_windows,) int64`` frames in each window (valid or not); a window over a recording
        gap, or the last one cut by the end of the track, holds fewer.
    values
        Statistic name -> ``(n_windows, ...)`` array (the trailing shape of the input): float64,
        int64 for ``"count"`` (non-NaN values). NaN where a window has no valid value.
    """

    start_s: np.ndarray
    end_s: np.ndarray
    n_frames: np.ndarray
    values: Mapping[str, np.ndarray]


def _window_bounds(
    t_s: np.ndarray, window_s: float, step_s: float, start_s: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Window edges in seconds and their first/past-the-end frame indices."""
    first_s = float(t_s[0]) if start_s is None else float(start_s)
    n_windows = int(np.floor((t_s[-1] - first_s) / step_s)) + 1 if t_s[-1] >= first_s else 0
    starts_s = first_s + step_s * np.arange(max(n_windows, 0), dtype=np.float64)
    ends_s = starts_s + window_s
    lo = np.searchsorted(t_s, starts_s, side="left")
    hi = np.searchsorted(t_s, ends_s, side="left")
    return starts_s, ends_s, lo, hi


def _reduce(ufunc: np.ufunc, data: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``ufunc.reduce`` of ``data[lo[i]:hi[i]]`` for every window (rows of empty windows: junk)."""
    # reduceat over interleaved (start, end) indices handles overlapping windows; one pad row
    # lets an end index equal len(data)
    padded = np.concatenate([data, data[:1]], axis=0)
    bounds = np.stack([lo, np.maximum(hi, lo)], axis=1).ravel()
    result: np.ndarray = ufunc.reduceat(padded, bounds, axis=0)[::2]
    return result


def windowed_summary(
    values: np.ndarray,
    t_s: np.ndarray,
    window_s: float,
    *,
    step_s: float | None = None,
    start_s: float | None = None,
    statistics: Sequence[Statistic] = STATISTICS,
) -> WindowedSummary:
    """Summarise a per-frame array over time windows, ignoring NaN.

    Windows are placed on the timestamps, so a recording gap or dropped frames shorten the
    frame count of a window rather than shifting every later window.

    Parameters
    ----------
    values
        ``(n_frames, ...)`` numbers (e.g. speed ``(n_frames, n_individuals, n_keypoints)``);
        NaN where missing.
    t_s
        ``(n_frames,) float64`` strictly increasing timestamps in seconds.
    window_s
        Window length in seconds.
    step_s
        Distance between window starts; ``None`` = ``window_s`` (adjacent windows). Smaller
        values give overlapping windows.
    start_s
        Start of the first window; ``None`` = ``t_s[0]``. Windows continue while their start is
        ``<= t_s[-1]``.
    statistics
        Any of ``"mean"``, ``"std"`` (population, ``ddof=0``), ``"min"``, ``"max"``,
        ``"median"``, ``"count"``.

    Returns
    -------
    WindowedSummary
        Window edges, frame counts and one array per statistic.
    """
    data = np.asarray(values, dtype=np.float64)
    times = check_times(t_s, data.shape[0] if data.ndim else 0)
    step = window_s if step_s is None else step_s
    if not (window_s > 0 and step > 0):
        raise LibraryParameterError(
            f"window_s and step_s must be > 0 seconds; found window_s={window_s}, step_s={step_s}",
            hint="e.g. window_s=1.0 for one-second windows",
        )
    unknown = sorted(set(statistics) - set(STATISTICS))
    if unknown:
        raise LibraryParameterError(
            f"unknown statistic(s) {unknown}; expected any of {list(STATISTICS)}",
            hint="e.g. statistics=('mean', 'max')",
        )
    starts_s, ends_s, lo, hi = _window_bounds(times, window_s, step, start_s)
    trailing = data.shape[1:]
    flat = data.reshape(data.shape[0], -1)  # (n_frames, n_series): one code path for any shape
    valid = ~np.isnan(flat)
    count = _reduce(np.add, valid.astype(np.int64), lo, hi)
    count[hi <= lo] = 0
    empty = count == 0
    out: dict[str, np.ndarray] = {}
    if "count" in statistics:
        out["count"] = count
    if "mean" in statistics or "std" in statistics:
        # sums of values shifted by a per-series reference: the textbook formula
        # E[x^2] - E[x]^2 loses precision when |mean| >> std without the shift
        seen = valid.any(axis=0)
        reference = np.zeros(flat.shape[1])
        reference[seen] = np.nanmedian(flat[:, seen], axis=0)
        shifted = np.where(valid, flat - reference, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            total = _reduce(np.add, shifted, lo, hi)
            mean_shifted = total / count
            if "mean" in statistics:
                out["mean"] = np.where(empty, np.nan, mean_shifted + reference)
            if "std" in statistics:
                squares = _reduce(np.add, shifted * shifted, lo, hi)
                variance = np.maximum(squares / count - mean_shifted**2, 0.0)
                out["std"] = np.where(empty, np.nan, np.sqrt(variance))
    for name, ufunc in (("min", np.fmin), ("max", np.fmax)):
        if name in statistics:
            out[name] = np.where(empty, np.nan, _reduce(ufunc, flat, lo, hi))
    if "median" in statistics:
        median = np.full((len(lo), flat.shape[1]), np.nan)
        for i in np.flatnonzero(count.any(axis=1)):  # one sort per window: windows may overlap
            ordered = np.sort(flat[lo[i] : hi[i]], axis=0)  # NaN sort last
            median[i] = leading_median(ordered.T, count[i])
        out["median"] = median
    out = {name: array.reshape(len(lo), *trailing) for name, array in out.items()}
    n_frames = np.maximum(hi - lo, 0).astype(np.int64)
    return WindowedSummary(start_s=starts_s, end_s=ends_s, n_frames=n_frames, values=out)
