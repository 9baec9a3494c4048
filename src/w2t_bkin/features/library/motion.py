"""Time derivatives of pose tracks on their real per-frame timestamps.

Every derivative is ``np.gradient`` along the frame axis with the timestamps as coordinates
(second-order central differences inside, first-order one-sided differences at both ends), so a
dropped frame (a longer interval) does not bend the result the way a derivative on frame index
times a nominal rate does. The arithmetic is float64 in chunks of frames; results are float32 for
float32 input and float64 otherwise, which keeps memory near the size of the outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from w2t_bkin.features.library._checks import (
    KeypointSelector,
    check_min_frames,
    check_planar,
    check_positions,
    check_times,
    keypoint_centroid,
    out_dtype,
)

__all__ = [
    "Kinematics",
    "acceleration",
    "angular_velocity",
    "heading",
    "kinematics",
    "speed",
    "time_gradient",
    "velocity",
    "wrap_angle",
]

# Values per block: three float64 buffers of 128 KiB each stay in a core's cache.
_BLOCK_VALUES = 1 << 14


@dataclass(frozen=True)
class Kinematics:
    """Velocity, speed and acceleration of every keypoint.

    Attributes
    ----------
    velocity
        ``(n_frames, n_individuals, n_keypoints, n_space)`` units/s.
    speed
        ``(n_frames, n_individuals, n_keypoints)`` units/s, the Euclidean norm of ``velocity``.
    acceleration
        ``(n_frames, n_individuals, n_keypoints, n_space)`` units/s², the time derivative of
        ``velocity``.
    """

    velocity: np.ndarray
    speed: np.ndarray
    acceleration: np.ndarray


def _gradient_weights(t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights of ``np.gradient`` on non-uniform coordinates for the interior frames.

    Returns ``(a, b, c)``, each ``(n_frames - 2,) float64``, with
    ``df[i] = a f[i-1] + b f[i] + c f[i+1]`` for ``i = 1 .. n_frames - 2`` (NumPy's formula).
    """
    dx1 = t_s[1:-1] - t_s[:-2]
    dx2 = t_s[2:] - t_s[1:-1]
    a = -dx2 / (dx1 * (dx1 + dx2))
    b = (dx2 - dx1) / (dx1 * dx2)
    c = dx1 / (dx2 * (dx1 + dx2))
    return a, b, c


@dataclass(frozen=True)
class _SlopeWeights:
    """``np.gradient``'s formula rewritten on the slopes ``s[k] = (f[k+1] - f[k]) / dx[k]``.

    ``df[i] = w_prev[i-1] s[i-1] + w_next[i-1] s[i]`` inside (the two adjacent slopes weighted
    by the opposite interval, ``dx[i] / (dx[i-1] + dx[i])`` and ``dx[i-1] / (dx[i-1] + dx[i])``;
    algebraically ``a f[i-1] + b f[i] + c f[i+1]``), ``df[0] = s[0]``, ``df[-1] = s[-1]``.
    """

    inv_dx: np.ndarray  # (n_frames - 1,)
    w_prev: np.ndarray  # (n_frames - 2,)
    w_next: np.ndarray  # (n_frames - 2,)

    @classmethod
    def from_times(cls, t_s: np.ndarray) -> _SlopeWeights:
        dx = np.diff(t_s)
        span = dx[:-1] + dx[1:]
        return cls(inv_dx=1.0 / dx, w_prev=dx[1:] / span, w_next=dx[:-1] / span)


def _gradient_into(
    values: np.ndarray,
    weights: _SlopeWeights,
    out: np.ndarray,
    speed_out: np.ndarray | None = None,
) -> None:
    """Write the time derivative of ``values`` into ``out`` (and its norm into ``speed_out``).

    ``values`` and ``out`` are ``(n_frames, n_series)``; ``speed_out`` is
    ``(n_frames, n_series // n_space)``, the norm over consecutive groups of ``n_space`` series.
    Blocks of a few hundred frames keep every float64 temporary in cache, and the buffers are
    reused, so the cost is a few passes over cache instead of several over main memory.
    """
    n_frames, n_series = values.shape
    block = max(16, _BLOCK_VALUES // max(n_series, 1))
    slope = np.empty((block + 1, n_series))
    first = np.empty((block, n_series))
    second = np.empty((block, n_series))
    n_space = 1 if speed_out is None else n_series // speed_out.shape[1]
    for start in range(1, n_frames - 1, block):
        stop = min(start + block, n_frames - 1)
        rows = stop - start
        s = slope[: rows + 1]
        np.subtract(values[start : stop + 1], values[start - 1 : stop], out=s, dtype=np.float64)
        np.multiply(s, weights.inv_dx[start - 1 : stop, None], out=s)
        d = np.multiply(s[:-1], weights.w_prev[start - 1 : stop - 1, None], out=first[:rows])
        np.multiply(s[1:], weights.w_next[start - 1 : stop - 1, None], out=second[:rows])
        np.add(d, second[:rows], out=d)
        out[start:stop] = d
        if speed_out is not None:
            np.multiply(d, d, out=d)
            speed_out[start:stop] = np.sqrt(d.reshape(rows, -1, n_space).sum(axis=-1))
    for edge, (lo, hi) in ((0, (0, 1)), (n_frames - 1, (n_frames - 2, n_frames - 1))):
        edge_slope = (values[hi].astype(np.float64) - values[lo]) * weights.inv_dx[lo]
        out[edge] = edge_slope
        if speed_out is not None:
            speed_out[edge] = np.sqrt((edge_slope.reshape(-1, n_space) ** 2).sum(axis=-1))


def time_gradient(values: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """Derivative of any per-frame array with respect to time.

    Parameters
    ----------
    values
        ``(n_frames, ...)`` floating array, frames on axis 0; NaN marks missing values (the
        derivative is NaN at their neighbours).
    t_s
        ``(n_frames,) float64`` strictly increasing timestamps in seconds.

    Returns
    -------
    np.ndarray
        Same shape as ``values``, units per second; float32 for float32 input, else float64.
        Equals ``np.gradient(values, t_s, axis=0)`` (computed in float64).
    """
    array = np.asarray(values)
    if array.ndim == 0:
        check_min_frames(0, 2, "a time derivative")
    times = check_times(t_s, array.shape[0])
    check_min_frames(array.shape[0], 2, "a time derivative")
    out = np.empty(array.shape, dtype=out_dtype(array))
    flat = array.reshape(array.shape[0], -1)
    _gradient_into(flat, _SlopeWeights.from_times(times), out.reshape(flat.shape))
    return out


def velocity(positions: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """Velocity of every keypoint.

    Parameters
    ----------
    positions
        ``(n_frames, n_individuals, n_keypoints, n_space)`` float32/float64; NaN where missing.
    t_s
        ``(n_frames,) float64`` real per-frame timestamps in seconds, strictly increasing.

    Returns
    -------
    np.ndarray
        ``(n_frames, n_individuals, n_keypoints, n_space)`` units/s (dtype as
        :func:`time_gradient`).
    """
    return time_gradient(check_positions(positions), t_s)


def speed(positions: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """Speed (norm of the velocity) of every keypoint: ``(n_frames, n_individuals, n_keypoints)``.

    Parameters are those of :func:`velocity`.
    """
    return kinematics(positions, t_s, with_acceleration=False).speed


def acceleration(positions: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """Acceleration (time derivative of :func:`velocity`) of every keypoint.

    Returns ``(n_frames, n_individuals, n_keypoints, n_space)`` units/s²; parameters are those
    of :func:`velocity`.
    """
    return time_gradient(velocity(positions, t_s), t_s)


def kinematics(
    positions: np.ndarray, t_s: np.ndarray, *, with_acceleration: bool = True
) -> Kinematics:
    """Velocity, speed and acceleration in one pass, sharing the gradient weights.

    Parameters
    ----------
    positions
        ``(n_frames, n_individuals, n_keypoints, n_space)`` float32/float64; NaN where missing.
    t_s
        ``(n_frames,) float64`` real per-frame timestamps in seconds, strictly increasing.
    with_acceleration
        ``False`` leaves ``acceleration`` as an empty ``(0, n_ind, n_kp, n_space)`` array.

    Returns
    -------
    Kinematics
        The same values as :func:`velocity`, :func:`speed` and :func:`acceleration`.
    """
    array = check_positions(positions)
    times = check_times(t_s, array.shape[0])
    check_min_frames(array.shape[0], 2, "kinematics")
    weights = _SlopeWeights.from_times(times)
    dtype = out_dtype(array)
    n_frames = array.shape[0]
    vel = np.empty(array.shape, dtype=dtype)
    spd = np.empty(array.shape[:-1], dtype=dtype)
    flat_vel = vel.reshape(n_frames, -1)
    _gradient_into(array.reshape(n_frames, -1), weights, flat_vel, spd.reshape(n_frames, -1))
    if with_acceleration:
        acc = np.empty(array.shape, dtype=dtype)
        _gradient_into(flat_vel, weights, acc.reshape(flat_vel.shape))
    else:
        acc = np.empty((0, *array.shape[1:]), dtype=dtype)
    return Kinematics(velocity=vel, speed=spd, acceleration=acc)


def wrap_angle(angle_rad: np.ndarray) -> np.ndarray:
    """Wrap angles to ``[-pi, pi)``; same shape, float64 (NaN stays NaN)."""
    result: np.ndarray = np.mod(np.asarray(angle_rad, dtype=np.float64) + np.pi, 2 * np.pi) - np.pi
    return result


def heading(positions: np.ndarray, rear: KeypointSelector, front: KeypointSelector) -> np.ndarray:
    """Direction of the body axis from the rear keypoint(s) to the front keypoint(s).

    Parameters
    ----------
    positions
        ``(n_frames, n_individuals, n_keypoints, 2)``; 2-D only.
    rear, front
        Keypoint index, or several indices whose centroid is used (e.g. ``front=(ear_l, ear_r)``).

    Returns
    -------
    np.ndarray
        ``(n_frames, n_individuals) float64`` radians in ``(-pi, pi]``,
        ``arctan2(dy, dx)`` of ``front - rear`` in image coordinates: 0 points along +x and,
        with y pointing down in images, positive angles turn clockwise on screen. NaN when a
        selected keypoint is missing.
    """
    array = check_positions(positions)
    check_planar(array, "heading")
    axis = keypoint_centroid(array, front, "front") - keypoint_centroid(array, rear, "rear")
    axis = axis.astype(np.float64)
    result: np.ndarray = np.arctan2(axis[..., 1], axis[..., 0])
    return result


def angular_velocity(angle_rad: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """Time derivative of an angle with each frame-to-frame change wrapped to ``[-pi, pi)``.

    ``np.gradient`` weights on the timestamps are applied to wrapped differences
    (``a f[i-1] + b f[i] + c f[i+1] = -a d[i-1] + c d[i]`` with ``d[i] = wrap(f[i+1] - f[i])``),
    so a heading crossing ±pi does not produce a spike of ±2pi/dt, and a missing angle only
    blanks its neighbours (``np.unwrap`` would carry one NaN to the end of the track).

    Parameters
    ----------
    angle_rad
        ``(n_frames, ...)`` radians (e.g. :func:`heading`); NaN where unknown.
    t_s
        ``(n_frames,) float64`` strictly increasing timestamps in seconds.

    Returns
    -------
    np.ndarray
        ``(n_frames, ...) float64`` rad/s.
    """
    angle = np.asarray(angle_rad, dtype=np.float64)
    times = check_times(t_s, angle.shape[0] if angle.ndim else 0)
    check_min_frames(angle.shape[0], 2, "angular velocity")
    step = wrap_angle(np.diff(angle, axis=0))  # (n_frames - 1, ...)
    trailing = (slice(None),) + (None,) * (angle.ndim - 1)
    out = np.empty(angle.shape, dtype=np.float64)
    if angle.shape[0] > 2:
        a, _, c = _gradient_weights(times)
        out[1:-1] = -a[trailing] * step[:-1] + c[trailing] * step[1:]
    out[0] = step[0] / (times[1] - times[0])
    out[-1] = step[-1] / (times[-1] - times[-2])
    return out
