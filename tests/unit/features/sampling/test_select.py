"""Frame selection: exact frames for uniform, clip and threshold sampling; k-means by posture."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from w2t_bkin.features.sampling import (
    ClipSpec,
    SamplingError,
    SamplingSpec,
    SequenceTrack,
    ThresholdSpec,
    apply_quota,
    pose_features,
    sample_event_clips,
    sample_kmeans,
    sample_uniform,
    select_frames,
    threshold_onsets,
)


def test_uniform_takes_the_frame_nearest_each_interval_centre() -> None:
    t_s = np.arange(100.0)
    # centres at 12.375, 37.125, 61.875, 86.625 s
    np.testing.assert_array_equal(sample_uniform(t_s, 4).frame_idx, [12, 37, 62, 87])
    assert set(sample_uniform(t_s, 4).reason) == {"uniform"}


def test_uniform_spreads_over_recorded_time_across_a_recording_gap() -> None:
    t_s = np.r_[np.arange(10.0), 90.0 + np.arange(10.0)]  # frames 0-9 at 0-9 s, 10-19 at 90-99 s
    selection = sample_uniform(t_s, 4)
    # the 81 s gap counts as 2 s (twice the median interval): recorded time 0..20 s, frames
    # 10-19 at 11..20; centres 2.5, 7.5, 12.5, 17.5 -> frames 2, 7, 11, 16 (earlier on ties)
    np.testing.assert_array_equal(selection.frame_idx, [2, 7, 11, 16])
    np.testing.assert_array_equal(selection.t_s, [2.0, 7.0, 91.0, 96.0])
    valid = np.ones(20, dtype=bool)
    valid[:5] = False  # recorded: frames 5-9 at 0..4, 10-19 at 6..15
    np.testing.assert_array_equal(sample_uniform(t_s, 3, valid=valid).frame_idx, [7, 11, 16])


def test_event_clips_cover_the_time_window_inclusively() -> None:
    t_s = np.arange(100) / 10.0
    selection = sample_event_clips(
        t_s, np.array([5.0, 5.2, np.nan]), before_s=0.2, after_s=0.3, label="reward"
    )
    np.testing.assert_array_equal(selection.frame_idx, np.arange(48, 56))
    # frames of both clips go to the first event that claims them
    assert list(selection.reason) == ["reward#0"] * 6 + ["reward#1"] * 2
    thinned = sample_event_clips(
        t_s, np.array([5.0]), before_s=1.0, after_s=1.0, max_frames_per_clip=3
    )
    np.testing.assert_array_equal(thinned.frame_idx, [43, 50, 57])


def test_threshold_onsets_with_minimum_duration() -> None:
    t_s = np.arange(8.0)
    values = np.array([0.0, 2.0, 3.0, 0.0, np.nan, 5.0, 0.0, 4.0])
    np.testing.assert_array_equal(threshold_onsets(values, t_s, 1.0), [1.0, 5.0, 7.0])
    np.testing.assert_array_equal(threshold_onsets(values, t_s, 1.0, min_duration_s=1.0), [1.0])
    np.testing.assert_array_equal(threshold_onsets(values, t_s, 1.0, above=False), [0.0, 3.0, 6.0])


def _two_postures(n_frames: int, seed: int) -> np.ndarray:
    """Even frames: a straight body; odd frames: bent. Random place, direction and size."""
    straight = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    bent = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [2.0, 1.0]])
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_frames):
        shape = straight if i % 2 == 0 else bent
        angle, size = rng.uniform(-np.pi, np.pi), rng.uniform(5, 50)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        frames.append(shape @ rot.T * size + rng.uniform(0, 500, 2))
    return np.asarray(frames)[:, None]  # (n_frames, 1 individual, 4 keypoints, 2)


def test_pose_features_remove_position_direction_and_size() -> None:
    positions = _two_postures(6, seed=1)
    features = pose_features(positions, origin=0, rear=0, front=1)[:, 0]
    # per-track scale: frames differ in size, so compare shapes after per-frame scaling
    per_frame = features / np.linalg.norm(features, axis=1, keepdims=True)
    np.testing.assert_allclose(per_frame[0], per_frame[2], atol=1e-9)
    np.testing.assert_allclose(per_frame[1], per_frame[5], atol=1e-9)
    assert np.abs(per_frame[0] - per_frame[1]).max() > 0.1


def test_kmeans_picks_one_frame_of_each_posture_deterministically() -> None:
    positions = _two_postures(40, seed=2)
    # size varies per frame: scale each frame to the same size so postures coincide exactly
    sizes = np.linalg.norm(positions[:, 0, 1] - positions[:, 0, 0], axis=-1)
    positions = (positions - positions[:, :, :1]) / sizes[:, None, None, None]
    t_s = np.arange(40) / 30.0
    first = sample_kmeans(positions, t_s, 2, origin=0, rear=0, front=1, seed=7)
    again = sample_kmeans(positions, t_s, 2, origin=0, rear=0, front=1, seed=7)
    np.testing.assert_array_equal(first.frame_idx, again.frame_idx)
    assert sorted(first.frame_idx % 2) == [0, 1]  # one straight, one bent
    assert sorted(first.reason) == ["kmeans:0", "kmeans:1"]
    # a missing keypoint removes that frame from the candidates
    positions[first.frame_idx[0], 0, 3] = np.nan
    without = sample_kmeans(positions, t_s, 2, origin=0, rear=0, front=1, seed=7)
    assert first.frame_idx[0] not in without.frame_idx
    assert sorted(without.frame_idx % 2) == [0, 1]


def test_quota_is_a_seeded_subset_in_frame_order() -> None:
    selection = sample_uniform(np.arange(100.0), 50)
    first, again = apply_quota(selection, 10, seed=3), apply_quota(selection, 10, seed=3)
    np.testing.assert_array_equal(first.frame_idx, again.frame_idx)
    assert len(first) == 10
    assert np.all(np.diff(first.frame_idx) > 0)
    assert set(first.frame_idx) <= set(selection.frame_idx)
    assert apply_quota(selection, None, seed=3) is selection


def test_select_frames_combines_strategies_per_sequence_and_is_order_free() -> None:
    t_s = np.arange(200) / 10.0
    speed = np.zeros(200)
    speed[150:160] = 9.0
    track = SequenceTrack(t_s=t_s, events={"reward": np.array([5.0])}, features={"speed": speed})
    spec = SamplingSpec(
        uniform=4,
        clips=(ClipSpec("reward", before_s=0.1, after_s=0.1),),
        thresholds=(ThresholdSpec("speed", 5.0, before_s=0.0, after_s=0.1),),
        quota=None,
        seed=1,
    )
    result = select_frames({"s1": track, "s2": track}, spec)
    np.testing.assert_array_equal(result["s1"].frame_idx, [25, 49, 50, 51, 75, 124, 150, 151, 174])
    reasons = dict(zip(result["s1"].frame_idx.tolist(), result["s1"].reason, strict=True))
    assert reasons[50] == "reward#0" and reasons[150] == "speed>5#0" and reasons[25] == "uniform"
    quota_spec = SamplingSpec(uniform=50, quota=5, seed=1)
    forward = select_frames({"a": track, "b": track}, quota_spec)
    backward = select_frames({"b": track, "a": track}, quota_spec)
    for key in ("a", "b"):
        np.testing.assert_array_equal(forward[key].frame_idx, backward[key].frame_idx)
    # each sequence has its own seed: equal tracks, different draws
    assert not np.array_equal(forward["a"].frame_idx, forward["b"].frame_idx)


def test_select_frames_names_a_missing_event_list() -> None:
    track = SequenceTrack(t_s=np.arange(10.0), events={"reward": np.array([1.0])})
    spec = SamplingSpec(clips=(ClipSpec("airpuff", 0.1, 0.1),))
    with pytest.raises(SamplingError, match=r"'s1' has no event list 'airpuff'.*\['reward'\]"):
        select_frames({"s1": track}, spec)
    with pytest.raises(SamplingError, match="k-means sampling needs poses"):
        select_frames({"s1": track}, SamplingSpec(kmeans=3))
    with pytest.raises(SamplingError, match="quota must be >= 0"):
        select_frames({"s1": track}, SamplingSpec(quota=-1))


def test_importing_the_sampling_and_library_packages_loads_no_heavy_module() -> None:
    code = (
        "import sys, w2t_bkin.features.sampling, w2t_bkin.features.library; "
        "print(sorted(m for m in ('av', 'sklearn', 'pandas', 'pyarrow') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
