"""Frame alignment against the simulator's ground truth."""

from __future__ import annotations

import time

import numpy as np
import pytest

from w2t_bkin.errors import DataQualityWarning, SyncError
from w2t_bkin.sync import (
    ClockModel,
    align_frames,
    frame_times_from_rate,
    frame_times_from_video,
    stats_from_frames,
)
from w2t_bkin.testing.simulate import simulate_camera

GOALS = dict(drift_ppm=50.0, jitter_s=1e-4, dropped_frame_fraction=0.01)


def test_no_faults_is_exact_at_floating_point_level() -> None:
    truth = simulate_camera(20.0, 150.0, drift_ppm=50.0, t_start_s=3600.0, seed=3)
    result = align_frames(truth.n_frames, truth.pulse_times_s, nominal_rate_hz=150.0)
    assert result.status == "exact" and result.policy_applied == "one_to_one"
    assert np.max(np.abs(result.frame_times_s - truth.frame_times_s)) < 1e-9
    assert result.frame_has_pulse.all()
    assert result.n_dropped == 0 and result.spurious_pulse_idx.size == 0
    np.testing.assert_array_equal(result.frame_pulse_idx, np.arange(truth.n_frames))
    assert result.clock.drift_ppm == pytest.approx(50.0, abs=1e-3)
    assert result.messages == ()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_goal_drops_and_spurious_pulses_are_localised_exactly(seed: int) -> None:
    truth = simulate_camera(60.0, 150.0, spurious_pulse_fraction=0.01, seed=seed, **GOALS)
    result = align_frames(truth.n_frames, truth.pulse_times_s, nominal_rate_hz=150.0)
    assert truth.dropped_frame_idx.size == 90
    np.testing.assert_array_equal(result.dropped_frames, truth.dropped_frame_idx)
    np.testing.assert_array_equal(result.spurious_pulse_idx, truth.spurious_pulse_idx)
    np.testing.assert_array_equal(result.frame_slot, truth.frame_nominal_idx)
    assert result.status == "exact"
    assert np.max(np.abs(result.frame_times_s - truth.frame_times_s)) < 0.5e-3
    # a gap of k periods is k-1 dropped frames, reported after the frame before it
    assert result.dropped_per_gap.sum() == result.n_dropped
    gaps = result.gaps
    np.testing.assert_array_equal(gaps["after_frame_idx"], result.dropped_after_frame_idx)
    np.testing.assert_allclose(
        gaps["gap_s"], (gaps["n_dropped"] + 1) / 150.0 * (1 + 50e-6), atol=2.5e-4
    )


@pytest.mark.parametrize("seed", [0, 5])
def test_goal_lost_pulses_are_told_from_drops_with_pts(seed: int) -> None:
    truth = simulate_camera(
        60.0, 150.0, missing_pulse_fraction=0.02, spurious_pulse_fraction=0.01, seed=seed, **GOALS
    )
    result = align_frames(
        truth.n_frames, truth.pulse_times_s, nominal_rate_hz=150.0, frame_pts_s=truth.frame_pts_s
    )
    assert result.policy_applied == "pts" and result.status == "repaired"
    np.testing.assert_array_equal(result.dropped_frames, truth.dropped_frame_idx)
    np.testing.assert_array_equal(result.missing_pulse_frame_idx, truth.missing_pulse_frame_idx)
    np.testing.assert_array_equal(result.spurious_pulse_idx, truth.spurious_pulse_idx)
    error_s = np.abs(result.frame_times_s - truth.frame_times_s)
    assert np.max(error_s[result.frame_has_pulse]) < 0.5e-3
    # frames without a pulse are interpolated in pts between neighbouring pulses
    assert np.max(error_s[~result.frame_has_pulse]) < 0.5e-3
    owner = truth.pulse_frame_idx
    has = result.frame_pulse_idx >= 0
    np.testing.assert_array_equal(owner[result.frame_pulse_idx[has]], np.flatnonzero(has))


def test_lost_pulses_without_drops_are_resolved_by_the_gap_count() -> None:
    truth = simulate_camera(10.0, 100.0, missing_pulse_fraction=0.02, jitter_s=1e-4, seed=4)
    result = align_frames(truth.n_frames, truth.pulse_times_s)
    assert result.policy_applied == "gaps" and result.status == "repaired"
    np.testing.assert_array_equal(result.missing_pulse_frame_idx, truth.missing_pulse_frame_idx)
    assert result.n_dropped == 0
    assert np.max(np.abs(result.frame_times_s - truth.frame_times_s)) < 0.5e-3
    assert "20 frames had no pulse" in " ".join(result.messages)


def test_ambiguous_mismatch_fails_with_counts_and_gap_positions() -> None:
    truth = simulate_camera(
        10.0, 100.0, dropped_frame_fraction=0.01, missing_pulse_fraction=0.01, seed=2
    )
    with pytest.raises(SyncError, match=r"camera has 990 frames but 980 TTL pulses") as info:
        align_frames(truth.n_frames, truth.pulse_times_s, policy="fail")
    message = str(info.value)
    assert "0 removed as spurious, 980 kept" in message
    assert "10 more frames than pulses but 20 empty pulse slots" in message
    first_gap = int(np.flatnonzero(np.diff(truth.pulse_times_s) > 0.015)[0])
    assert f"after pulse {first_gap} at" in message
    assert "frame_pulse_policy = 'repair'" in message


def test_repair_policy_interpolates_and_flags_frames_without_pulse() -> None:
    truth = simulate_camera(
        10.0, 100.0, dropped_frame_fraction=0.01, missing_pulse_fraction=0.01, seed=2
    )
    result = align_frames(truth.n_frames, truth.pulse_times_s, policy="repair")
    assert result.status == "repaired" and result.policy_applied == "repair"
    assert np.count_nonzero(~result.frame_has_pulse) == 10
    assert np.all(np.isfinite(result.frame_times_s))
    assert np.all(np.diff(result.frame_times_s) > 0)
    # interpolated frames lie between their neighbours' pulses
    idx = np.flatnonzero(~result.frame_has_pulse)
    idx = idx[(idx > 0) & (idx < truth.n_frames - 1)]
    times = result.frame_times_s
    assert np.all((times[idx] > times[idx - 1]) & (times[idx] < times[idx + 1]))


def test_warn_policy_warns_and_reports_mismatch() -> None:
    truth = simulate_camera(
        10.0, 100.0, dropped_frame_fraction=0.01, missing_pulse_fraction=0.01, seed=2
    )
    with pytest.warns(DataQualityWarning, match="more frames than pulses"):
        result = align_frames(truth.n_frames, truth.pulse_times_s, policy="warn")
    assert result.status == "mismatch" and result.policy_applied == "warn"


def test_extra_trailing_pulses_are_unassigned_with_pts() -> None:
    truth = simulate_camera(5.0, 100.0, dropped_frame_fraction=0.01, jitter_s=1e-4, seed=1)
    n_saved = truth.n_frames - 7  # recording stopped while the trigger kept running
    result = align_frames(
        n_saved, truth.pulse_times_s, nominal_rate_hz=100.0, frame_pts_s=truth.frame_pts_s[:n_saved]
    )
    assert result.status == "exact"
    np.testing.assert_array_equal(result.unassigned_pulse_idx, np.arange(n_saved, truth.n_frames))
    assert np.max(np.abs(result.frame_times_s - truth.frame_times_s[:n_saved])) < 0.5e-3
    with pytest.raises(SyncError, match="7 more pulses than frames"):
        align_frames(n_saved, truth.pulse_times_s)


def test_first_pulse_lost_is_found_with_pts_and_drops() -> None:
    truth = simulate_camera(5.0, 100.0, dropped_frame_fraction=0.01, jitter_s=1e-4, seed=1)
    result = align_frames(
        truth.n_frames,
        truth.pulse_times_s[1:],
        nominal_rate_hz=100.0,
        frame_pts_s=truth.frame_pts_s,
    )
    assert result.missing_pulse_frame_idx.tolist() == [0]
    np.testing.assert_array_equal(result.dropped_frames, truth.dropped_frame_idx)
    assert abs(result.frame_times_s[0] - truth.frame_times_s[0]) < 0.5e-3


def test_periodic_train_without_drops_cannot_place_a_lost_end_pulse() -> None:
    # first or last pulse lost: a perfectly regular train cannot say which
    truth = simulate_camera(5.0, 100.0, seed=1)
    with pytest.raises(SyncError, match="equally well at several frame shifts"):
        align_frames(truth.n_frames, truth.pulse_times_s[1:], frame_pts_s=truth.frame_pts_s)


def test_chunks_report_local_frame_indices() -> None:
    truth = simulate_camera(10.0, 100.0, dropped_frame_fraction=0.005, seed=7)
    starts = np.array([0, 400, 800])
    result = align_frames(truth.n_frames, truth.pulse_times_s, chunk_starting_frame=starts)
    chunk, local = result.locate(result.dropped_after_frame_idx)
    np.testing.assert_array_equal(starts[chunk] + local, result.dropped_after_frame_idx)
    assert "(chunk " in " ".join(result.messages)
    with pytest.raises(SyncError, match="not increasing from 0"):
        align_frames(truth.n_frames, truth.pulse_times_s, chunk_starting_frame=np.array([5]))


def test_wrong_nominal_rate_warns_and_uses_measured_period() -> None:
    truth = simulate_camera(5.0, 100.0, seed=0)
    with pytest.warns(DataQualityWarning, match="differs from the nominal rate 30 Hz"):
        result = align_frames(truth.n_frames, truth.pulse_times_s, nominal_rate_hz=30.0)
    assert result.period_s == pytest.approx(0.01, abs=1e-9)


def test_input_errors() -> None:
    with pytest.raises(SyncError, match="1 pulse"):
        align_frames(10, np.array([1.0]))
    with pytest.raises(SyncError, match="finite and sorted"):
        align_frames(3, np.array([0.0, 0.02, 0.01]))
    with pytest.raises(SyncError, match="frame_pts_s has 2 timestamps for 3 frames"):
        align_frames(3, np.array([0.0, 0.01, 0.02]), frame_pts_s=np.zeros(2))
    with pytest.raises(SyncError, match="unknown frame/pulse policy"):
        align_frames(3, np.array([0.0, 0.01, 0.02]), policy="ignore")  # type: ignore[arg-type]


def test_declared_clock_helpers() -> None:
    np.testing.assert_allclose(frame_times_from_rate(3, 30.0, 2.0), [2.0, 2.0 + 1 / 30, 2 + 2 / 30])
    pts = np.array([0.0, 0.5, 1.0])
    np.testing.assert_allclose(frame_times_from_video(pts), pts)
    clock = ClockModel.from_offset_drift(10.0, 100.0)
    np.testing.assert_allclose(frame_times_from_video(pts, clock), 10.0 + pts * (1 + 1e-4))
    with pytest.raises(SyncError, match="must be positive"):
        frame_times_from_rate(3, 0.0)


def test_stats_from_frames_is_json_ready() -> None:
    truth = simulate_camera(10.0, 100.0, spurious_pulse_fraction=0.01, seed=7, **GOALS)
    stats = stats_from_frames("camera_0", align_frames(truth.n_frames, truth.pulse_times_s))
    data = stats.to_dict()
    assert data["kind"] == "camera" and data["stream_id"] == "camera_0"
    assert data["dropped_idx"] == truth.dropped_frame_idx.tolist()
    assert data["spurious_idx"] == truth.spurious_pulse_idx.tolist()
    assert data["n_items"] == truth.n_frames and data["n_matched"] == truth.n_frames
    assert 0.0 < data["residual_rms_ms"] < 0.1
    import json

    assert json.loads(json.dumps(data)) == data


@pytest.mark.slow
def test_one_hour_at_150_hz() -> None:
    truth = simulate_camera(3600.0, 150.0, spurious_pulse_fraction=0.01, seed=11, **GOALS)
    started = time.perf_counter()
    result = align_frames(truth.n_frames, truth.pulse_times_s, nominal_rate_hz=150.0)
    elapsed = time.perf_counter() - started
    np.testing.assert_array_equal(result.dropped_frames, truth.dropped_frame_idx)
    assert np.max(np.abs(result.frame_times_s - truth.frame_times_s)) < 0.5e-3
    assert elapsed < 10.0
