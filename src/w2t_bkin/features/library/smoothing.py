"""Savitzky–Golay and median smoothing of pose tracks with windows in seconds or frames.

Window rule (both filters)
--------------------------
A window is an odd number of consecutive frames centred on the output frame. Given in seconds,
it becomes ``round(window_s / median_dt)`` frames, ``median_dt`` being the median interval of
``t_s``, raised to the next odd number. On a track with dropped frames the window therefore keeps
its frame count and spans a little more time around a drop; the Savitzky–Golay fit then uses the
real timestamps of the frames in the window (below), so the drop does not distort the polynomial.

Savitzky–Golay on real timestamps
---------------------------------
For each frame a polynomial of degree ``polyorder`` is fitted by least squares to the frames of
its window, with the frames' times (relative to the centre frame) as abscissae, and evaluated at
the centre frame's time. Near the ends the window is shifted to stay inside the track and the
polynomial is evaluated at the edge frame's time. On evenly spaced timestamps this equals
``scipy.signal.savgol_filter(x, window, polyorder, axis=0, mode="interp")``, which is what
``movement.filtering.savgol_filter`` calls. A NaN anywhere in a window makes that output NaN.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from w2t_bkin.features.library._checks import (
    check_min_frames,
    check_positions,
    check_times,
    leading_median,
    out_dtype,
    resolve_window,
)
from w2t_bkin.features.library.errors import LibraryParameterError

__all__ = ["median_smooth", "savgol_smooth"]

# Frames per chunk: bounds the (chunk, window) weights and (chunk, series) temporaries.
_CHUNK_FRAMES = 1 << 12
# Largest window sorted by a comparison network (w rounds of w/2 compare-exchanges).
_NETWORK_MAX_WINDOW = 9


def _window_starts(n_frames: int, n_window: int) -> np.ndarray:
    """First frame of each frame's window, shifted inside the track at both ends."""
    half = n_window // 2
    starts: np.ndarray = np.clip(np.arange(n_frames) - half, 0, n_frames - n_window)
    return starts


def savgol_smooth(
    positions: np.ndarray,
    t_s: np.ndarray,
    *,
    window_s: float | None = None,
    window_frames: int | None = None,
    polyorder: int = 2,
) -> np.ndarray:
    """Savitzky–Golay smoothing along time on the real timestamps (see the module docstring).

    Parameters
    ----------
    positions
        ``(n_frames, ...)`` float32/float64, frames on axis 0 (pose positions
        ``(n_frames, n_individuals, n_keypoints, n_space)`` or any derived per-frame array).
    t_s
        ``(n_frames,) float64`` strictly increasing timestamps in seconds.
    window_s, window_frames
        The window in seconds or as an odd frame count; exactly one is given.
    polyorder
        Degree of the local polynomial, ``0 <= polyorder < window``.

    Returns
    -------
    np.ndarray
        Same shape as ``positions``; float32 for float32 input, else float64.
    """
    array = np.asarray(positions)
    if array.ndim == 4:
        array = check_positions(array)
    times = check_times(t_s, array.shape[0] if array.ndim else 0)
    if polyorder < 0:
        raise LibraryParameterError(
            f"savgol_smooth: polyorder must be >= 0; found {polyorder}", hint="e.g. polyorder=2"
        )
    n_window = resolve_window(
        times, window_s, window_frames, minimum=polyorder + 1, what="savgol_smooth"
    )
    check_min_frames(array.shape[0], n_window, f"savgol_smooth with a {n_window}-frame window")
    flat = array.reshape(array.shape[0], -1)
    n_frames, half = flat.shape[0], n_window // 2
    starts = _window_starts(n_frames, n_window)
    scale_s = float(np.median(np.diff(times)))  # keeps the normal equations well conditioned
    out = np.empty(flat.shape, dtype=out_dtype(array))
    # frames whose window is centred: out[i] = sum_j w[i, j] x[i - half + j], one shifted slice
    # of the track per window position (weights depend only on the timestamps)
    term = np.empty((_CHUNK_FRAMES, flat.shape[1]))
    for begin in range(half, n_frames - half, _CHUNK_FRAMES):
        end = min(begin + _CHUNK_FRAMES, n_frames - half)
        frames = np.arange(begin, end)
        weights = _chunk_weights(times, starts[frames], frames, n_window, polyorder, scale_s)
        total = weights[:, :1] * flat[begin - half : end - half]
        for j in range(1, n_window):
            shifted = flat[begin - half + j : end - half + j]
            total += np.multiply(weights[:, j : j + 1], shifted, out=term[: end - begin])
        out[begin:end] = total
    # the first and last half-windows: windows shifted inside the track
    edges = np.r_[np.arange(half), np.arange(n_frames - half, n_frames)]
    if edges.size:
        weights = _chunk_weights(times, starts[edges], edges, n_window, polyorder, scale_s)
        windows = sliding_window_view(flat, n_window, axis=0)  # (n - w + 1, n_series, w), a view
        out[edges] = np.einsum("nw,nsw->ns", weights, windows[starts[edges]].astype(np.float64))
    return out.reshape(array.shape)


def _chunk_weights(
    t_s: np.ndarray,
    starts: np.ndarray,
    frames: np.ndarray,
    n_window: int,
    polyorder: int,
    scale_s: float,
) -> np.ndarray:
    """Smoothing weights of a block of output frames: ``(len(frames), n_window) float64``.

    Row ``i`` is ``e0 (A^T A)^-1 A^T`` for the Vandermonde matrix ``A`` of the times of frames
    ``starts[i] .. starts[i] + n_window - 1`` relative to ``frames[i]`` (in units of
    ``scale_s``): the local least-squares polynomial's value at ``frames[i]``.
    """
    window_idx = starts[:, None] + np.arange(n_window)[None, :]
    tau = (t_s[window_idx] - t_s[frames][:, None]) / scale_s
    # powers tau^k by repeated products (float pow is slow); A^T A is the Hankel matrix of
    # the moments sum_w tau^(i + j)
    powers = np.empty((2 * polyorder + 1, *tau.shape))
    powers[0] = 1.0
    for k in range(1, 2 * polyorder + 1):
        np.multiply(powers[k - 1], tau, out=powers[k])
    moments = powers.sum(axis=2)  # (2p + 1, n)
    order = np.arange(polyorder + 1)
    normal = np.moveaxis(moments[order[:, None] + order[None, :]], -1, 0)  # (n, p + 1, p + 1)
    rhs = np.zeros((len(frames), polyorder + 1, 1))
    rhs[:, 0, 0] = 1.0
    coef = np.linalg.solve(normal, rhs)[:, :, 0]  # (n, p + 1)
    weights: np.ndarray = np.einsum("in,inw->nw", coef.T, powers[: polyorder + 1])
    return weights


def median_smooth(
    positions: np.ndarray,
    t_s: np.ndarray,
    *,
    window_s: float | None = None,
    window_frames: int | None = None,
    min_valid_frames: int | None = None,
) -> np.ndarray:
    """Running median along time over a centred window of frames (see the module docstring).

    The track is extended at both ends by reflection (``x[1], x[2], ...`` mirrored around the
    first frame, as ``numpy.pad(mode="reflect")``), so the edge frames get full windows; this is
    ``movement.filtering.rolling_filter(statistic="median")``.

    Parameters
    ----------
    positions
        ``(n_frames, ...)`` float32/float64, frames on axis 0; NaN where missing.
    t_s
        ``(n_frames,) float64`` strictly increasing timestamps in seconds.
    window_s, window_frames
        The window in seconds or as an odd frame count (>= 3); exactly one is given.
    min_valid_frames
        Fewest non-NaN values a window needs for a median over them; ``None`` requires the
        whole window (a single NaN makes the output NaN, movement's default).

    Returns
    -------
    np.ndarray
        Same shape as ``positions``; float32 for float32 input, else float64.
    """
    array = np.asarray(positions)
    if array.ndim == 4:
        array = check_positions(array)
    times = check_times(t_s, array.shape[0] if array.ndim else 0)
    n_window = resolve_window(times, window_s, window_frames, minimum=3, what="median_smooth")
    half = n_window // 2
    check_min_frames(array.shape[0], half + 1, f"median_smooth with a {n_window}-frame window")
    need = n_window if min_valid_frames is None else int(min_valid_frames)
    if not 1 <= need <= n_window:
        raise LibraryParameterError(
            f"median_smooth: min_valid_frames must be in 1..{n_window}; found {min_valid_frames}",
            hint="None requires the whole window to be valid",
        )
    flat = array.reshape(array.shape[0], -1)
    padded = np.pad(flat, ((half, half), (0, 0)), mode="reflect")
    out = np.empty(flat.shape, dtype=out_dtype(array))
    for begin in range(0, flat.shape[0], _CHUNK_FRAMES):
        end = min(begin + _CHUNK_FRAMES, flat.shape[0])
        out[begin:end] = _window_medians(padded[begin : end + 2 * half], n_window, need)
    return out.reshape(array.shape)


def _window_medians(padded: np.ndarray, n_window: int, need: int) -> np.ndarray:
    """Medians of the ``n_window`` windows of a padded chunk: ``(len - n_window + 1, n_series)``.

    NaN is replaced by +inf so that it sorts last; the median of the ``n_valid`` leading values
    is taken where at least ``need`` are valid. Small windows go through an odd-even
    transposition network (``np.minimum``/``np.maximum`` over whole ``(chunk, n_series)``
    planes, faster than sorting millions of tiny rows; its cost grows with the square of the
    window), larger ones sort contiguous rows.
    """
    n_rows, half = padded.shape[0] - n_window + 1, n_window // 2
    if n_window <= _NETWORK_MAX_WINDOW:
        block = np.stack([padded[j : j + n_rows] for j in range(n_window)]).astype(np.float64)
        axis = 0  # (w, chunk, n_series)
    else:
        block = sliding_window_view(padded, n_window, axis=0).astype(np.float64)
        axis = 2  # (chunk, n_series, w), contiguous rows
    missing = np.isnan(block)
    n_valid = n_window - np.count_nonzero(missing, axis=axis)
    np.copyto(block, np.inf, where=missing)
    if axis == 0:
        low = np.empty(block.shape[1:])
        for round_ in range(n_window):
            for i in range(round_ % 2, n_window - 1, 2):
                np.minimum(block[i], block[i + 1], out=low)
                np.maximum(block[i], block[i + 1], out=block[i + 1])
                block[i] = low
    else:
        block.sort(axis=2)
    rows = np.moveaxis(block, 0, -1) if axis == 0 else block
    value = rows[..., half].copy() if need == n_window else leading_median(rows, n_valid)
    value[n_valid < need] = np.nan
    result: np.ndarray = value
    return result
