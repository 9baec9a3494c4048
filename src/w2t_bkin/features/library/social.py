"""Relations between individuals: the nearest neighbour of each animal in each frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from w2t_bkin.features.library._checks import KeypointSelector, check_positions, keypoint_centroid
from w2t_bkin.features.library.errors import TrackDataError

__all__ = ["NearestNeighbours", "nearest_neighbours"]

# Values per chunk of the dense (chunk, n_ind, n_ind, n_space) offset block (32 MiB of float64).
_CHUNK_VALUES = 1 << 22


@dataclass(frozen=True)
class NearestNeighbours:
    """The nearest other individual of each individual in each frame.

    Attributes
    ----------
    index
        ``(n_frames, n_individuals) int64`` index of the nearest other individual; -1 where the
        individual or every other one is missing. Ties go to the lowest index.
    distance
        ``(n_frames, n_individuals) float64`` distance to it in position units; NaN where
        ``index`` is -1.
    delta
        ``(n_frames, n_individuals, n_space) float64`` vector from the individual to its nearest
        neighbour (neighbour minus self) in image axes; NaN where ``index`` is -1.
    delta_ego
        ``(n_frames, n_individuals, 2) float64`` the same vector in the individual's body frame
        (heading along +x, see :func:`w2t_bkin.features.library.geometry.egocentric`); present
        only when a heading was given, else an empty ``(0, n_individuals, 2)`` array.
    """

    index: np.ndarray
    distance: np.ndarray
    delta: np.ndarray
    delta_ego: np.ndarray


def nearest_neighbours(
    positions: np.ndarray,
    keypoint: KeypointSelector,
    heading_rad: np.ndarray | None = None,
) -> NearestNeighbours:
    """Nearest neighbour of every individual, per frame, from one reference point per animal.

    A dense ``n_individuals x n_individuals`` distance block is computed per frame, vectorised
    over frames in chunks: exact, and fast for groups up to a few dozen animals.

    Parameters
    ----------
    positions
        ``(n_frames, n_individuals, n_keypoints, n_space)``, ``n_individuals >= 2``.
    keypoint
        Reference keypoint index, or indices whose centroid is used (e.g. all body points).
    heading_rad
        ``(n_frames, n_individuals)`` headings; when given, ``delta_ego`` is filled (2-D only).

    Returns
    -------
    NearestNeighbours
        Index, distance and offset of each individual's nearest neighbour.
    """
    array = check_positions(positions)
    n_frames, n_ind = array.shape[:2]
    if n_ind < 2:
        raise TrackDataError(
            f"nearest_neighbours needs at least 2 individuals; found {n_ind}",
            hint="this feature applies to multi-animal tracks",
        )
    centre = keypoint_centroid(array, keypoint, "keypoint").astype(np.float64)  # (n, ind, space)
    index = np.full((n_frames, n_ind), -1, dtype=np.int64)
    distance = np.full((n_frames, n_ind), np.nan)
    self_mask = np.eye(n_ind, dtype=bool)
    chunk = max(1, _CHUNK_VALUES // (n_ind * n_ind * array.shape[-1]))
    for start in range(0, n_frames, chunk):
        block = centre[start : start + chunk]
        offset = block[:, None, :, :] - block[:, :, None, :]  # [f, i, j] = x_j - x_i
        dist = np.sqrt(np.einsum("fijs,fijs->fij", offset, offset))
        dist[:, self_mask] = np.inf
        dist[np.isnan(dist)] = np.inf
        nearest = np.argmin(dist, axis=2)  # first minimum: ties go to the lowest index
        best = np.take_along_axis(dist, nearest[..., None], axis=2)[..., 0]
        found = np.isfinite(best)
        index[start : start + len(block)] = np.where(found, nearest, -1)
        distance[start : start + len(block)] = np.where(found, best, np.nan)
    found_all = index >= 0
    neighbour = np.take_along_axis(centre, np.clip(index, 0, None)[..., None], axis=1)
    delta = np.where(found_all[..., None], neighbour - centre, np.nan)
    if heading_rad is None:
        delta_ego = np.empty((0, n_ind, 2))
    else:
        angle = np.asarray(heading_rad, dtype=np.float64)
        if angle.shape != (n_frames, n_ind) or array.shape[-1] != 2:
            raise TrackDataError(
                f"heading_rad must have shape {(n_frames, n_ind)} with 2-D positions; found "
                f"{angle.shape} with {array.shape[-1]}-D positions",
                hint="compute it with heading(positions, rear, front)",
            )
        cos, sin = np.cos(angle), np.sin(angle)
        dx, dy = delta[..., 0], delta[..., 1]
        delta_ego = np.stack([cos * dx + sin * dy, -sin * dx + cos * dy], axis=-1)
    return NearestNeighbours(index=index, distance=distance, delta=delta, delta_ego=delta_ego)
