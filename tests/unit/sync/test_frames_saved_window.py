"""``saved_frames``: pulses the DAQ recorded before the video started or after it stopped.

Ground truth comes from the simulator's ``unsaved_leading_frames`` / ``unsaved_trailing_frames``:
those frames were acquired (their pulse recorded, on the frame grid) but never written.
"""

from __future__ import annotations

import numpy as np
import pytest

from w2t_bkin.errors import DataQualityWarning, SyncError
from w2t_bkin.sync import stats_for_camera
from w2t_bkin.sync.frames import FrameAlignment, SavedFrames, align_frames
from w2t_bkin.testing.simulate import CameraTruth, simulate_camera

NAMES = dict(camera_id="cam0", ttl_id="cam0_frame")
CLOCK = dict(drift_ppm=50.0, jitter_s=1e-4)
WHO = "camera 'cam0' (TTL channel 'cam0_frame')"
POLICIES = ["fail", "warn", "repair"]


def _camera(lead: int = 0, trail: int = 0, **faults: float) -> CameraTruth:
    return simulate_camera(
        20.0, 150.0, unsaved_leading_frames=lead, unsaved_trailing_frames=trail, **CLOCK, **faults
    )


def _pts(truth: CameraTruth, kind: str) -> np.ndarray | None:
    """No pts, a constant-rate container's (uninformative), or the camera's (gaps shown)."""
    if kind == "none":
        return None
    if kind == "constant":
        return np.arange(truth.n_frames) / 150.0
    return truth.frame_pts_s


def _align(truth: CameraTruth, saved: SavedFrames | None, pts: str, **kw: object) -> FrameAlignment:
    return align_frames(
        truth.n_frames,
        truth.pulse_times_s,
        nominal_rate_hz=150.0,
        frame_pts_s=_pts(truth, pts),
        saved_frames=saved,
        **NAMES,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def _own_pulse(truth: CameraTruth) -> np.ndarray:
    """``(n_frames,) int64``: the recorded pulse of every saved frame (-1 where it was lost)."""
    own = np.full(truth.n_frames, -1, dtype=np.int64)
    real = truth.pulse_frame_idx >= 0
    own[truth.pulse_frame_idx[real]] = np.flatnonzero(real)
    return own


def _assert_exact(result: FrameAlignment, truth: CameraTruth) -> None:
    """Every frame on its own pulse: the recorded time, within the jitter of the true time."""
    own = _own_pulse(truth)
    np.testing.assert_array_equal(result.frame_pulse_idx, own)
    np.testing.assert_array_equal(result.frame_times_s, truth.pulse_times_s[own])
    assert np.max(np.abs(result.frame_times_s - truth.frame_times_s)) <= 1e-4
    np.testing.assert_array_equal(result.dropped_frames, truth.missing_frame_idx)
    np.testing.assert_array_equal(result.unassigned_pulse_idx, truth.unsaved_pulse_idx)


def test_the_simulator_records_the_pulses_of_unsaved_frames_at_both_ends() -> None:
    truth = _camera(lead=5, trail=3, dropped_frame_fraction=0.01)
    assert (truth.n_frames, truth.n_pulses) == (2962, 2970)  # 3000 - 30 drops - 8 unsaved
    np.testing.assert_array_equal(truth.unsaved_pulse_idx, [0, 1, 2, 3, 4, 2967, 2968, 2969])
    assert truth.frame_pts_s[0] == 0.0  # the video's clock starts at its first saved frame
    # frames outside the saved span are not dropped frames of the video
    assert truth.missing_frame_idx.size == np.count_nonzero(
        (truth.dropped_frame_idx > truth.frame_nominal_idx[0])
        & (truth.dropped_frame_idx < truth.frame_nominal_idx[-1])
    )


@pytest.mark.parametrize("policy", POLICIES)
def test_without_a_declaration_leading_unsaved_pulses_are_refused_as_before(policy: str) -> None:
    truth = _camera(lead=4)
    with pytest.raises(SyncError) as info:
        _align(truth, None, "none", policy=policy)
    assert info.value.message == (
        "camera 'cam0' has 2996 frames but its TTL channel 'cam0_frame' has 3000 pulses "
        "(0 removed as spurious, 3000 kept): 4 more pulses than frames after removing spurious "
        "pulses, and nothing says which pulses have no saved frame. Container timestamps not "
        "used: the video has no container timestamps. Pulse gaps: none"
    )
    assert "declare them with the camera's saved_frames" in (info.value.hint or "")


@pytest.mark.parametrize("pts", ["none", "constant", "camera"])
@pytest.mark.parametrize("seed", [0, 1])
def test_declared_leading_pulses_give_the_true_frame_times(pts: str, seed: int) -> None:
    truth = _camera(lead=7, dropped_frame_fraction=0.01, seed=seed)
    result = _align(truth, SavedFrames(skip_leading_pulses=7), pts)
    _assert_exact(result, truth)
    np.testing.assert_array_equal(result.declared_unsaved_pulse_idx, np.arange(7))
    assert (result.status, result.n_pulses, result.n_frames) == ("exact", truth.n_pulses, 2963)
    checked = {
        "none": "the counts only; container timestamps not used: the video has no container "
        "timestamps",
        "constant": "the counts only; container timestamps not used: evenly spaced",
        "camera": "the container timestamps",
    }[pts]
    first = truth.pulse_times_s[7]
    note = next(m for m in result.messages if "saved_frames" in m)
    assert note.startswith(
        f"{WHO}: saved_frames = {{ skip_leading_pulses = 7 }}: 7 pulses before the first saved "
        f"frame (from {truth.pulse_times_s[0]:.6f} s to {truth.pulse_times_s[6]:.6f} s) have no "
        f"saved frame; the frames are placed on the {truth.n_pulses - 7} pulses from "
        f"{first:.6f} s to {truth.pulse_times_s[-1]:.6f} s (checked against {checked}"
    )
    # the QC table and alignment_stats.json get the choice: unassigned pulses and the note
    row = stats_for_camera("cam0", result)
    np.testing.assert_array_equal(row.unassigned_idx, np.arange(7))
    assert note in (row.notes or "")


@pytest.mark.parametrize("pts", ["none", "camera"])
def test_declared_trailing_pulses_give_the_true_frame_times(pts: str) -> None:
    truth = _camera(trail=3, dropped_frame_fraction=0.01, seed=2)
    result = _align(truth, SavedFrames(skip_trailing_pulses=3), pts)
    _assert_exact(result, truth)
    n = truth.n_pulses
    np.testing.assert_array_equal(result.declared_unsaved_pulse_idx, [n - 3, n - 2, n - 1])
    times = ", ".join(f"{t:.6f}" for t in truth.pulse_times_s[-3:])
    assert any(
        m.startswith(
            f"{WHO}: saved_frames = {{ skip_trailing_pulses = 3 }}: 3 pulses after the last "
            f"(at {times} s) have no saved frame"
        )
        for m in result.messages
    )


@pytest.mark.parametrize("pts", ["none", "camera"])
def test_a_time_window_on_the_ttl_clock_selects_the_saved_frames_pulses(pts: str) -> None:
    truth = _camera(lead=4, trail=2, dropped_frame_fraction=0.01, seed=3)
    t = truth.pulse_times_s
    window = SavedFrames(pulses_from_s=(t[3] + t[4]) / 2, pulses_to_s=(t[-3] + t[-2]) / 2)
    result = _align(truth, window, pts)
    _assert_exact(result, truth)
    np.testing.assert_array_equal(result.declared_unsaved_pulse_idx, truth.unsaved_pulse_idx)


def test_video_chunks_each_placed_by_their_own_timestamps_after_the_declared_pulses() -> None:
    truth = _camera(lead=4, trail=1, dropped_frame_fraction=0.01, seed=11)
    starts = np.array([0, 1000, 2000])
    ends = np.append(starts[1:], truth.n_frames)
    # each file's timestamps start at its own first frame: the time between files is unknown
    pts = np.concatenate(
        [truth.frame_pts_s[a:b] - truth.frame_pts_s[a] for a, b in zip(starts, ends, strict=True)]
    )
    result = align_frames(
        truth.n_frames,
        truth.pulse_times_s,
        nominal_rate_hz=150.0,
        frame_pts_s=pts,
        chunk_starting_frame=starts,
        saved_frames=SavedFrames(skip_leading_pulses=4, skip_trailing_pulses=1),
        **NAMES,  # type: ignore[arg-type]
    )
    assert result.pts_used
    own = _own_pulse(truth)
    np.testing.assert_array_equal(result.frame_pulse_idx, own)
    np.testing.assert_array_equal(result.frame_times_s, truth.pulse_times_s[own])
    np.testing.assert_array_equal(result.unassigned_pulse_idx, truth.unsaved_pulse_idx)


def test_pulses_are_counted_on_the_frame_grid_after_removing_spurious_ones() -> None:
    truth = _camera(lead=5, trail=2, spurious_pulse_fraction=0.01, seed=4)
    assert truth.spurious_pulse_idx.size == 30
    result = _align(truth, SavedFrames(skip_leading_pulses=5, skip_trailing_pulses=2), "none")
    np.testing.assert_array_equal(result.spurious_pulse_idx, truth.spurious_pulse_idx)
    _assert_exact(result, truth)


def test_inner_unsaved_frames_and_declared_ends_with_camera_timestamps() -> None:
    truth = _camera(lead=6, unsaved_frame_fraction=0.005, dropped_frame_fraction=0.01, seed=5)
    result = _align(truth, SavedFrames(skip_leading_pulses=6), "camera")
    _assert_exact(result, truth)
    # an inner unsaved frame is a dropped frame whose pulse exists; the declared ones are not
    inner = truth.unsaved_pulse_idx[6:]
    assert inner.size == 15
    assert set(inner) <= set(result.dropped_pulse_idx)
    assert not set(range(6)) & set(result.dropped_pulse_idx)


def test_the_frame_counter_checks_the_declaration_too() -> None:
    truth = _camera(lead=3, trail=2, unsaved_frame_fraction=0.005, seed=6)
    counter = truth.frame_nominal_idx + 1000  # no camera drops: the counter counts positions
    with pytest.raises(SyncError, match="the pulses span 3000 trigger periods"):
        _align(truth, None, "none", frame_counter=counter)
    declared = SavedFrames(skip_leading_pulses=3, skip_trailing_pulses=2)
    result = _align(truth, declared, "none", frame_counter=counter)
    _assert_exact(result, truth)
    assert result.counter_used
    assert any("(checked against the camera's frame counter)" in m for m in result.messages)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("pts", ["none", "camera"])
@pytest.mark.parametrize("wrong", [-2, -1, 1, 3])
def test_a_wrong_count_is_refused_under_every_policy_naming_the_count_that_fits(
    policy: str, pts: str, wrong: int
) -> None:
    truth = _camera(lead=5, dropped_frame_fraction=0.01, seed=7)  # drops: informative pts
    declared = 5 + wrong
    with pytest.raises(SyncError) as info:
        _align(truth, SavedFrames(skip_leading_pulses=declared), pts, policy=policy)
    error = info.value
    t = truth.pulse_times_s
    checked = (
        "the counts only; container timestamps not used: the video has no container timestamps"
        if pts == "none"
        else "the container timestamps"
    )
    assert error.message.startswith(
        f"{WHO}: saved_frames = {{ skip_leading_pulses = {declared} }} does not fit the video's "
        f"2965 frames: it leaves the {2970 - declared} pulses from {t[declared]:.6f} s to "
        f"{t[-1]:.6f} s of the 2970 on the frame grid for the saved frames, and "
    )
    assert error.message.endswith(
        f"(checked against {checked}). saved_frames = {{ skip_leading_pulses = 5 }} (the 2965 "
        f"pulses from {t[5]:.6f} s to {t[-1]:.6f} s) fits"
    )
    assert error.hint == (
        "declare saved_frames = { skip_leading_pulses = 5 } for camera 'cam0' if that matches "
        "the recording; otherwise check that the camera's ttl_id is its frame-trigger channel"
    )
    assert error.exit_code == 5


def test_a_wrong_window_is_refused_naming_a_window_that_fits() -> None:
    truth = _camera(lead=4, seed=8)
    t = truth.pulse_times_s
    with pytest.raises(SyncError) as info:
        _align(truth, SavedFrames(pulses_from_s=(t[2] + t[3]) / 2), "none")
    # the suggested bound lies half way between the last skipped and the first saved pulse
    suggested = round(float(t[3] + t[4]) / 2, 6)
    assert info.value.message.endswith(
        f"saved_frames = {{ pulses_from_s = {suggested!r} }} (the 2996 pulses from "
        f"{t[4]:.6f} s to {t[-1]:.6f} s) fits"
    )
    result = _align(truth, SavedFrames(pulses_from_s=suggested), "none")
    _assert_exact(result, truth)


def test_timestamps_that_disagree_with_a_count_that_fits_are_detected() -> None:
    # 4 before and 2 after; declaring 3 and 3 leaves as many pulses as frames: the counts
    # cannot tell, the camera's timestamps (its drops are in both pulses and video) can
    truth = _camera(lead=4, trail=2, dropped_frame_fraction=0.01, seed=9)
    shifted = SavedFrames(skip_leading_pulses=3, skip_trailing_pulses=3)
    accepted = _align(truth, shifted, "none")
    assert any("(checked against the counts only;" in m for m in accepted.messages)
    with pytest.raises(SyncError) as info:
        _align(truth, shifted, "camera")
    t = truth.pulse_times_s
    assert info.value.message == (
        f"{WHO}: saved_frames = {{ skip_leading_pulses = 3, skip_trailing_pulses = 3 }} does not "
        f"fit the video's 2964 frames: it leaves the 2964 pulses from {t[3]:.6f} s to "
        f"{t[-4]:.6f} s of the 2970 on the frame grid for the saved frames, and the video's "
        "first frame belongs 1 pulse after the first of them; the video's last frame belongs 1 "
        "pulse after the last of them (checked against the container timestamps). saved_frames "
        f"= {{ skip_leading_pulses = 4, skip_trailing_pulses = 2 }} (the 2964 pulses from "
        f"{t[4]:.6f} s to {t[-3]:.6f} s) fits"
    )


@pytest.mark.parametrize("policy", ["warn", "repair"])
def test_a_true_declaration_leaves_an_unplaceable_shortfall_to_the_policy(policy: str) -> None:
    # camera drops and lost pulses mixed, no informative pts: as without a declaration
    truth = _camera(lead=3, dropped_frame_fraction=0.01, missing_pulse_fraction=0.005, seed=10)
    declared = SavedFrames(skip_leading_pulses=3)
    with pytest.raises(SyncError, match="No declaration within 3 pulses of it fits either"):
        _align(truth, declared, "none", policy="fail")
    with pytest.warns(DataQualityWarning, match="frame/pulse mismatch resolved by policy"):
        result = _align(truth, declared, "none", policy=policy)
    assert result.policy_applied == policy
    np.testing.assert_array_equal(result.declared_unsaved_pulse_idx, [0, 1, 2])


@pytest.mark.parametrize(
    ("saved", "why"),
    [
        (dict(), "declare pulse counts or a time window"),
        (dict(skip_leading_pulses=1, pulses_to_s=3.0), "pulse counts and a time window given"),
        (dict(skip_leading_pulses=-1), "pulse counts must be whole numbers >= 0"),
        (dict(skip_trailing_pulses=1.5), "pulse counts must be whole numbers >= 0"),
        (dict(pulses_from_s=float("nan")), "window bounds must be finite"),
        (dict(pulses_from_s=5.0, pulses_to_s=5.0), "pulses_from_s must be before pulses_to_s"),
    ],
)
def test_a_malformed_declaration_is_refused(saved: dict, why: str) -> None:
    with pytest.raises(SyncError, match=why) as info:
        SavedFrames(**saved)
    assert info.value.hint is not None and "not both forms" in info.value.hint


def test_a_declaration_that_leaves_too_few_pulses_is_refused() -> None:
    truth = _camera(lead=2)
    with pytest.raises(SyncError) as info:
        _align(truth, SavedFrames(skip_leading_pulses=2000, skip_trailing_pulses=999), "none")
    t = truth.pulse_times_s
    assert info.value.message == (
        f"{WHO}: saved_frames = {{ skip_leading_pulses = 2000, skip_trailing_pulses = 999 }} "
        f"leaves 1 of the 3000 pulses on the frame grid (from {t[0]:.6f} s to {t[-1]:.6f} s) "
        "for the video's 2998 frames"
    )
