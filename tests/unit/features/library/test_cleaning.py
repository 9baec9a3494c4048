"""Confidence filtering, gap interpolation and smoothing against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import savgol_filter

from w2t_bkin.features.library import (
    LibraryParameterError,
    TrackDataError,
    interpolate_gaps,
    mask_low_confidence,
    median_smooth,
    savgol_smooth,
    smoothing,
)
from w2t_bkin.features.library._checks import resolve_window


def _series(values: list[float]) -> np.ndarray:
    """(n_frames, 1, 1, 2) positions with x = values and y = -values."""
    x = np.asarray(values, dtype=np.float64)
    return np.stack([x, -x], axis=-1)[:, None, None, :]


def test_mask_low_confidence_drops_below_threshold_and_keeps_unscored() -> None:
    positions = np.arange(6.0).reshape(3, 1, 1, 2)
    confidence = np.array([0.4, 0.5, np.nan]).reshape(3, 1, 1)
    kept = mask_low_confidence(positions, confidence, 0.5)
    assert np.isnan(kept[0]).all()
    np.testing.assert_array_equal(kept[1:], positions[1:])
    strict = mask_low_confidence(positions, confidence, 0.5, keep_unscored=False)
    assert np.isnan(strict[[0, 2]]).all()
    np.testing.assert_array_equal(positions, np.arange(6.0).reshape(3, 1, 1, 2))  # untouched
    with pytest.raises(TrackDataError, match=r"confidence must have shape \(3, 1, 1\)"):
        mask_low_confidence(positions, confidence[:, 0], 0.5)


def test_interpolate_gaps_is_linear_in_time_and_limited_in_seconds() -> None:
    # frames at 0, 1, 2, 4, 5, 6 s (t = 3 s dropped); x = 2 t where present
    t_s = np.array([0.0, 1.0, 2.0, 4.0, 5.0, 6.0])
    positions = _series([np.nan, 2.0, np.nan, 8.0, np.nan, np.nan])
    filled = interpolate_gaps(positions, t_s, max_gap_s=3.0)
    # the gap spans t = 1 .. 4 s (3 s): the frame at 2 s gets 2 + 6 * (1/3) = 4, not the
    # frame-count midpoint 5; leading and trailing NaNs are not extrapolated
    np.testing.assert_allclose(filled[:, 0, 0, 0], [np.nan, 2.0, 4.0, 8.0, np.nan, np.nan])
    np.testing.assert_allclose(filled[:, 0, 0, 1], [np.nan, -2.0, -4.0, -8.0, np.nan, np.nan])
    too_long = interpolate_gaps(positions, t_s, max_gap_s=2.999)
    assert np.isnan(too_long[2]).all()
    np.testing.assert_allclose(interpolate_gaps(positions, t_s)[2, 0, 0, 0], 4.0)
    with pytest.raises(LibraryParameterError, match="max_gap_s must be >= 0"):
        interpolate_gaps(positions, t_s, max_gap_s=-1.0)


def test_window_rule_converts_seconds_with_the_median_interval_to_odd_frames() -> None:
    t_s = np.r_[np.arange(10) / 30.0, 1.0 + np.arange(10) / 30.0]  # one long gap
    assert resolve_window(t_s, 0.1, None, minimum=3, what="x") == 3  # 3 frames
    assert resolve_window(t_s, 0.13, None, minimum=3, what="x") == 5  # 3.9 -> 4 -> 5
    assert resolve_window(t_s, None, 7, minimum=3, what="x") == 7
    with pytest.raises(LibraryParameterError, match="exactly one of window_s and window_frames"):
        resolve_window(t_s, 0.1, 3, minimum=3, what="x")
    with pytest.raises(LibraryParameterError, match="window_frames must be odd"):
        resolve_window(t_s, None, 4, minimum=3, what="x")
    with pytest.raises(LibraryParameterError, match=r"(?s)is 1 frame\(s\).*use window_s >= 0.1"):
        resolve_window(t_s, 0.02, None, minimum=3, what="x")


@pytest.mark.parametrize("chunk_frames", [4096, 16])  # one chunk; many chunks of 16 frames
def test_savgol_equals_scipy_on_evenly_spaced_frames(
    chunk_frames: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smoothing, "_CHUNK_FRAMES", chunk_frames)
    rng = np.random.default_rng(0)
    positions = rng.normal(size=(200, 2, 3, 2))
    t_s = np.arange(200) / 30.0
    ours = savgol_smooth(positions, t_s, window_frames=7, polyorder=2)
    np.testing.assert_allclose(ours, savgol_filter(positions, 7, 2, axis=0), atol=1e-10)
    by_seconds = savgol_smooth(positions, t_s, window_s=7 / 30.0, polyorder=3)
    np.testing.assert_allclose(by_seconds, savgol_filter(positions, 7, 3, axis=0), atol=1e-10)


def test_savgol_fits_on_real_timestamps_across_dropped_frames() -> None:
    # a quadratic in time is reproduced exactly by a local quadratic fit on the true times;
    # scipy's fit on frame index is not, because the drops bend the curve in index space
    t_s = np.delete(np.arange(60) / 30.0, [10, 11, 30])
    x = 5.0 * t_s**2 - 3.0 * t_s + 1.0
    smoothed = savgol_smooth(_series(list(x)), t_s, window_frames=9, polyorder=2)
    np.testing.assert_allclose(smoothed[:, 0, 0, 0], x, atol=1e-9)
    index_based = savgol_filter(x, 9, 2)
    assert np.max(np.abs(index_based - x)) > 1e-3


def test_savgol_nan_in_a_window_gives_nan_there_only() -> None:
    x = np.arange(20.0)
    x[10] = np.nan
    result = savgol_smooth(_series(list(x)), np.arange(20.0), window_frames=5, polyorder=1)
    nan_frames = np.flatnonzero(np.isnan(result[:, 0, 0, 0]))
    np.testing.assert_array_equal(nan_frames, [8, 9, 10, 11, 12])
    np.testing.assert_allclose(result[:8, 0, 0, 0], np.arange(8.0), atol=1e-12)


def test_median_smooth_matches_hand_computed_reflect_padded_medians() -> None:
    t_s = np.arange(5.0)
    positions = _series([1.0, 5.0, 2.0, 8.0, 3.0])
    # reflect padding: 5 1 5 2 8 3 8 -> medians of each 3-window
    result = median_smooth(positions, t_s, window_frames=3)
    np.testing.assert_array_equal(result[:, 0, 0, 0], [5.0, 2.0, 5.0, 3.0, 8.0])
    with_nan = _series([1.0, np.nan, 2.0, 8.0, 3.0])
    strict = median_smooth(with_nan, t_s, window_frames=3)
    np.testing.assert_array_equal(strict[:, 0, 0, 0], [np.nan, np.nan, np.nan, 3.0, 8.0])
    lenient = median_smooth(with_nan, t_s, window_frames=3, min_valid_frames=1)
    # windows (nan 1 nan) (1 nan 2) (nan 2 8) (2 8 3) (8 3 8)
    np.testing.assert_array_equal(lenient[:, 0, 0, 0], [1.0, 1.5, 5.0, 3.0, 8.0])
    assert median_smooth(positions.astype(np.float32), t_s, window_frames=3).dtype == np.float32


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.floats(0.01, 1.0), min_size=8, max_size=40),
    missing=st.lists(st.booleans(), min_size=8, max_size=40),
    max_gap_s=st.floats(0.05, 5.0),
)
def test_interpolate_gaps_restores_linear_motion_inside_gaps_no_longer_than_the_limit(
    steps: list[float], missing: list[bool], max_gap_s: float
) -> None:
    n = min(len(steps), len(missing))
    t_s = np.cumsum(steps[:n])
    truth = _series(list(2.5 * t_s - 1.0))
    holes = np.asarray(missing[:n])
    positions = truth.copy()
    positions[holes] = np.nan
    filled = interpolate_gaps(positions, t_s, max_gap_s=max_gap_s)
    valid = np.flatnonzero(~holes)
    for i in np.flatnonzero(holes):
        before, after = valid[valid < i], valid[valid > i]
        inside = before.size and after.size and t_s[after[0]] - t_s[before[-1]] <= max_gap_s
        if inside:
            np.testing.assert_allclose(filled[i], truth[i], rtol=1e-9, atol=1e-9)
        else:
            assert np.isnan(filled[i]).all()
    np.testing.assert_array_equal(filled[~holes], truth[~holes])


@pytest.mark.parametrize("n_window", [3, 9, 11, 25])  # comparison network (<= 9) and row sort
def test_median_smooth_equals_numpy_medians_of_reflect_padded_windows(
    n_window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smoothing, "_CHUNK_FRAMES", 64)  # several chunks
    rng = np.random.default_rng(n_window)
    values = rng.normal(size=(300, 1, 4, 2))
    values[rng.random(values.shape) < 0.02] = np.nan
    flat = values.reshape(300, -1)
    half = n_window // 2
    windows = np.lib.stride_tricks.sliding_window_view(
        np.pad(flat, ((half, half), (0, 0)), mode="reflect"), n_window, axis=0
    )
    t_s = np.arange(300) / 30.0
    strict = median_smooth(values, t_s, window_frames=n_window).reshape(300, -1)
    np.testing.assert_array_equal(strict, np.median(windows, axis=-1))
    lenient = median_smooth(values, t_s, window_frames=n_window, min_valid_frames=half + 1)
    expected = np.nanmedian(windows, axis=-1)
    expected[np.count_nonzero(~np.isnan(windows), axis=-1) < half + 1] = np.nan
    np.testing.assert_array_equal(lenient.reshape(300, -1), expected)
