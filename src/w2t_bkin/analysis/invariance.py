"""Invariances of pose sequences: root-relative, body-length scale, Procrustes after DTW.

Each is applied only on request. Procrustes (rotation, optional scale, translation) needs
frame correspondences; two recordings of a movement have none until DTW has aligned them in
time, so :func:`dtw_procrustes` aligns in time first, fits the rigid transform on the matched
frame pairs, and repeats until the path stops changing (aligning in space before time, as the
system we replace did, forces equal frame counts and pairs frames that do not correspond).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from w2t_bkin.analysis.dtw import DTWResult, dtw
from w2t_bkin.analysis.errors import AnalysisError

__all__ = [
    "ProcrustesDTWResult",
    "RigidTransform",
    "dtw_procrustes",
    "fit_procrustes",
    "root_relative",
    "scale_by_length",
]


def _poses(positions: np.ndarray, what: str) -> np.ndarray:
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[2] not in (2, 3):
        raise AnalysisError(
            f"{what}: expected positions of shape (n_frames, n_joints, 2 or 3), found {pos.shape}",
            hint="select one individual of (n_frames, n_individuals, n_joints, n_space) first",
        )
    return pos


def _joint(index: int, n_joints: int, what: str) -> int:
    if not 0 <= int(index) < n_joints:
        raise AnalysisError(
            f"{what}: joint index {index} does not exist; expected 0..{n_joints - 1}",
            hint="name a joint of the pose model",
        )
    return int(index)


def root_relative(positions: np.ndarray, root: int | Sequence[int]) -> np.ndarray:
    """Positions relative to a root joint (or the mean of several, e.g. both hips).

    Parameters
    ----------
    positions
        ``(n_frames, n_joints, n_space)``; NaN where not detected.
    root
        Joint index, or indices whose mean is the root.

    Returns
    -------
    np.ndarray
        ``(n_frames, n_joints, n_space) float64``; a frame whose root was not detected is all
        NaN (it has no reference point; DTW leaves it out).
    """
    pos = _poses(positions, "root-relative positions")
    roots = [root] if isinstance(root, int | np.integer) else list(root)
    if not roots:
        raise AnalysisError("root-relative positions: expected at least one root joint")
    idx = [_joint(r, pos.shape[1], "root-relative positions") for r in roots]
    origin = pos[:, idx].mean(axis=1, keepdims=True)
    return pos - origin


def scale_by_length(positions: np.ndarray, joints: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Positions divided by a body length: the median distance between two joints.

    The median over frames is robust to a few mis-detected frames; frames where either joint is
    missing are ignored.

    Returns
    -------
    scaled, length
        ``(n_frames, n_joints, n_space) float64`` and the length in input units.

    Raises
    ------
    AnalysisError
        Unknown joints, or no frame with both joints detected at distinct positions.
    """
    pos = _poses(positions, "body-length scale")
    i, j = (_joint(k, pos.shape[1], "body-length scale") for k in joints)
    if i == j:
        raise AnalysisError(
            f"body-length scale: joints {i} and {j} are the same; expected two different joints"
        )
    lengths = np.linalg.norm(pos[:, j] - pos[:, i], axis=-1)
    lengths = lengths[np.isfinite(lengths)]
    length = float(np.median(lengths)) if lengths.size else 0.0
    if not length > 0:
        raise AnalysisError(
            f"body-length scale: joints {i} and {j} are never both detected at distinct "
            "positions, so there is no length to scale by",
            hint="choose two joints that are tracked in most frames (e.g. neck and hip)",
        )
    return pos / length, length


@dataclass(frozen=True, eq=False)
class RigidTransform:
    """``y ≈ scale · x @ rotation.T + translation`` for points ``x`` of shape ``(..., n_space)``.

    Attributes
    ----------
    rotation
        ``(n_space, n_space) float64`` proper rotation (determinant +1).
    scale
        Isotropic scale (1.0 unless fitted).
    translation
        ``(n_space,) float64``.
    """

    rotation: np.ndarray
    scale: float
    translation: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform ``(..., n_space)`` points (NaN stays NaN)."""
        return self.scale * (np.asarray(points, float) @ self.rotation.T) + self.translation

    @property
    def rotation_deg(self) -> float:
        """Angle of the rotation in degrees."""
        n = self.rotation.shape[0]
        cos = (np.trace(self.rotation) - 1.0) / 2.0 if n == 3 else self.rotation[0, 0]
        return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def fit_procrustes(
    source: np.ndarray, target: np.ndarray, *, scale: bool = False
) -> RigidTransform:
    """Least-squares rotation (+ scale) and translation taking ``source`` onto ``target``.

    Kabsch/Umeyama with the reflection removed. Points NaN in either array are left out.

    Parameters
    ----------
    source, target
        ``(..., n_space)`` corresponding points (same shape).
    scale
        Also fit an isotropic scale.

    Raises
    ------
    AnalysisError
        Different shapes, or fewer than ``n_space`` points observed in both.
    """
    src = np.asarray(source, float)
    dst = np.asarray(target, float)
    if src.shape != dst.shape or src.shape[-1] not in (2, 3):
        raise AnalysisError(
            f"Procrustes: expected two point sets of one shape (..., 2 or 3), found {src.shape} "
            f"and {dst.shape}"
        )
    n_space = src.shape[-1]
    src = src.reshape(-1, n_space)
    dst = dst.reshape(-1, n_space)
    ok = np.isfinite(src).all(axis=1) & np.isfinite(dst).all(axis=1)
    if ok.sum() < n_space:
        raise AnalysisError(
            f"Procrustes: {int(ok.sum())} points are observed in both sequences; expected at "
            f"least {n_space}",
            hint="check the detections, or compare without --procrustes",
        )
    src, dst = src[ok], dst[ok]
    mu_src, mu_dst = src.mean(axis=0), dst.mean(axis=0)
    xs, ys = src - mu_src, dst - mu_dst
    u, sigma, vt = np.linalg.svd(ys.T @ xs)
    sign = np.ones(n_space)
    sign[-1] = np.sign(np.linalg.det(u @ vt)) or 1.0
    rotation = (u * sign) @ vt
    s = float((sigma * sign).sum() / (xs**2).sum()) if scale and (xs**2).sum() > 0 else 1.0
    translation = mu_dst - s * (mu_src @ rotation.T)
    return RigidTransform(rotation=rotation, scale=s, translation=translation)


@dataclass(frozen=True, eq=False)
class ProcrustesDTWResult:
    """DTW after spatial alignment of ``a`` onto ``b`` on the frames DTW matched.

    Attributes
    ----------
    result
        The DTW of the transformed ``a`` against ``b`` (path included).
    transform
        The transform applied to ``a``.
    aligned_a
        ``(n_frames, n_joints, n_space) float64``: ``a`` transformed.
    iterations
        Procrustes fits run.
    converged
        Whether the last fit left the warping path unchanged.
    """

    result: DTWResult
    transform: RigidTransform
    aligned_a: np.ndarray
    iterations: int
    converged: bool


def dtw_procrustes(
    a: np.ndarray,
    b: np.ndarray,
    *,
    window: int | None = None,
    scale: bool = False,
    max_iterations: int = 10,
) -> ProcrustesDTWResult:
    """Align ``a`` to ``b`` in time (DTW), then in space (Procrustes on the matched frames).

    Repeats DTW on the transformed ``a`` and refits until the warping path is unchanged, at
    most ``max_iterations`` rounds (:attr:`ProcrustesDTWResult.converged` says which).

    Parameters
    ----------
    a, b
        ``(n_frames, n_joints, n_space)``; frame counts may differ; NaN where not detected.
    window
        Sakoe–Chiba half-width in frames, or ``None``.
    scale
        Also fit an isotropic scale (otherwise rotation and translation only).
    max_iterations
        Upper bound on the rounds (>= 1).
    """
    pa = _poses(a, "DTW with Procrustes, sequence a")
    pb = _poses(b, "DTW with Procrustes, sequence b")
    current = pa
    transform = RigidTransform(np.eye(pa.shape[2]), 1.0, np.zeros(pa.shape[2]))
    result = dtw(current, pb, window=window, return_path=True)
    iterations = 0
    converged = False
    while iterations < max(1, max_iterations) and result.aligned and result.path is not None:
        path = result.path
        transform = fit_procrustes(pa[path[:, 0]], pb[path[:, 1]], scale=scale)
        current = transform.apply(pa)
        iterations += 1
        result = dtw(current, pb, window=window, return_path=True)
        if result.path is not None and np.array_equal(result.path, path):
            converged = True
            break
    return ProcrustesDTWResult(
        result=result,
        transform=transform,
        aligned_a=current,
        iterations=iterations,
        converged=converged,
    )
