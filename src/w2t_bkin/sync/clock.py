"""Clock models: map times from a source clock onto the reference (acquisition DAQ) clock.

A clock model is ``reference = source + delta(source)`` where ``delta`` is either linear
(``offset + drift * source``) or continuous piecewise-linear with knots every ``segment_s``
seconds of source time. Both are stored the same way: knot positions on the source clock and
the value of ``delta`` at each knot; outside the knots ``delta`` is extrapolated with the slope
of the end segment.

A model may also have *steps*: source times where the source clock restarted (a later Bpod file
whose clock was only placed coarsely). ``delta`` jumps by a fitted constant at each step and the
drift is shared by all runs between steps (one crystal), so a run with few points still gets a
precise placement.

Why fit ``delta = reference - source`` and not ``reference`` itself: ``delta`` is small and slowly
varying, so the fit never forms products like ``(1 + drift) * 3600 s`` whose rounding error is
larger than the effect being measured. With noiseless input the fit is exact to floating-point
level (well below 1e-9 s) at any session time.

The least-squares problem uses the "hat" basis of the piecewise-linear function (two non-zero
weights per point), so its normal matrix is tridiagonal and is built with ``np.bincount`` and
solved with a banded solver: linear in the number of points and knots. Steps add one unknown per
run; they are eliminated through the Schur complement (a few banded solves).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
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
    step_at_s
        ``(n_steps,) float64``, strictly increasing source times where the source clock
        restarted; a time equal to a step belongs to the run after it. Empty: one run.
    step_s
        ``(n_steps,) float64``: jump of ``delta`` at each step (fitted, not the coarse shift).
    run_fitted
        ``(n_steps + 1,) bool``: runs (between steps) that held inlier points. A run without
        points has an unknown step, left at 0; callers must not trust times mapped there.
        Empty when the model has no steps.
    """

    kind: ClockKind
    knots_s: np.ndarray
    delta_s: np.ndarray
    residuals_s: np.ndarray
    inlier: np.ndarray
    step_at_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    step_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    run_fitted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

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
        base = self._base_delta(t)
        if self.step_at_s.size:
            return base + self._run_offsets[self.run_of(t)]
        return base

    def _base_delta(self, t: np.ndarray) -> np.ndarray:
        if self.knots_s.size == 2:  # linear: no segment lookup
            slope = (self.delta_s[1] - self.delta_s[0]) / (self.knots_s[1] - self.knots_s[0])
            return self.delta_s[0] + slope * (t - self.knots_s[0])
        seg = np.clip(np.searchsorted(self.knots_s, t, side="right") - 1, 0, self.knots_s.size - 2)
        return self.delta_s[seg] + self._slopes[seg] * (t - self.knots_s[seg])

    @property
    def _run_offsets(self) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(self.step_s)])

    @property
    def n_runs(self) -> int:
        """Runs of the source clock (1 + number of steps)."""
        return int(self.step_at_s.size) + 1

    def run_of(self, source_s: np.ndarray | float) -> np.ndarray:
        """Run index (0 before the first step) of each source time (any shape)."""
        return np.searchsorted(self.step_at_s, np.asarray(source_s, dtype=np.float64), "right")

    def __call__(self, source_s: np.ndarray | float) -> np.ndarray:
        """Map source-clock times (any shape) onto the reference clock; NaN stays NaN."""
        t = np.asarray(source_s, dtype=np.float64)
        return t + self.delta(t)

    def inverse(self, reference_s: np.ndarray | float) -> np.ndarray:
        """Map reference-clock times back onto the source clock (exact inverse).

        With steps, a reference time is given the run whose source interval its inverse falls
        in (the first such run where a negative step makes two runs overlap); NaN if none.
        """
        r = np.asarray(reference_s, dtype=np.float64)
        if not self.step_at_s.size:
            return self._base_inverse(r)
        out = np.full(r.shape, np.nan)
        bounds = np.concatenate([[-np.inf], self.step_at_s, [np.inf]])
        for run, offset in enumerate(self._run_offsets):  # one pass per run (few)
            t = self._base_inverse(r - offset)
            inside = np.isnan(out) & (t >= bounds[run]) & (t < bounds[run + 1])
            out[inside] = t[inside]
        return out

    def _base_inverse(self, r: np.ndarray) -> np.ndarray:
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
        """Mean drift over the fitted span: ``(d reference / d source - 1) * 1e6``.

        Steps are not drift: this is the drift shared by every run.
        """
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
    step_at_s: np.ndarray | None = None,
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
    step_at_s
        ``(n_steps,) float64`` strictly increasing source times where the source clock
        restarted: ``delta`` gets a free jump at each, the drift stays shared. Rejection never
        empties a run that holds points; a run without points keeps a jump of 0 and is marked in
        ``run_fitted``.

    Returns
    -------
    ClockModel

    Raises
    ------
    SyncError
        When there is no finite pair, the arrays have different shapes, or the steps are not
        strictly increasing finite times.
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
    steps = _checked_steps(step_at_s)
    run = np.searchsorted(steps, x, side="right")
    n_runs = steps.size + 1
    inlier = finite.copy()
    clock = _fit_once(x[inlier], y[inlier], model, segment_s, steps, run[inlier])
    residuals = _residuals(clock, x, y)
    runs_with_points = np.bincount(run[finite], minlength=n_runs) > 0
    for _ in range(_MAX_ROBUST_ITER):
        threshold = _threshold(residuals[inlier], outlier_threshold_s)
        new_inlier = finite & (np.abs(residuals) <= threshold)
        # never let rejection leave too few points to define the model (or to place a run)
        kept_runs = np.bincount(run[new_inlier], minlength=n_runs) > 0
        if (
            np.count_nonzero(new_inlier) < 2
            or np.any(runs_with_points & ~kept_runs)
            or np.array_equal(new_inlier, inlier)
        ):
            break
        inlier = new_inlier
        clock = _fit_once(x[inlier], y[inlier], model, segment_s, steps, run[inlier])
        residuals = _residuals(clock, x, y)
    n_out = int(np.count_nonzero(finite & ~inlier))
    if n_out:
        log.debug("clock fit rejected %d of %d pairs as outliers", n_out, int(finite.sum()))
    return ClockModel(
        model,
        clock.knots_s,
        clock.delta_s,
        residuals,
        inlier,
        clock.step_at_s,
        clock.step_s,
        clock.run_fitted,
    )


def _checked_steps(step_at_s: np.ndarray | None) -> np.ndarray:
    steps = np.zeros(0) if step_at_s is None else np.asarray(step_at_s, dtype=np.float64).ravel()
    if not np.all(np.isfinite(steps)) or np.any(np.diff(steps) <= 0):
        raise SyncError(
            f"clock steps must be strictly increasing finite source times, got {steps.tolist()}",
            hint="pass the start time of each restarted run once, in time order",
        )
    return steps


def _residuals(clock: ClockModel, x: np.ndarray, y: np.ndarray) -> np.ndarray:
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
    seg = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, knots.size - 2)
    counts = np.bincount(seg, minlength=knots.size - 1)
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
    x: np.ndarray,
    y: np.ndarray,
    model: ClockKind,
    segment_s: float,
    steps: np.ndarray,
    run: np.ndarray,
) -> ClockModel:
    """Least-squares model of ``y - x`` (residuals and inliers not filled in yet)."""
    empty = np.zeros(0)
    if not steps.size:
        knots, delta = _fit_base(x, y, model, segment_s)
        return ClockModel(model, knots, delta, empty, empty.astype(bool))
    n_runs = steps.size + 1
    counts = np.bincount(run, minlength=n_runs)
    fitted = counts > 0
    present = np.flatnonzero(fitted)
    # the first run with points carries the base; every later run with points gets an offset
    free = present[1:]
    offsets = np.zeros(n_runs)
    drift_known = any(np.ptp(x[run == k]) > 0 for k in present)
    if not free.size:
        knots, delta = _fit_base(x, y, model, segment_s)
    elif not drift_known:
        # no run spans two source times: per-run offsets only, drift 0
        means = np.bincount(run, y - x, minlength=n_runs)[present] / counts[present]
        offsets[present] = means - means[0]
        x0 = float(x.min())
        knots, delta = np.array([x0, x0 + 1.0]), np.full(2, float(means[0]))
    else:
        knots, delta, offsets[free] = _fit_with_offsets(x, y - x, model, segment_s, run, free)
    # a run without points keeps the offset of the run before it (a jump of 0)
    offsets = offsets[np.maximum.accumulate(np.where(fitted, np.arange(n_runs), 0))]
    return ClockModel(
        model, knots, delta, empty, empty.astype(bool), steps, np.diff(offsets), fitted
    )


def _fit_with_offsets(
    x: np.ndarray, z: np.ndarray, model: str, segment_s: float, run: np.ndarray, free: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base knots/values plus one constant offset per run in ``free`` fitted jointly.

    Normal equations ``[[A, B], [B.T, D]] [d; c] = [r1; r2]``: ``A`` is the tridiagonal hat-basis
    matrix, ``B[j, m]`` sums the hat weights of knot ``j`` over the points of run ``free[m]``,
    ``D`` counts those points. ``c`` comes from the small Schur complement, then ``d`` from one
    more banded solve.
    """
    knots = _knots(x, model, segment_s)
    n_knots, n_free = knots.size, free.size
    seg = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, n_knots - 2)
    w = (x - knots[seg]) / (knots[seg + 1] - knots[seg])
    v = 1.0 - w
    banded = np.zeros((2, n_knots))
    banded[0, 1:] = np.bincount(seg, v * w, n_knots - 1)
    banded[1] = np.bincount(seg, v * v, n_knots) + np.bincount(seg + 1, w * w, n_knots)
    rhs_d = np.bincount(seg, v * z, n_knots) + np.bincount(seg + 1, w * z, n_knots)
    column = np.full(run.max() + 1, -1)
    column[free] = np.arange(n_free)
    m = column[run]
    on = m >= 0
    b = (
        np.bincount(seg[on] * n_free + m[on], v[on], n_knots * n_free)
        + np.bincount((seg[on] + 1) * n_free + m[on], w[on], n_knots * n_free)
    ).reshape(n_knots, n_free)
    d_diag = np.bincount(m[on], minlength=n_free).astype(np.float64)
    rhs_c = np.bincount(m[on], z[on], n_free)
    solved = solveh_banded(banded, np.column_stack([rhs_d, b]))
    a_inv_r, a_inv_b = solved[:, 0], solved[:, 1:]
    schur = np.diag(d_diag) - b.T @ a_inv_b
    c = np.linalg.solve(schur, rhs_c - b.T @ a_inv_r)
    delta = a_inv_r - a_inv_b @ c
    return knots, np.asarray(delta, dtype=np.float64), np.asarray(c, dtype=np.float64)


def _fit_base(
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
