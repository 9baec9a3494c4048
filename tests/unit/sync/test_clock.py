"""Clock model fits against exact ground truth."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from w2t_bkin.errors import SyncError
from w2t_bkin.sync import ClockModel, fit_clock


def _source(n: int = 500, duration_s: float = 3600.0, seed: int = 0) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).uniform(0.0, duration_s, n))


def test_noiseless_linear_fit_is_exact_at_one_hour() -> None:
    x = _source()
    y = 500.0 + (1 + 50e-6) * x
    clock = fit_clock(x, y)
    assert abs(clock.offset_s - 500.0) < 1e-9
    assert abs(clock.drift_ppm - 50.0) < 1e-6
    assert np.max(np.abs(clock(x) - y)) < 1e-9
    assert np.max(np.abs(clock.inverse(y) - x)) < 1e-9
    assert clock.max_abs_s < 1e-9
    assert clock.n_points == 500 and clock.n_outliers == 0
    assert clock.breakpoints_s.size == 0


@settings(max_examples=60, deadline=None)
@given(
    offset_s=st.floats(-1e4, 1e4),
    drift_ppm=st.floats(-1000, 1000),
    start_s=st.floats(0, 1e5),
    n=st.integers(2, 200),
)
def test_property_fit_recovers_offset_and_drift(
    offset_s: float, drift_ppm: float, start_s: float, n: int
) -> None:
    x = start_s + np.linspace(0.0, 3600.0, n)
    y = offset_s + (1 + drift_ppm * 1e-6) * x
    clock = fit_clock(x, y)
    assert np.max(np.abs(clock(x) - y)) < 1e-9
    assert abs(clock.drift_ppm - drift_ppm) < 1e-6
    # offset is extrapolated back to source time 0, so allow the drift error over start_s
    assert abs(clock.offset_s - offset_s) < 1e-9 + 1e-12 * start_s


def test_outliers_are_rejected_and_reported() -> None:
    x = _source(200)
    y = 12.5 + (1 - 20e-6) * x + np.random.default_rng(1).uniform(-1e-4, 1e-4, x.size)
    y[[3, 50, 120]] += [0.01, -0.004, 0.02]
    clock = fit_clock(x, y)
    assert clock.n_outliers == 3
    assert np.flatnonzero(~clock.inlier).tolist() == [3, 50, 120]
    assert clock.max_abs_s <= 2e-4
    assert abs(clock.drift_ppm + 20.0) < 0.5
    # residuals are real: the outliers keep theirs
    assert clock.residuals_s[120] == pytest.approx(-0.02, abs=3e-4)


def test_absolute_outlier_threshold() -> None:
    x = _source(100)
    y = x + 1.0
    y[10] += 0.003
    kept = fit_clock(x, y, outlier_threshold_s=0.005)
    rejected = fit_clock(x, y, outlier_threshold_s=0.001)
    assert kept.n_outliers == 0
    assert rejected.n_outliers == 1 and not rejected.inlier[10]


def test_piecewise_follows_a_drift_change_that_linear_cannot() -> None:
    x = np.concatenate([[0.0], _source(2000)])  # knots every 300 s from 0: one at the change
    change_s = 1800.0
    y = 3.0 + x + 40e-6 * x + 60e-6 * np.maximum(x - change_s, 0.0)
    linear = fit_clock(x, y, outlier_threshold_s=1.0)
    piecewise = fit_clock(x, y, model="piecewise", segment_s=300.0)
    assert piecewise.max_abs_s < 1e-9
    assert piecewise.n_outliers == 0
    assert linear.max_abs_s > 5e-3
    assert piecewise.breakpoints_s.size >= 10
    assert piecewise.segment_drift_ppm[0] == pytest.approx(40.0, abs=1e-6)
    assert piecewise.segment_drift_ppm[-1] == pytest.approx(100.0, abs=1e-6)
    assert np.max(np.abs(piecewise.inverse(y) - x)) < 1e-9


def test_piecewise_change_between_knots_is_bounded_by_one_segment() -> None:
    x = _source(2000)
    y = x + 40e-6 * x + 60e-6 * np.maximum(x - 1234.5, 0.0)
    piecewise = fit_clock(x, y, model="piecewise", segment_s=300.0, outlier_threshold_s=1.0)
    linear = fit_clock(x, y, outlier_threshold_s=1.0)
    # a kink inside a segment costs at most (drift change) * segment / 4
    assert piecewise.max_abs_s < 60e-6 * 300.0 / 4
    assert linear.max_abs_s > 5 * piecewise.max_abs_s


def test_piecewise_merges_short_and_empty_segments() -> None:
    x = np.concatenate([np.linspace(0, 100, 50), np.linspace(1000, 1010, 5)])
    y = x * (1 + 10e-6) + 2.0
    clock = fit_clock(x, y, model="piecewise", segment_s=60.0)
    assert np.all(np.diff(clock.knots_s) > 0)
    assert np.max(np.abs(clock(x) - y)) < 1e-9


def test_extrapolation_is_linear_beyond_the_knots() -> None:
    x = np.linspace(100.0, 200.0, 11)
    clock = fit_clock(x, 7.0 + (1 + 1e-4) * x)
    assert float(clock(1000.0)) == pytest.approx(7.0 + (1 + 1e-4) * 1000.0, abs=1e-9)
    assert float(clock(0.0)) == pytest.approx(7.0, abs=1e-9)


def test_single_point_gives_offset_only_and_nan_pairs_are_ignored() -> None:
    clock = fit_clock(np.array([5.0, np.nan]), np.array([15.0, 3.0]))
    assert clock.offset_s == pytest.approx(10.0)
    assert clock.drift_ppm == 0.0
    assert np.isnan(clock.residuals_s[1]) and not clock.inlier[1]


def test_from_offset_drift_round_trip() -> None:
    clock = ClockModel.from_offset_drift(500.0, 50.0)
    t = np.array([0.0, 1.0, 3600.0])
    np.testing.assert_allclose(clock(t), 500.0 + (1 + 50e-6) * t, rtol=0, atol=1e-10)
    np.testing.assert_allclose(clock.inverse(clock(t)), t, rtol=0, atol=1e-10)


def test_errors_name_the_problem() -> None:
    with pytest.raises(SyncError, match="3 source times vs 2 reference times"):
        fit_clock(np.zeros(3), np.zeros(2))
    with pytest.raises(SyncError, match="no finite"):
        fit_clock(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(SyncError, match="unknown clock model 'cubic'"):
        fit_clock(np.arange(3.0), np.arange(3.0), model="cubic")  # type: ignore[arg-type]


def _restarted_clock(x: np.ndarray, steps: np.ndarray, jumps: np.ndarray) -> np.ndarray:
    """Reference times of a 500 s offset, 50 ppm clock that jumps at each step."""
    run = np.searchsorted(steps, x, side="right")
    return 500.0 + (1 + 50e-6) * x + np.concatenate([[0.0], np.cumsum(jumps)])[run]


def test_steps_give_each_run_its_offset_and_share_one_drift() -> None:
    x = _source(3000, 7200.0)
    steps, jumps = np.array([2000.0, 5000.0]), np.array([0.37, -0.81])
    y = _restarted_clock(x, steps, jumps)
    clock = fit_clock(x, y, step_at_s=steps)
    assert np.max(np.abs(clock(x) - y)) < 1e-9
    np.testing.assert_allclose(clock.step_s, jumps, rtol=0, atol=1e-9)
    assert clock.drift_ppm == pytest.approx(50.0, abs=1e-6)
    assert clock.offset_s == pytest.approx(500.0, abs=1e-9)
    assert clock.run_fitted.tolist() == [True, True, True]
    assert clock.n_runs == 3
    np.testing.assert_array_equal(clock.run_of([1999.0, 2000.0, 6000.0]), [0, 1, 2])
    assert np.max(np.abs(clock.inverse(y) - x)) < 1e-9
    # without the steps one model cannot follow the jumps
    assert fit_clock(x, y, outlier_threshold_s=10.0).max_abs_s > 0.1


def test_steps_with_a_piecewise_drift() -> None:
    x = np.concatenate([[0.0], _source(3000)])
    steps = np.array([1000.0])
    y = _restarted_clock(x, steps, np.array([0.25])) + 60e-6 * np.maximum(x - 1800.0, 0.0)
    clock = fit_clock(x, y, model="piecewise", segment_s=300.0, step_at_s=steps)
    assert np.max(np.abs(clock(x) - y)) < 1e-9
    assert clock.step_s[0] == pytest.approx(0.25, abs=1e-9)
    assert clock.segment_drift_ppm[-1] == pytest.approx(110.0, abs=1e-6)


def test_a_run_without_points_is_marked_and_keeps_the_previous_offset() -> None:
    x = np.concatenate([_source(100, 1000.0), 3000.0 + _source(100, 1000.0, seed=1)])
    steps, jumps = np.array([1500.0, 2500.0]), np.array([0.4, -0.3])
    y = _restarted_clock(x, steps, jumps)
    clock = fit_clock(x, y, step_at_s=steps)
    assert clock.run_fitted.tolist() == [True, False, True]
    assert np.max(np.abs(clock(x) - y)) < 1e-9
    # the empty run 1 takes run 0's offset (a jump of 0); run 2 still lands right
    assert clock.step_s[0] == 0.0
    assert clock.step_s[1] == pytest.approx(0.1, abs=1e-9)


def test_steps_between_single_points_give_offsets_only() -> None:
    clock = fit_clock(np.array([10.0, 20.0]), np.array([15.0, 27.5]), step_at_s=np.array([15.0]))
    assert clock.drift_ppm == 0.0
    np.testing.assert_allclose(clock(np.array([10.0, 20.0])), [15.0, 27.5], rtol=0, atol=1e-12)
    assert clock.step_s[0] == pytest.approx(2.5)


def test_steps_must_be_increasing() -> None:
    with pytest.raises(
        SyncError, match=r"strictly increasing finite source times, got \[5\.0, 1\.0\]"
    ):
        fit_clock(np.arange(10.0), np.arange(10.0), step_at_s=np.array([5.0, 1.0]))
