"""Truncated SVD of motion fitted segment by segment, in memory bounded by one segment.

The fit sees the motion frames of a few segments of consecutive frames spread over the video
(Facemap's subsample). Each segment is centred on its own mean and reduced to its top
singular vectors (through the eigenvectors of its small ``n x n`` Gram matrix); the running
basis and the new segment's are merged by one thin SVD. At the end the spread of the segment
means around the overall mean is added as extra columns, so the basis describes the motion
centred on the mean of all fitted frames exactly as a single SVD of all of them would (up to
the truncation of each step). Memory: one segment ``(n, n_pixels)`` plus
``n_pixels x 2 * n_components``, whatever the video length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["MotionSVD", "SegmentedSVD"]


@dataclass(frozen=True)
class MotionSVD:
    """A fitted motion SVD.

    Attributes
    ----------
    components
        ``(n_pixels, k) float32`` orthonormal spatial components (Facemap's motion masks).
        Each one's sign is chosen so that its pixel loadings sum to a positive number.
    singular_values
        ``(k,) float32`` in decreasing order, of the centred motion of the fitted frames.
    mean_motion
        ``(n_pixels,) float32`` mean motion of the fitted frames (subtracted before projecting).
    n_fit_frames
        Motion frames the fit saw.
    """

    components: np.ndarray
    singular_values: np.ndarray
    mean_motion: np.ndarray
    n_fit_frames: int

    def project(self, motion: np.ndarray) -> np.ndarray:
        """``(n, k) float32`` projections of ``(n, n_pixels) float32`` motion frames."""
        centred = motion - self.mean_motion[None, :]
        return np.asarray(centred @ self.components, dtype=np.float32)


def _top_singular(matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(n_pixels, k')`` left singular vectors (pixel side) times singular values, and those.

    ``matrix`` is ``(n, n_pixels)``: frames in rows. The Gram matrix ``matrix @ matrix.T`` is
    ``n x n`` (small), so its eigen-decomposition costs ``n^2 * n_pixels`` and never forms a
    pixel-by-pixel matrix.
    """
    gram = (matrix @ matrix.T).astype(np.float64)
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    order = np.argsort(eigenvalues)[::-1][:k]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    keep = eigenvalues > (eigenvalues[0] * 1e-10 if eigenvalues.size else 0.0)
    singular = np.sqrt(eigenvalues[keep])
    # matrix.T @ v = U * s: the pixel-side vectors scaled by their singular values.
    scaled = matrix.T @ eigenvectors[:, order[keep]].astype(np.float32)
    return scaled.astype(np.float32), singular.astype(np.float32)


def _thin_basis(columns: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` left singular vectors and values of ``(n_pixels, m)`` columns, m small.

    Through the eigenvectors of the ``m x m`` Gram matrix in float64: LAPACK's thin SVD and QR
    of a tall float32 matrix take workspace of several times the matrix (120 MB for
    19,200 x 200, measured), the Gram route only the float64 copy. The columns are singular
    vectors scaled by their values, so the squared condition number stays far within float64.
    """
    if columns.shape[1] == 0:
        return columns.astype(np.float32), np.zeros(0, dtype=np.float32)
    wide = columns.astype(np.float64)
    eigenvalues, eigenvectors = np.linalg.eigh(wide.T @ wide)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    keep = eigenvalues > eigenvalues[0] * 1e-12
    keep[k:] = False
    singular = np.sqrt(eigenvalues[keep])
    u = (wide @ eigenvectors[:, order[keep]]) / singular[None, :]
    return u.astype(np.float32), singular.astype(np.float32)


@dataclass
class SegmentedSVD:
    """Accumulates motion segments and fits the truncated SVD of all of them, centred.

    Parameters
    ----------
    n_pixels
        Length of one motion vector.
    n_components
        Components to keep (fewer when the motion has a lower rank).
    """

    n_pixels: int
    n_components: int
    _basis: np.ndarray | None = None  # (n_pixels, k) singular vectors * values, centred motion
    _segment_means: list[np.ndarray] = field(default_factory=list)
    _segment_counts: list[int] = field(default_factory=list)

    def add_segment(self, motion: np.ndarray, *, overwrite: bool = False) -> None:
        """Add ``(n, n_pixels) float32`` motion frames of one segment (n >= 1).

        ``overwrite=True`` lets the segment be centred in place (saves one copy).
        """
        if motion.ndim != 2 or motion.shape[1] != self.n_pixels or motion.shape[0] == 0:
            raise ValueError(f"expected (n>=1, {self.n_pixels}) motion, got {motion.shape}")
        mean = motion.mean(axis=0, dtype=np.float64).astype(np.float32)
        self._segment_means.append(mean)
        self._segment_counts.append(motion.shape[0])
        if motion.shape[0] < 2:
            return  # one frame has no spread around its own mean
        centred = np.subtract(motion, mean[None, :], out=motion if overwrite else None)
        scaled, _ = _top_singular(centred, self.n_components)
        del centred
        if self._basis is None:
            self._basis = scaled
            return
        u, s = _thin_basis(np.concatenate([self._basis, scaled], axis=1), self.n_components)
        self._basis = u * s[None, :]

    @property
    def n_frames(self) -> int:
        return int(sum(self._segment_counts))

    def fit(self) -> MotionSVD:
        """The components of everything added.

        Raises
        ------
        ValueError
            Nothing was added.
        """
        if not self._segment_counts:
            raise ValueError("no motion segment was added")
        counts = np.asarray(self._segment_counts, dtype=np.float64)
        means = np.stack(self._segment_means).astype(np.float64)
        overall = (counts[:, None] * means).sum(axis=0) / counts.sum()
        # Scatter of all frames = scatter within segments + n_s (m_s - m)(m_s - m)^T.
        between = ((means - overall[None, :]) * np.sqrt(counts)[:, None]).T.astype(np.float32)
        parts = [between] if self._basis is None else [self._basis, between]
        u, s = _thin_basis(np.concatenate(parts, axis=1), self.n_components)
        signs = np.where(u.sum(axis=0) < 0, -1.0, 1.0).astype(np.float32)
        return MotionSVD(
            components=np.ascontiguousarray(u * signs[None, :]),
            singular_values=s,
            mean_motion=overall.astype(np.float32),
            n_fit_frames=self.n_frames,
        )
