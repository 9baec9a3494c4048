"""Joint angles of keypoint triplets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from w2t_bkin.analysis.errors import AnalysisError

__all__ = ["check_triplets", "joint_angles"]


def check_triplets(triplets: Sequence[Sequence[int]], n_joints: int) -> np.ndarray:
    """Validate keypoint triplets ``(a, b, c)`` against a joint count.

    Returns
    -------
    np.ndarray
        ``(n_triplets, 3) int64``.

    Raises
    ------
    AnalysisError
        A triplet that is not three distinct joint indices in ``0..n_joints - 1``.
    """
    out = np.empty((len(triplets), 3), dtype=np.int64)
    for k, triplet in enumerate(triplets):
        values = tuple(int(v) for v in triplet)
        if len(values) != 3 or len(set(values)) != 3 or not all(0 <= v < n_joints for v in values):
            raise AnalysisError(
                f"joint triplet {k} {tuple(triplet)!r}: expected three different joint indices "
                f"in 0..{n_joints - 1}",
                hint="name the joints a, b, c with the angle at b (e.g. shoulder, elbow, wrist)",
            )
        out[k] = values
    return out


def joint_angles(positions: np.ndarray, triplets: Sequence[Sequence[int]]) -> np.ndarray:
    """The angle at joint ``b`` between the segments ``b→a`` and ``b→c``, per frame.

    Computed as ``atan2(|u × v|, u · v)``, which stays accurate near 0 and π where ``arccos``
    of a normalised dot product loses half its digits.

    Parameters
    ----------
    positions
        ``(n_frames, n_joints, n_space)`` with ``n_space`` 2 or 3; NaN where not detected.
    triplets
        ``(a, b, c)`` joint indices, the angle at ``b``.

    Returns
    -------
    np.ndarray
        ``(n_frames, n_triplets) float64`` radians in ``[0, π]``; NaN where one of the three
        joints was not detected or a segment has zero length (the angle is undefined).
    """
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[2] not in (2, 3):
        raise AnalysisError(
            f"joint angles: expected positions of shape (n_frames, n_joints, 2 or 3), found "
            f"{pos.shape}",
            hint="select one individual of (n_frames, n_individuals, n_joints, n_space) first",
        )
    idx = check_triplets(triplets, pos.shape[1])
    u = pos[:, idx[:, 0]] - pos[:, idx[:, 1]]
    v = pos[:, idx[:, 2]] - pos[:, idx[:, 1]]
    dot = np.einsum("fts,fts->ft", u, v)
    if pos.shape[2] == 2:
        cross = np.abs(u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0])
    else:
        cross = np.linalg.norm(np.cross(u, v), axis=-1)
    angles = np.arctan2(cross, dot)
    degenerate = (np.linalg.norm(u, axis=-1) == 0) | (np.linalg.norm(v, axis=-1) == 0)
    angles[degenerate] = np.nan
    return angles
