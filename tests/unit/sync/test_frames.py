"""Frame alignment against the simulator's ground truth."""

from __future__ import annotations

import itertools
import logging
import warnings

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
CLOCK = dict(drift_ppm=50.0, jitter_s=1e-4)


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


@pytest.mark.parametrize("n_glitches", [3, 25, 60])
def test_a_burst_of_glitch_pulses_is_removed_whole(n_glitches: int) -> None:
    # contact bounce: n extra edges 20 us apart right after one real frame pulse. Each pass
    # removes one pulse of a burst; passes were once capped at 20, leaving the rest as
    # "more pulses than frames".
    frame_s = 1.0 + np.arange(600) / 30.0
    glitches_s = frame_s[300] + np.arange(1, n_glitches + 1) * 20e-6
    pulses_s = np.sort(np.concatenate([frame_s, glitches_s]))
    result = align_frames(600, pulses_s, nominal_rate_hz=30.0)
    np.testing.assert_array_equal(result.spurious_pulse_idx, 301 + np.arange(n_glitches))
    np.testing.assert_array_equal(result.frame_times_s, frame_s)
    assert result.status == "exact" and result.n_dropped == 0


@pytest.mark.parametrize("seed", [0, 5])
def test_goal_lost_pulses_are_told_from_drops_with_pts(seed: int) -> None:
    truth = simulate_camera(
        60.0, 150.0, missing_pulse_fraction=0.02, spurious_pulse_fraction=0.01, seed=seed, **GOALS
    )
    result = align_frames(
        truth.n_frames, truth.pulse_times_s, nominal_rate_hz=150.0, frame_pts_s=truth.frame_pts_s
    )
    assert result.policy_applied == "pts" and result.status == "repaired"
    assert result.pts_used and result.pts_note == ""
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
    expected = r"camera 'cam0' has 990 frames but its TTL channel 'cam0_frame' has 980 pulses"
    with pytest.raises(SyncError, match=expected) as info:
        align_frames(
            truth.n_frames,
            truth.pulse_times_s,
            policy="fail",
            camera_id="cam0",
            ttl_id="cam0_frame",
        )
    message = str(info.value)
    assert "0 removed as spurious, 980 kept" in message
    assert "10 more frames than pulses but 20 empty pulse slots" in message
    first_gap = int(np.flatnonzero(np.diff(truth.pulse_times_s) > 0.015)[0])
    assert f"after pulse {first_gap} at" in message
    assert "frame_pulse_policy = 'repair'" in message
    assert "Container timestamps not used: the video has no container timestamps" in message


def test_repair_policy_interpolates_and_flags_frames_without_pulse() -> None:
    truth = simulate_camera(
        10.0, 100.0, dropped_frame_fraction=0.01, missing_pulse_fraction=0.01, seed=2
    )
    with pytest.warns(DataQualityWarning, match="cannot tell camera drops from lost pulses"):
        result = align_frames(truth.n_frames, truth.pulse_times_s, policy="repair")
    assert result.status == "repaired" and result.policy_applied == "repair"
    # the guess placed every frame: all flagged
    assert np.count_nonzero(~result.frame_has_pulse) == truth.n_frames
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


@pytest.mark.parametrize(("policy", "status"), [("warn", "mismatch"), ("repair", "repaired")])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_guessed_frames_are_not_claimed_to_have_their_pulse(
    policy: str, status: str, seed: int
) -> None:
    # The fault mix without container timestamps: camera drops and lost pulses both
    # leave pulse gaps, so which gaps hold a saved frame is a guess. Every frame the result
    # still says has a pulse must carry that pulse's time (within the jitter).
    truth = simulate_camera(
        60.0, 150.0, missing_pulse_fraction=0.02, spurious_pulse_fraction=0.01, seed=seed, **GOALS
    )
    with pytest.warns(DataQualityWarning, match="cannot tell camera drops from lost pulses"):
        result = align_frames(
            truth.n_frames,
            truth.pulse_times_s,
            nominal_rate_hz=150.0,
            policy=policy,  # type: ignore[arg-type]
            **NAMES,
        )

    assert result.status == status
    # the guess vouches for no frame's pulse: every frame is flagged, none claims a pulse
    assert not result.frame_has_pulse.any()
    np.testing.assert_array_equal(result.frame_pulse_idx, np.full(truth.n_frames, -1))
    assert "no frame is matched to a pulse (frame_has_pulse = False for all" in result.messages[0]
    assert np.all(np.diff(result.frame_times_s) > 0)


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
    # first or last pulse lost: a perfectly regular train cannot say which; its pts (no gap)
    # are evenly spaced, so they are not used and the counts cannot decide either
    truth = simulate_camera(5.0, 100.0, seed=1)
    with pytest.raises(
        SyncError, match="1 more frames than pulses but 0 empty pulse slots"
    ) as info:
        align_frames(truth.n_frames, truth.pulse_times_s[1:], frame_pts_s=truth.frame_pts_s)
    assert "Container timestamps not used: evenly spaced" in str(info.value)


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
    with pytest.raises(SyncError, match=r"camera 'cam0' \(TTL channel 'cam0_frame'\).*1 pulse"):
        align_frames(10, np.array([1.0]), camera_id="cam0", ttl_id="cam0_frame")
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
    # speed is measured in benchmarks/bench_sync.py; here the full-length result must be right
    result = align_frames(truth.n_frames, truth.pulse_times_s, nominal_rate_hz=150.0)
    np.testing.assert_array_equal(result.dropped_frames, truth.dropped_frame_idx)
    assert np.max(np.abs(result.frame_times_s - truth.frame_times_s)) < 0.5e-3


# -- container timestamps that cannot show drops, unsaved frames, chunks ----------------------

NAMES = dict(camera_id="cam0", ttl_id="cam0_frame")


def _chunked_pts(pts_s: np.ndarray, starts: list[int]) -> np.ndarray:
    """Each chunk's pts from its own first frame plus an arbitrary origin, as separate files."""
    out = pts_s.copy()
    bounds = [*starts, pts_s.size]
    for k, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        out[lo:hi] = pts_s[lo:hi] - pts_s[lo] + 17.0 * k
    return out


@pytest.mark.parametrize("policy", ["fail", "warn", "repair"])
def test_constant_rate_pts_are_ignored_and_drops_come_from_pulse_gaps(
    policy: str, caplog: pytest.LogCaptureFixture
) -> None:
    # 1% camera drops (no frame, no pulse), written by a constant-frame-rate container
    truth = simulate_camera(60.0, 150.0, constant_rate_pts=True, seed=1, **GOALS)
    np.testing.assert_array_equal(truth.frame_pts_s, np.arange(truth.n_frames) / 150.0)
    with caplog.at_level(logging.INFO, logger="w2t_bkin.sync.frames"):
        result = align_frames(
            truth.n_frames,
            truth.pulse_times_s,
            nominal_rate_hz=150.0,
            frame_pts_s=truth.frame_pts_s,
            policy=policy,  # type: ignore[arg-type]
            **NAMES,
        )
    assert not result.pts_used and result.pts_note.startswith("evenly spaced")
    assert result.policy_applied == "one_to_one" and result.status == "exact"
    np.testing.assert_array_equal(result.dropped_frames, truth.dropped_frame_idx)
    assert truth.dropped_frame_idx.size == 90
    assert np.max(np.abs(result.frame_times_s - truth.frame_times_s)) <= 1e-4 + 1e-12
    assert "camera 'cam0' (TTL channel 'cam0_frame'): container timestamps not used: evenly " in (
        caplog.text
    )


def test_constant_rate_pts_in_millisecond_ticks_are_evenly_spaced() -> None:
    # 150 Hz in a 1 ms time base: intervals of 6 and 7 ms, still a constant-rate writer
    truth = simulate_camera(10.0, 150.0, dropped_frame_fraction=0.01, seed=2)
    pts = np.rint(np.arange(truth.n_frames) * 1000.0 / 150.0) / 1000.0
    assert set(np.round(np.diff(pts) * 1e3).tolist()) == {6.0, 7.0}
    result = align_frames(truth.n_frames, truth.pulse_times_s, frame_pts_s=pts)
    assert not result.pts_used
    np.testing.assert_array_equal(result.dropped_frames, truth.dropped_frame_idx)
    # the same time base with the gaps of a variable-frame-rate writer is used
    vfr = np.rint(truth.frame_pts_s * 1000.0) / 1000.0
    result = align_frames(truth.n_frames, truth.pulse_times_s, frame_pts_s=vfr)
    assert result.pts_used and result.policy_applied == "pts"
    np.testing.assert_array_equal(result.dropped_frames, truth.dropped_frame_idx)


@pytest.mark.parametrize("seed", [0, 5])
def test_variable_rate_pts_showing_lost_pulses_are_used(seed: int) -> None:
    truth = simulate_camera(
        60.0, 150.0, missing_pulse_fraction=0.02, spurious_pulse_fraction=0.01, seed=seed, **GOALS
    )
    result = align_frames(
        truth.n_frames,
        truth.pulse_times_s,
        nominal_rate_hz=150.0,
        frame_pts_s=truth.frame_pts_s,
        **NAMES,
    )
    assert result.pts_used and result.policy_applied == "pts"
    np.testing.assert_array_equal(result.missing_pulse_frame_idx, truth.missing_pulse_frame_idx)
    np.testing.assert_array_equal(result.dropped_frames, truth.dropped_frame_idx)
    assert np.all(result.dropped_pulse_idx == -1)  # camera drops: no pulse either
    assert np.max(np.abs(result.frame_times_s - truth.frame_times_s)) < 0.5e-3


@pytest.mark.parametrize("policy", ["fail", "warn", "repair"])
@pytest.mark.parametrize("pts", ["none", "constant"])
def test_unsaved_frames_without_informative_pts_fail_under_every_policy(
    policy: str, pts: str
) -> None:
    # the host dropped 1% of the frames after their pulse was recorded: 90 more pulses
    truth = simulate_camera(60.0, 150.0, unsaved_frame_fraction=0.01, seed=2, **CLOCK)
    assert (truth.n_frames, truth.n_pulses) == (8910, 9000)
    frame_pts = None if pts == "none" else np.arange(truth.n_frames) / 150.0
    with pytest.raises(SyncError) as info:
        align_frames(
            truth.n_frames,
            truth.pulse_times_s,
            nominal_rate_hz=150.0,
            frame_pts_s=frame_pts,
            policy=policy,  # type: ignore[arg-type]
            **NAMES,
        )
    error = info.value
    assert error.message.startswith(
        "camera 'cam0' has 8910 frames but its TTL channel 'cam0_frame' has 9000 pulses "
        "(0 removed as spurious, 9000 kept): 90 more pulses than frames"
    )
    why = "the video has no container timestamps" if pts == "none" else "evenly spaced"
    assert f"Container timestamps not used: {why}" in error.message
    assert error.hint is not None
    assert "no frame_pulse_policy can tell which" in error.hint
    assert "timestamps show the missing frames" in error.hint
    assert "TTL file holding only the pulses recorded while the video was" in error.hint


@pytest.mark.parametrize("seed", [2, 3])
def test_unsaved_frames_are_placed_by_informative_pts(seed: int) -> None:
    truth = simulate_camera(60.0, 150.0, drift_ppm=50.0, unsaved_frame_fraction=0.01, seed=seed)
    result = align_frames(
        truth.n_frames,
        truth.pulse_times_s,
        nominal_rate_hz=150.0,
        frame_pts_s=truth.frame_pts_s,
        **NAMES,
    )
    assert result.pts_used and result.status == "exact"
    # no jitter: every saved frame gets its own pulse, exactly
    assert np.max(np.abs(result.frame_times_s - truth.frame_times_s)) < 1e-9
    np.testing.assert_array_equal(result.dropped_frames, truth.unsaved_frame_idx)
    np.testing.assert_array_equal(result.dropped_pulse_idx, truth.unsaved_pulse_idx)
    np.testing.assert_array_equal(result.unassigned_pulse_idx, truth.unsaved_pulse_idx)
    assert "dropped 90 frames (90 acquired with a pulse but not saved)" in result.messages[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_goal_every_fault_with_informative_pts(seed: int) -> None:
    truth = simulate_camera(
        60.0,
        150.0,
        missing_pulse_fraction=0.02,
        spurious_pulse_fraction=0.01,
        unsaved_frame_fraction=0.01,
        seed=seed,
        **GOALS,
    )
    result = align_frames(
        truth.n_frames, truth.pulse_times_s, nominal_rate_hz=150.0, frame_pts_s=truth.frame_pts_s
    )
    np.testing.assert_array_equal(result.dropped_frames, truth.missing_frame_idx)
    np.testing.assert_array_equal(result.missing_pulse_frame_idx, truth.missing_pulse_frame_idx)
    np.testing.assert_array_equal(result.spurious_pulse_idx, truth.spurious_pulse_idx)
    unsaved = np.isin(result.dropped_frames, truth.unsaved_frame_idx)
    np.testing.assert_array_equal(result.dropped_pulse_idx[unsaved], truth.unsaved_pulse_idx)
    assert np.all(result.dropped_pulse_idx[~unsaved] == -1)
    assert np.max(np.abs(result.frame_times_s - truth.frame_times_s)) < 0.5e-3


@pytest.mark.parametrize("policy", ["fail", "warn", "repair"])
def test_pts_that_fit_several_shifts_fail_under_every_policy(policy: str) -> None:
    # unsaved frames at both ends: the video's pattern slides one pulse either way
    truth = simulate_camera(5.0, 100.0, unsaved_frame_fraction=0.01, seed=4)
    saved = slice(1, truth.n_frames - 1)
    with pytest.raises(SyncError, match="equally well at several frame shifts") as info:
        align_frames(
            truth.n_frames - 2,
            truth.pulse_times_s,
            frame_pts_s=truth.frame_pts_s[saved],
            policy=policy,  # type: ignore[arg-type]
            **NAMES,
        )
    assert "first frame on pulse slot 0, 1, 2" in info.value.message
    assert "Container timestamps used" in info.value.message
    assert info.value.hint is not None and "no frame_pulse_policy can" in info.value.hint


def test_pts_that_leave_most_frames_without_a_pulse_do_not_match() -> None:
    # the TTL recording stopped early: pulses for the first 40% of the video only
    truth = simulate_camera(10.0, 100.0, dropped_frame_fraction=0.02, seed=1)
    pulses = truth.pulse_times_s[: int(0.4 * truth.n_pulses)]
    with pytest.raises(SyncError, match="best placement puts only 392 of 980 frames on a pulse"):
        align_frames(truth.n_frames, pulses, frame_pts_s=truth.frame_pts_s, **NAMES)


def test_chunk_pts_are_used_with_unknown_time_between_chunks() -> None:
    truth = simulate_camera(
        60.0,
        150.0,
        missing_pulse_fraction=0.02,
        spurious_pulse_fraction=0.01,
        unsaved_frame_fraction=0.005,
        seed=0,
        **GOALS,
    )
    starts = [0, 3000, 6000]
    result = align_frames(
        truth.n_frames,
        truth.pulse_times_s,
        nominal_rate_hz=150.0,
        frame_pts_s=_chunked_pts(truth.frame_pts_s, starts),
        chunk_starting_frame=np.array(starts),
        **NAMES,
    )
    assert result.pts_used and result.policy_applied == "pts"
    np.testing.assert_array_equal(result.frame_slot, truth.frame_nominal_idx)
    np.testing.assert_array_equal(result.missing_pulse_frame_idx, truth.missing_pulse_frame_idx)
    # a position missing at a chunk boundary is a gap between chunks, the rest are drops
    edge = np.isin(truth.missing_frame_idx, truth.frame_nominal_idx[np.array(starts[1:])] - 1)
    np.testing.assert_array_equal(result.dropped_frames, truth.missing_frame_idx[~edge])
    assert np.max(np.abs(result.frame_times_s - truth.frame_times_s)) < 0.5e-3
    # without the pts the same data are ambiguous
    with pytest.raises(SyncError, match=r"more (pulses than frames|frames than pulses)"):
        align_frames(truth.n_frames, truth.pulse_times_s, chunk_starting_frame=np.array(starts))


def test_chunk_without_gaps_is_placed_by_the_order_of_chunks() -> None:
    # chunk 0 has no drop (its own pts fit anywhere), chunk 1 has three: counts are equal
    truth = simulate_camera(20.0, 150.0, seed=5, **CLOCK)
    keep = np.ones(truth.n_frames, dtype=bool)
    keep[[1500, 1700, 2200]] = False  # camera drops: frame and pulse gone
    pts = _chunked_pts(truth.frame_pts_s[keep], [0, 1000])
    result = align_frames(
        int(keep.sum()),
        truth.pulse_times_s[keep],
        frame_pts_s=pts,
        chunk_starting_frame=np.array([0, 1000]),
    )
    assert result.pts_used and result.status == "exact"
    np.testing.assert_array_equal(result.dropped_frames, [1500, 1700, 2200])
    assert np.max(np.abs(result.frame_times_s - truth.frame_times_s[keep])) <= 1e-4 + 1e-12


def test_chunk_without_gaps_sliding_over_extra_pulses_is_ambiguous() -> None:
    truth = simulate_camera(20.0, 150.0, seed=6)
    keep = np.ones(truth.n_frames, dtype=bool)
    keep[[200, 600, 900]] = False  # camera drops in chunk 0 only
    keep[-5:] = False  # the trigger ran on after the recording stopped: 5 more pulses
    n_saved, start = int(keep.sum()), 1500
    pulses = np.delete(truth.pulse_times_s, [200, 600, 900])  # the 5 trailing pulses stay
    pts = _chunked_pts(truth.frame_pts_s[keep], [0, start])
    for policy in ("fail", "repair"):
        with pytest.raises(SyncError, match="several placements of the chunks"):
            align_frames(
                n_saved,
                pulses,
                frame_pts_s=pts,
                chunk_starting_frame=np.array([0, start]),
                policy=policy,  # type: ignore[arg-type]
                **NAMES,
            )


@pytest.mark.parametrize("with_pts", [False, True])
def test_pause_between_chunks_is_not_reported_as_dropped_frames(with_pts: bool) -> None:
    truth = simulate_camera(20.0, 150.0, seed=4, **GOALS)
    k = 1000  # the camera stopped for 10 s before the second file
    times = truth.frame_times_s.copy()
    times[k:] += 10.0
    pulses = truth.pulse_times_s.copy()
    pulses[truth.pulse_frame_idx >= k] += 10.0
    result = align_frames(
        truth.n_frames,
        pulses,
        nominal_rate_hz=150.0,
        frame_pts_s=_chunked_pts(truth.frame_pts_s, [0, k]) if with_pts else None,
        chunk_starting_frame=np.array([0, k]),
        **NAMES,
    )
    assert result.status == "exact" and result.pts_used == with_pts
    np.testing.assert_array_equal(result.chunk_gap_after_frame_idx, [k - 1])
    # 10 s plus the usual period at 150 Hz (50 ppm slow): 1500 periods without a frame
    assert result.chunk_gap_periods.tolist() == [1500]
    assert result.n_dropped == truth.dropped_frame_idx.size
    before = result.dropped_frames < truth.frame_nominal_idx[k]
    np.testing.assert_array_equal(
        np.where(before, result.dropped_frames, result.dropped_frames - 1500),
        truth.dropped_frame_idx,
    )
    assert np.max(np.abs(result.frame_times_s - times)) <= 1e-4 + 1e-9
    pause = [m for m in result.messages if "paused between video chunks" in m]
    gap_s = result.frame_times_s[k] - result.frame_times_s[k - 1]
    assert pause == [
        "camera 'cam0' paused between video chunks (not counted as dropped frames): "
        f"{gap_s:.6g} s (1500 trigger periods without a frame) between chunk 0 and 1 "
        f"(after frame {k - 1})"
    ]


def test_log_lines_name_the_camera(caplog: pytest.LogCaptureFixture) -> None:
    truth = simulate_camera(10.0, 100.0, spurious_pulse_fraction=0.01, seed=7, **GOALS)
    with caplog.at_level(logging.INFO, logger="w2t_bkin.sync.frames"):
        result = align_frames(truth.n_frames, truth.pulse_times_s, **NAMES)
    assert result.n_dropped == 10
    assert "camera 'cam0' dropped 10 frames in " in caplog.text
    assert "camera 'cam0' (TTL channel 'cam0_frame'): 10 spurious pulses removed" in caplog.text


# -- frame counter -------------------------------------------------------------------------------

#: the IBL body camera's counter starts here: the camera ran before the video was saved
COUNTER_START = 16696704


def _counter(truth) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Embedded frame counter of the saved frames (no camera drops: one per trigger period)."""
    assert truth.dropped_frame_idx.size == 0
    return (truth.frame_nominal_idx + COUNTER_START).astype(np.int64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_goal_frame_counter_resolves_unsaved_frames_lost_and_spurious_pulses(seed: int) -> None:
    truth = simulate_camera(
        60.0,
        150.0,
        drift_ppm=50.0,
        jitter_s=1e-4,
        unsaved_frame_fraction=0.01,
        missing_pulse_fraction=0.02,
        spurious_pulse_fraction=0.01,
        seed=seed,
    )
    assert truth.unsaved_frame_idx.size == 90 and truth.missing_pulse_frame_idx.size > 100
    # without the counter, more pulses than frames cannot be placed
    with pytest.raises(SyncError, match="cannot tell camera drops from lost pulses"):
        align_frames(truth.n_frames, truth.pulse_times_s, nominal_rate_hz=150.0)

    result = align_frames(
        truth.n_frames,
        truth.pulse_times_s,
        nominal_rate_hz=150.0,
        frame_counter=_counter(truth),
        camera_id="body",
    )
    assert result.policy_applied == "frame_counter" and result.counter_used
    assert not result.pts_used
    np.testing.assert_array_equal(result.frame_slot, truth.frame_nominal_idx)
    # every unsaved frame reported by its position, with the pulse it left behind
    np.testing.assert_array_equal(result.dropped_frames, truth.unsaved_frame_idx)
    np.testing.assert_array_equal(result.dropped_pulse_idx, truth.unsaved_pulse_idx)
    np.testing.assert_array_equal(result.missing_pulse_frame_idx, truth.missing_pulse_frame_idx)
    np.testing.assert_array_equal(result.spurious_pulse_idx, truth.spurious_pulse_idx)
    has = result.frame_has_pulse
    np.testing.assert_array_equal(
        truth.pulse_frame_idx[result.frame_pulse_idx[has]], np.flatnonzero(has)
    )
    error_s = np.abs(result.frame_times_s - truth.frame_times_s)
    assert np.max(error_s[has]) <= 1e-4 + 1e-12  # the jitter: each frame has its own pulse
    assert np.max(error_s[~has]) < 0.5e-3
    assert any("frames placed by the camera's embedded frame counter" in m for m in result.messages)


def test_frame_counter_takes_precedence_over_agreeing_pts() -> None:
    truth = simulate_camera(
        20.0, 150.0, unsaved_frame_fraction=0.01, missing_pulse_fraction=0.01, seed=7
    )
    result = align_frames(
        truth.n_frames,
        truth.pulse_times_s,
        nominal_rate_hz=150.0,
        frame_pts_s=truth.frame_pts_s,
        frame_counter=_counter(truth),
    )
    assert result.policy_applied == "frame_counter" and result.counter_used
    assert not result.pts_used and result.pts_note == "the frame counter placed the frames"
    np.testing.assert_array_equal(result.dropped_frames, truth.unsaved_frame_idx)
    assert np.max(np.abs(result.frame_times_s - truth.frame_times_s)) < 1e-9


def test_frame_counter_disagreeing_with_pts_names_the_camera() -> None:
    # camera drops: the pts (camera clock) show them, the counter of acquired frames does not
    truth = simulate_camera(20.0, 150.0, dropped_frame_fraction=0.01, seed=2)
    counter = np.arange(truth.n_frames, dtype=np.int64) + 5
    counter[-10:] += 1  # one unsaved frame, so that the counter is used
    first_drop = int(np.flatnonzero(np.diff(truth.frame_nominal_idx) > 1)[0]) + 1
    assert first_drop < truth.n_frames - 10
    with pytest.raises(SyncError) as exc:
        align_frames(
            truth.n_frames,
            truth.pulse_times_s,
            nominal_rate_hz=150.0,
            frame_pts_s=truth.frame_pts_s,
            frame_counter=counter,
            camera_id="body",
        )
    assert exc.value.message == (
        "camera 'body': its frame counter and its container timestamps disagree in video "
        f"chunk 0: frame {first_drop} is {first_drop} frames after the chunk's first frame by "
        f"the counter but {truth.frame_nominal_idx[first_drop]} trigger periods after it by the "
        "timestamps"
    )


def test_frame_counter_cannot_tell_camera_drops_from_lost_pulses() -> None:
    # triggers the camera missed leave empty pulse slots that the counter does not count
    truth = simulate_camera(
        20.0, 150.0, dropped_frame_fraction=0.01, missing_pulse_fraction=0.01, seed=4
    )
    counter = np.arange(truth.n_frames, dtype=np.int64)
    counter[1000:] += 2  # two frames acquired but not saved (their pulses are not recorded)
    n_periods = int(truth.frame_nominal_idx[-1]) + 1
    with pytest.raises(SyncError) as exc:
        align_frames(
            truth.n_frames,
            truth.pulse_times_s,
            nominal_rate_hz=150.0,
            frame_counter=counter,
            policy="repair",
            camera_id="body",
            ttl_id="body_ttl",
        )
    message = exc.value.message
    assert message.startswith(
        f"camera 'body' has {truth.n_frames} frames but its TTL channel 'body_ttl' has "
        f"{truth.n_pulses} pulses (0 removed as spurious, {truth.n_pulses} kept): the frame "
        f"counter counts {truth.n_frames + 2} acquired frames from the first saved frame to the "
        f"last (2 of them not saved) but the pulses span {n_periods} trigger periods "
        f"({n_periods - truth.n_pulses} without a pulse): the counter does not count triggers "
        "the camera missed (camera drops)"
    )
    assert "Container timestamps not used: the frame counter placed the frames" in message
    assert "use a TTL file holding only the pulses recorded while the video was" in (
        exc.value.hint or ""
    )


def test_frame_counter_cannot_place_a_video_inside_a_longer_pulse_train() -> None:
    truth = simulate_camera(10.0, 150.0, unsaved_frame_fraction=0.01, seed=1)
    # the pulse train went on before the video started and after it stopped
    period = 1.0 / 150.0
    before = truth.pulse_times_s[0] - period * np.arange(20, 0, -1)
    after = truth.pulse_times_s[-1] + period * np.arange(1, 21)
    pulses = np.concatenate([before, truth.pulse_times_s, after])
    with pytest.raises(SyncError, match="but the pulses span 1540 trigger periods"):
        align_frames(truth.n_frames, pulses, nominal_rate_hz=150.0, frame_counter=_counter(truth))


def test_frame_counter_restarting_between_chunks_is_refused() -> None:
    truth = simulate_camera(10.0, 150.0, unsaved_frame_fraction=0.01, seed=1)
    counter = _counter(truth)
    counter[700:] -= counter[700] - 3  # the camera restarted with the second file
    with pytest.raises(SyncError, match=r"the frame counter restarts at frame 700, the first of"):
        align_frames(
            truth.n_frames,
            truth.pulse_times_s,
            frame_counter=counter,
            chunk_starting_frame=np.array([0, 700]),
        )


def test_gapless_frame_counter_leaves_drops_to_the_counts() -> None:
    truth = simulate_camera(20.0, 150.0, dropped_frame_fraction=0.01, jitter_s=1e-4, seed=3)
    counter = np.arange(truth.n_frames, dtype=np.int64) + COUNTER_START
    result = align_frames(
        truth.n_frames, truth.pulse_times_s, nominal_rate_hz=150.0, frame_counter=counter
    )
    assert result.policy_applied == "one_to_one" and result.counter_used
    np.testing.assert_array_equal(result.dropped_frames, truth.dropped_frame_idx)
    assert np.max(np.abs(result.frame_times_s - truth.frame_times_s)) <= 1e-4 + 1e-12
    assert any("frame counter shows no unsaved frame" in m for m in result.messages)


def test_frame_counter_input_errors() -> None:
    pulses = np.arange(10) / 100.0
    with pytest.raises(SyncError, match=r"the frame counter has 9 values for 10 frames"):
        align_frames(10, pulses, frame_counter=np.arange(9))
    with pytest.raises(SyncError, match="the frame counter must hold integers, got float64"):
        align_frames(10, pulses, frame_counter=np.arange(10.0))
    counter = np.array([0, 1, 2, 3, 3, 5, 6, 7, 8, 9])
    with pytest.raises(
        SyncError,
        match="does not increase within a video chunk: frame 3 has counter 3, frame 4 has 3",
    ):
        align_frames(10, pulses, frame_counter=counter)


@pytest.mark.parametrize("seed", range(8))
def test_pts_placement_that_barely_wins_is_an_error_not_a_guess(seed: int) -> None:
    # Heavy faults (5% lost pulses, 5% unsaved frames) and 15 pulses after the video: a shifted
    # placement can put almost as many frames on pulses as the true one. No frame may then be
    # claimed to carry its pulse with a wrong time: either every such frame is right, or the
    # alignment refuses.
    truth = simulate_camera(
        20.0,
        150.0,
        dropped_frame_fraction=0.005,
        missing_pulse_fraction=0.05,
        spurious_pulse_fraction=0.02,
        unsaved_frame_fraction=0.05,
        seed=seed,
    )
    after = truth.pulse_times_s[-1] + np.arange(1, 16) / 150.0
    pulses = np.concatenate([truth.pulse_times_s, after])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            result = align_frames(
                truth.n_frames,
                pulses,
                nominal_rate_hz=150.0,
                frame_pts_s=truth.frame_pts_s,
                policy="warn",
                **NAMES,
            )
    except SyncError as error:
        assert "almost as well" in error.message or "equally well" in error.message
        return
    error_s = np.abs(result.frame_times_s - truth.frame_times_s)[result.frame_has_pulse]
    assert error_s.max() < 0.5e-3
