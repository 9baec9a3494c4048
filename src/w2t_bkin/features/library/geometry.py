"""Body geometry per frame: joint angles, keypoint distances, body scale, egocentric coordinates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from w2t_bkin.features.library._checks import (
    KeypointSelector,
    check_planar,
    check_positions,
    keypoint_centroid,
    keypoint_list,
    leading_median,
)
from w2t_bkin.features.library.errors import LibraryParameterError, TrackDataError

# Frames per chunk of the (chunk, n_individuals, n_pairs) distance block in body_scale.
_CHUNK_FRAMES = 1 << 12

__all__ = [
    "body_scale",
    "egocentric",
    "joint_angles",
    "keypoint_pairs",
    "normalize_body_scale",
    "pairwise_distances",
]


def joint_angles(
    positions: np.ndarray,
    triplets: Sequence[tuple[int, int, int]],
    *,
    signed: bool = False,
) -> np.ndarray:
    """Angle at the middle keypoint of each ``(a, b, c)`` triplet, between ``b->a`` and ``b->c``.

    Parameters
    ----------
    positions
        ``(n_frames, n_individuals, n_keypoints, n_space)``.
    triplets
        ``(a, b, c)`` keypoint indices; the angle is measured at ``b``.
    signed
        ``False``: the unsigned angle in ``[0, pi]`` (2-D or 3-D). ``True`` (2-D only): the
        signed angle from ``b->a`` to ``b->c``, ``arctan2(cross, dot)`` in ``[-pi, pi]``, as
        ``movement.utils.vector.compute_signed_angle_2d(u=b->a, v=b->c)``; positive is
        counter-clockwise in x-right/y-up axes, so clockwise on an image (y down).

    Returns
    -------
    np.ndarray
        ``(n_frames, n_individuals, n_triplets) float64`` radians; NaN where a point is missing
        or a vector has zero length.
    """
    array = check_positions(positions)
    if signed:
        check_planar(array, "a signed joint angle")
    rows = [tuple(triplet) for triplet in triplets]
    if not rows or any(len(row) != 3 for row in rows):
        raise LibraryParameterError(
            f"triplets must be a non-empty list of (a, b, c) keypoint indices; found {rows!r}",
            hint="e.g. triplets=[(0, 1, 2)] for the angle at keypoint 1",
        )
    n_kp = array.shape[2]
    index = np.array([keypoint_list(list(row), n_kp, "triplet") for row in rows], dtype=np.int64)
    u = (array[:, :, index[:, 0]] - array[:, :, index[:, 1]]).astype(np.float64)
    v = (array[:, :, index[:, 2]] - array[:, :, index[:, 1]]).astype(np.float64)
    dot = np.einsum("...i,...i->...", u, v)
    if signed:
        cross = u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
    else:
        cross = (
            np.linalg.norm(np.cross(u, v), axis=-1)
            if array.shape[-1] == 3
            else np.abs(u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0])
        )
    angle: np.ndarray = np.arctan2(cross, dot)
    degenerate = (np.einsum("...i,...i->...", u, u) == 0) | (np.einsum("...i,...i->...", v, v) == 0)
    angle[degenerate] = np.nan
    return angle


def keypoint_pairs(n_keypoints: int) -> np.ndarray:
    """Every unordered keypoint pair ``(i, j)``, ``i < j``, in ``np.triu_indices`` order.

    Returns ``(n_keypoints * (n_keypoints - 1) / 2, 2) int64``; the order is that of
    ``scipy.spatial.distance.pdist``.
    """
    first, second = np.triu_indices(n_keypoints, k=1)
    return np.stack([first, second], axis=1).astype(np.int64)


def pairwise_distances(
    positions: np.ndarray, pairs: Sequence[tuple[int, int]] | np.ndarray | None = None
) -> np.ndarray:
    """Euclidean distances between keypoints of the same individual.

    Parameters
    ----------
    positions
        ``(n_frames, n_individuals, n_keypoints, n_space)``.
    pairs
        ``(n_pairs, 2)`` keypoint indices; ``None`` takes :func:`keypoint_pairs` (all pairs).

    Returns
    -------
    np.ndarray
        ``(n_frames, n_individuals, n_pairs) float64`` in position units; NaN where either
        point is missing.
    """
    array = check_positions(positions)
    n_kp = array.shape[2]
    index = keypoint_pairs(n_kp) if pairs is None else np.asarray(pairs, dtype=np.int64)
    if index.ndim != 2 or index.shape[1] != 2:
        raise LibraryParameterError(
            f"pairs must have shape (n_pairs, 2); found {index.shape}",
            hint="e.g. pairs=[(0, 1), (0, 2)]",
        )
    keypoint_list(index.ravel().tolist() or [0], n_kp, "pairs")
    delta = (array[:, :, index[:, 0]] - array[:, :, index[:, 1]]).astype(np.float64)
    result: np.ndarray = np.sqrt(np.einsum("...i,...i->...", delta, delta))
    return result


def body_scale(positions: np.ndarray) -> np.ndarray:
    """Median distance over all keypoint pairs of an individual, per frame.

    A robust body size that needs no named keypoints (mosaic's ``body-scale``): missing points
    are left out of the median.

    Parameters
    ----------
    positions
        ``(n_frames, n_individuals, n_keypoints, n_space)`` with ``n_keypoints >= 2``.

    Returns
    -------
    np.ndarray
        ``(n_frames, n_individuals) float64``; NaN where fewer than two points are present.
    """
    array = check_positions(positions)
    if array.shape[2] < 2:
        raise TrackDataError(
            f"body_scale needs at least 2 keypoints; found {array.shape[2]}",
            hint="body scale is a distance between keypoints",
        )
    result = np.empty(array.shape[:2])
    for start in range(0, array.shape[0], _CHUNK_FRAMES):  # (chunk, ind, n_pairs) at a time
        distances = pairwise_distances(array[start : start + _CHUNK_FRAMES])
        n_valid = np.count_nonzero(~np.isnan(distances), axis=-1)
        distances.sort(axis=-1)  # NaN sort last
        result[start : start + _CHUNK_FRAMES] = leading_median(distances, n_valid)
    return result


def normalize_body_scale(
    positions: np.ndarray,
    origin: KeypointSelector | None = None,
    *,
    per: Literal["track", "frame"] = "track",
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """Express positions in body-size units, optionally relative to an origin keypoint.

    Parameters
    ----------
    positions
        ``(n_frames, n_individuals, n_keypoints, n_space)``.
    origin
        Keypoint index (or indices, centroid) subtracted first; ``None`` keeps the image origin.
    per
        ``"track"``: one scale per individual, the median over frames of :func:`body_scale`
        (sizes stay comparable across frames); ``"frame"``: each frame by its own body scale.
    scale
        A precomputed scale, ``(n_individuals,)`` for ``per="track"`` or
        ``(n_frames, n_individuals)`` for ``per="frame"``; ``None`` computes it.

    Returns
    -------
    np.ndarray
        ``(n_frames, n_individuals, n_keypoints, n_space) float64``; NaN where the scale is
        unknown or zero.
    """
    array = check_positions(positions).astype(np.float64)
    if per not in ("track", "frame"):
        raise LibraryParameterError(
            f"per must be 'track' or 'frame'; found {per!r}", hint="per='track' is the default"
        )
    if scale is None:
        per_frame = body_scale(array)
        scale = per_frame if per == "frame" else _nanmedian_or_nan(per_frame)
    factor = np.asarray(scale, dtype=np.float64)
    expected = array.shape[:2] if per == "frame" else array.shape[1:2]
    if factor.shape != expected:
        raise TrackDataError(
            f"scale must have shape {expected} for per={per!r}; found {factor.shape}",
            hint="pass body_scale(positions) (per='frame') or its median over frames",
        )
    factor = np.where(factor > 0, factor, np.nan)
    if origin is not None:
        array = array - keypoint_centroid(array, origin, "origin")[:, :, None, :]
    divisor = factor[:, :, None, None] if per == "frame" else factor[None, :, None, None]
    result: np.ndarray = array / divisor
    return result


def _nanmedian_or_nan(values: np.ndarray) -> np.ndarray:
    """Median over frames (axis 0) ignoring NaN; NaN for an individual never seen."""
    result = np.full(values.shape[1:], np.nan)
    seen = ~np.all(np.isnan(values), axis=0)
    result[seen] = np.nanmedian(values[:, seen], axis=0)
    return result


def egocentric(
    positions: np.ndarray,
    origin: KeypointSelector,
    heading_rad: np.ndarray,
) -> np.ndarray:
    """Rotate and translate each individual's points into its own body frame.

    The origin keypoint moves to ``(0, 0)`` and the heading direction to ``+x``; in image
    coordinates (y down) ``+y`` then points to the animal's right.

    Parameters
    ----------
    positions
        ``(n_frames, n_individuals, n_keypoints, 2)``; 2-D only.
    origin
        Keypoint index, or indices whose centroid is the origin (e.g. the body centre).
    heading_rad
        ``(n_frames, n_individuals)`` radians, e.g. from
        :func:`w2t_bkin.features.library.motion.heading`.

    Returns
    -------
    np.ndarray
        ``(n_frames, n_individuals, n_keypoints, 2) float64``; NaN where the origin or heading is
        missing.
    """
    array = check_positions(positions)
    check_planar(array, "egocentric alignment")
    angle = np.asarray(heading_rad, dtype=np.float64)
    if angle.shape != array.shape[:2]:
        raise TrackDataError(
            f"heading_rad must have shape {array.shape[:2]} (n_frames, n_individuals); found "
            f"{angle.shape}",
            hint="compute it with heading(positions, rear, front)",
        )
    centred = (array - keypoint_centroid(array, origin, "origin")[:, :, None, :]).astype(np.float64)
    cos, sin = np.cos(angle)[:, :, None], np.sin(angle)[:, :, None]
    # rotation by -heading: the heading vector (cos, sin) maps to (1, 0)
    x, y = centred[..., 0], centred[..., 1]
    return np.stack([cos * x + sin * y, -sin * x + cos * y], axis=-1)
