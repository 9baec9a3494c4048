"""Clock models: map times from a source clock onto the reference (acquisition DAQ) clock.

A clock model is ``reference = source + delta(source)`` where ``delta`` is either linear
(``offset + drift * source``) or continuous piecewise-linear with knots every ``segment_s``
seconds of source time. Both are stored the same way: knot positions on the source clock and
the value of ``delta`` at each knot; outside the knots ``delta`` is extrapolated with the slope
of the end segment.

Why fit ``delta = reference - source`` and not ``reference`` itself: ``delta`` is small and slowly
varying, so the fit never forms products like ``(1 + drift) * 3600 s`` whose rounding error is
larger than the effect being measured. With noiseless input the fit is exact to floating-point
level (well below 1e-9 s) at any session time.

The least-squares problem uses the "hat" basis of the piecewise-linear function (two non-zero
weights per point), so its normal matrix is tridiagonal and is built with ``np.bincount`` and
solved with a banded solver: linear in the number of points and knots.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.linalg import solveh_banded

from w2t_bkin.errors import SyncError

log = logging.getLogger(__name__)

ClockKind = Literal["linear", "piecewise"]

#: Outlier threshold in robust MADs (1.4826 * median absolute deviation ~ one standard deviation).
_MAD_K = 5.0
#: Residuals below this are never treated as outliers (floating-point and DAQ-sample level).
_OUTLIER_FLOOR_S = 1e-6
_MAX_ROBUST_ITER = 10


@dataclass(frozen=True, eq=False)
class ClockModel:
    """A fitted mapping from a source clock to the reference clock.

    Attributes
    ----------
    kind
        ``"linear"`` or ``"piecewise"``.
    knots_s
        ``(n_knots,) float64``, strictly increasing knot times on the source clock (two knots
        for a linear model: the first and last fitted source times).
    delta_s
        ``(n_knots,) float64``: reference minus source time at each knot.
    residuals_s
        ``(n_points,) float64``: ``model(source) - reference`` for every input point, outliers
        included (NaN where the input was not finite).
    inlier
        ``(n_points,) bool``: points used in the final fit.
    """

    kind: ClockKind
    knots_s: np.ndarray
    delta_s: np.ndarray
    residuals_s: np.ndarray
    inlier: np.ndarray

    @classmethod
    def from_offset_drift(cls, offset_s: float, drift_ppm: float = 0.0) -> ClockModel:
        """An exact linear model ``reference = offset_s + (1 + drift_ppm * 1e-6) * source``."""
        knots = np.array([0.0, 1.0])
        delta = np.array([offset_s, offset_s + drift_ppm * 1e-6])
        empty = np.zeros(0)
        return cls("linear", knots, delta, empty, empty.astype(bool))

    # -- evaluation -------------------------------------------------------------------------

    @property
    def _slopes(self) -> np.ndarray:
        return np.diff(self.delta_s) / np.diff(self.knots_s)

    def delta(self, source_s: np.ndarray | float) -> np.ndarray:
        """``reference - source`` at ``source_s`` (any shape), extrapolated linearly."""
        t = np.asarray(source_s, dtype=np.float64)
        if self.knots_s.size == 2:  # linear: no segment lookup
            slope = (self.delta_s[1] - self.delta_s[0]) / (self.knots_s[1] - self.knots_s[0])
            return self.delta_s[0] + slope * (t - self.knots_s[0])
        seg = np.clip(np.searchsorted(self.knots_s, t, side="right") - 1, 0, self.knots_s.size - 2)
        return self.delta_s[seg] + self._slopes[seg] * (t - self.knots_s[seg])

    def __call__(self, source_s: np.ndarray | float) -> np.ndarray:
        """Map source-clock times (any shape) onto the reference clock; NaN stays NaN."""
        t = np.asarray(source_s, dtype=np.float64)
        return t + self.delta(t)

    def inverse(self, reference_s: np.ndarray | float) -> np.ndarray:
        """Map reference-clock times back onto the source clock (exact inverse)."""
        r = np.asarray(reference_s, dtype=np.float64)
        knots_ref = self.knots_s + self.delta_s
        seg = np.clip(np.searchsorted(knots_ref, r, side="right") - 1, 0, self.knots_s.size - 2)
        return self.knots_s[seg] + (r - knots_ref[seg]) / (1.0 + self._slopes[seg])

    # -- summary ----------------------------------------------------------------------------

    @property
    def offset_s(self) -> float:
        """Reference time of source time 0 (for piecewise models: of the first segment's line)."""
        return float(self.delta(0.0))

    @property
    def drift_ppm(self) -> float:
        """Mean drift over the fitted span: ``(d reference / d source - 1) * 1e6``."""
        span = self.knots_s[-1] - self.knots_s[0]
        return float((self.delta_s[-1] - self.delta_s[0]) / span * 1e6)

    @property
    def segment_drift_ppm(self) -> np.ndarray:
        """``(n_knots - 1,) float64``: drift of each segment in ppm."""
        return self._slopes * 1e6

    @property
    def breakpoints_s(self) -> np.ndarray:
        """``(n_knots - 2,) float64``: interior knots (source clock); empty for linear models."""
        return self.knots_s[1:-1].copy()

    @property
    def n_points(self) -> int:
        return int(self.residuals_s.size)

    @property
    def n_outliers(self) -> int:
        return int(self.n_points - np.count_nonzero(self.inlier))

    @property
    def rms_s(self) -> float:
        """Root-mean-square residual of the inliers (0.0 when nothing was fitted)."""
        r = self.residuals_s[self.inlier]
        return float(np.sqrt(np.mean(r * r))) if r.size else 0.0

    @property
    def max_abs_s(self) -> float:
        """Largest absolute residual of the inliers."""
        r = self.residuals_s[self.inlier]
        return float(np.max(np.abs(r))) if r.size else 0.0


def fit_clock(
    source_times_s: np.ndarray,
    reference_times_s: np.ndarray,
    *,
    model: ClockKind = "linear",
    segment_s: float = 300.0,
    outlier_threshold_s: float | None = None,
) -> ClockModel:
    """Robustly fit ``reference = source + delta(source)`` on paired times.

    Least squares, then points whose residual exceeds the threshold are rejected and the fit
    is repeated until the inlier set is stable.

    Parameters
    ----------
    source_times_s, reference_times_s
        ``(n_points,) float64`` paired event times on the source and reference clocks. Pairs
        with a non-finite member are ignored (their residual is NaN).
    model
        ``"linear"`` (offset and constant drift) or ``"piecewise"`` (continuous, one drift per
        ``segment_s`` of source time).
    segment_s
        Segment length of the piecewise model, in source seconds. A final segment shorter
        than half of it is merged into its neighbour; segments with fewer than two points
        are merged too.
    outlier_threshold_s
        Absolute residual above which a pair is an outlier. ``None``: ``5 * 1.4826 * MAD`` of
        the current inlier residuals, but never below 1 µs.

    Returns
    -------
    ClockModel

    Raises
    ------
    SyncError
        When there is no finite pair, or the arrays have different shapes.
    """
    x = np.asarray(source_times_s, dtype=np.float64).ravel()
    y = np.asarray(reference_times_s, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise SyncError(
            f"clock fit needs paired times: {x.size} source times vs {y.size} reference times",
            hint="pass one reference time per source time",
        )
    if model not in ("linear", "piecewise"):
        raise SyncError(
            f"unknown clock model {model!r}",
            hint="synchronization.clock_model is 'linear' or 'piecewise'",
        )
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.any():
        raise SyncError(
            "clock fit has no finite (source, reference) pair",
            hint="check that the event times were matched before fitting",
        )
    inlier = finite.copy()
    knots, delta = _fit_once(x[inlier], y[inlier], model, segment_s)
    residuals = _residuals(knots, delta, x, y)
    for _ in range(_MAX_ROBUST_ITER):
        threshold = _threshold(residuals[inlier], outlier_threshold_s)
        new_inlier = finite & (np.abs(residuals) <= threshold)
        # never let rejection leave too few points to define the model
        if np.count_nonzero(new_inlier) < 2 or np.array_equal(new_inlier, inlier):
            break
        inlier = new_inlier
        knots, delta = _fit_once(x[inlier], y[inlier], model, segment_s)
        residuals = _residuals(knots, delta, x, y)
    n_out = int(np.count_nonzero(finite & ~inlier))
    if n_out:
        log.debug("clock fit rejected %d of %d pairs as outliers", n_out, int(finite.sum()))
    return ClockModel(model, knots, delta, residuals, inlier)


def _residuals(knots: np.ndarray, delta: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    clock = ClockModel("linear", knots, delta, np.zeros(0), np.zeros(0, dtype=bool))
    # evaluate delta only: x + delta - y loses nothing because (y - x) is small
    return clock.delta(x) - (y - x)


def _threshold(residuals: np.ndarray, absolute_s: float | None) -> float:
    if absolute_s is not None:
        return float(absolute_s)
    if residuals.size == 0:
        return _OUTLIER_FLOOR_S
    mad = float(np.median(np.abs(residuals - np.median(residuals))))
    return max(_MAD_K * 1.4826 * mad, _OUTLIER_FLOOR_S)


def _knots(x: np.ndarray, model: str, segment_s: float) -> np.ndarray:
    """Knot positions covering ``[x.min(), x.max()]`` with at least two points per segment."""
    lo, hi = float(x.min()), float(x.max())
    if model == "linear" or hi - lo <= segment_s:
        return np.array([lo, hi])
    n_seg = max(int(np.floor((hi - lo) / segment_s)), 1)
    if (hi - lo) - n_seg * segment_s >= 0.5 * segment_s:
        n_seg += 1
    knots = np.concatenate([lo + segment_s * np.arange(n_seg), [hi]])
    counts = np.histogram(x, bins=knots)[0]
    # merge sparse segments into the next one (few knots: a Python loop is fine)
    kept = [knots[0]]
    acc = 0
    for right, count in zip(knots[1:-1], counts[:-1], strict=True):
        acc += int(count)
        if acc >= 2:
            kept.append(right)
            acc = 0
    if acc + int(counts[-1]) < 2 and len(kept) > 1:
        kept.pop()
    kept.append(knots[-1])
    return np.asarray(kept, dtype=np.float64)


def _fit_once(
    x: np.ndarray, y: np.ndarray, model: str, segment_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares knots and ``delta`` values (hat basis, tridiagonal normal equations)."""
    z = y - x
    if x.size == 1 or x.min() == x.max():
        # offset only: no information about drift
        x0 = float(x.min())
        return np.array([x0, x0 + 1.0]), np.full(2, float(np.mean(z)))
    knots = _knots(x, model, segment_s)
    n_knots = knots.size
    if n_knots == 2:
        # one segment: the 2x2 normal equations from dot products (no bincount needed)
        w = (x - knots[0]) / (knots[1] - knots[0])
        v = 1.0 - w
        a11, a12, a22 = v @ v, v @ w, w @ w
        b1, b2 = v @ z, w @ z
        det = a11 * a22 - a12 * a12
        return knots, np.array([(a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det])
    seg = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, n_knots - 2)
    w = (x - knots[seg]) / (knots[seg + 1] - knots[seg])
    v = 1.0 - w
    diag = np.bincount(seg, v * v, n_knots) + np.bincount(seg + 1, w * w, n_knots)
    upper = np.bincount(seg, v * w, n_knots - 1)
    rhs = np.bincount(seg, v * z, n_knots) + np.bincount(seg + 1, w * z, n_knots)
    banded = np.zeros((2, n_knots))
    banded[0, 1:] = upper
    banded[1] = diag
    delta = solveh_banded(banded, rhs)
    return knots, np.asarray(delta, dtype=np.float64)
