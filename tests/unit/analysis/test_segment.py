"""Repetition segmentation on synthetic movements with known repetition counts."""

from __future__ import annotations

import json

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from w2t_bkin.analysis.errors import AnalysisError
from w2t_bkin.analysis.segment import (
    METHOD,
    SegmentationConfig,
    SignalSpec,
    extract_signal,
    fill_gaps,
    segment_poses,
    segment_signal,
)

RATE_HZ = 30.0
PERIOD = 40  # frames per repetition
REST = 15  # frames of rest before and after


def reaching(n_reps: int, *, noise: float = 0.02, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 1-D movement: rest, ``n_reps`` smooth rises and falls, rest; and the true valleys."""
    t = np.arange(n_reps * PERIOD + 1)
    moving = 0.5 * (1 - np.cos(2 * np.pi * t / PERIOD))
    signal = np.concatenate([np.zeros(REST), moving, np.zeros(REST)])
    signal += np.random.default_rng(seed).normal(0, noise, signal.size)
    valleys = REST + PERIOD * np.arange(n_reps + 1)
    return signal, valleys


def config(kind: str = "joint_axis", joints: tuple[int, ...] = (0,), **kw) -> SegmentationConfig:
    kw.setdefault("min_prominence", 0.5)
    return SegmentationConfig(signal=SignalSpec(kind, joints), rate_hz=RATE_HZ, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("n_reps", [1, 3, 7, 12])
def test_known_repetition_count_and_boundaries(n_reps: int) -> None:
    signal, valleys = reaching(n_reps, seed=n_reps)
    seg = segment_signal(signal, config())
    assert seg.n_segments == n_reps
    peaks = REST + PERIOD // 2 + PERIOD * np.arange(n_reps)
    assert np.all(np.abs(seg.peak_frame - peaks) <= 3)
    assert np.all(np.abs(seg.start_frame - valleys[:-1]) <= 3)
    assert np.all(np.abs(seg.end_frame - 1 - valleys[1:]) <= 3)
    assert seg.complete.all()
    assert seg.runs.tolist() == [[0, signal.size]]


def test_noise_dip_beside_a_peak_does_not_cut_the_window() -> None:
    signal, valleys = reaching(3, noise=0.0)
    signal[valleys[1] + 12] -= 0.15  # a local minimum on the rising flank of repetition 2
    seg = segment_signal(signal, config())
    assert seg.n_segments == 3
    np.testing.assert_array_equal(seg.start_frame, valleys[:-1])
    np.testing.assert_array_equal(seg.end_frame, valleys[1:] + 1)


def test_min_distance_merges_peaks_closer_than_it() -> None:
    signal, _ = reaching(4, noise=0.0)
    # With no prominence criterion the rest noise is flat: only the 4 peaks remain; 1.5 s apart
    # is more than the 40-frame (1.33 s) period, so every other peak goes.
    seg = segment_signal(signal, config(min_prominence=None, min_distance_s=1.5))
    assert seg.n_segments == 2


def test_short_gap_is_filled_and_long_gap_splits() -> None:
    signal, valleys = reaching(6)
    short = signal.copy()
    short[valleys[2] + 5 : valleys[2] + 8] = np.nan  # 3 frames: 0.1 s
    seg = segment_signal(short, config(max_gap_s=0.2))
    assert seg.n_segments == 6 and seg.n_filled_frames == 3
    assert seg.runs.tolist() == [[0, signal.size]]
    # The same gap with no filling allowed splits repetition 3 into two incomplete halves.
    split = segment_signal(short, config(max_gap_s=0.0))
    assert split.n_filled_frames == 0
    assert split.runs.tolist() == [[0, valleys[2] + 5], [valleys[2] + 8, signal.size]]
    assert split.n_segments == 6
    # A gap over a whole peak loses that repetition and flags its neighbours' cut edges.
    long = signal.copy()
    peak4 = valleys[3] + PERIOD // 2
    long[peak4 - 10 : peak4 + 10] = np.nan
    seg = segment_signal(long, config(max_gap_s=0.2))
    assert seg.n_segments == 5
    assert seg.complete.tolist() == [True, True, True, True, True]
    assert seg.runs.shape == (2, 2)


def test_gap_rule_interpolates_linearly_between_neighbours() -> None:
    x = np.array([np.nan, 1.0, np.nan, np.nan, 4.0, np.nan, np.nan, np.nan, 0.0, np.nan])
    filled, runs, n_filled = fill_gaps(x, max_gap_frames=2)
    np.testing.assert_array_equal(filled[1:5], [1.0, 2.0, 3.0, 4.0])
    assert np.isnan(filled[[0, 5, 6, 7, 9]]).all()  # edges and the 3-frame gap stay
    assert runs.tolist() == [[1, 5], [8, 9]]
    assert n_filled == 2


def test_one_empty_frame_aborting_a_segmentation() -> None:
    """NeuroPose's segmentation aborted on a frame with no detection; here it is a gap."""
    signal, _ = reaching(5)
    pose = np.zeros((signal.size, 2, 2))
    pose[:, 1, 1] = signal
    pose[60] = np.nan  # nothing detected in frame 60
    spec = SignalSpec("joint_axis", (1,), axis=1)
    seg = segment_poses(pose, SegmentationConfig(spec, RATE_HZ, min_prominence=0.5, max_gap_s=0.1))
    assert seg.n_segments == 5 and seg.n_filled_frames == 1


def wrist_pose(angle: np.ndarray) -> np.ndarray:
    """Shoulder (0) at the origin, elbow (1) at (1, 0), wrist (2) at the elbow angle ``angle``."""
    pose = np.zeros((angle.size, 3, 2))
    pose[:, 1] = [1.0, 0.0]
    pose[:, 2, 0] = 1.0 - np.cos(angle)
    pose[:, 2, 1] = np.sin(angle)
    return pose


def test_every_signal_kind_counts_the_repetitions() -> None:
    # Elbow flexion from 170 to 60 degrees, 5 times: the angle falls, the hand nears the
    # shoulder, the wrist rises and the wrist speed peaks twice per repetition.
    signal, _ = reaching(5, noise=0.0)
    angle = np.radians(170.0 - 110.0 * signal)
    pose = wrist_pose(angle)
    np.testing.assert_allclose(
        extract_signal(pose, SignalSpec("joint_angle", (0, 1, 2))), angle, atol=1e-12
    )
    cases = [
        (SignalSpec("joint_angle", (0, 1, 2), invert=True), 1.0, 5),
        (SignalSpec("joint_pair_distance", (0, 2), invert=True), 0.5, 5),
        (SignalSpec("joint_axis", (2,), axis=0, invert=True), 0.5, 5),
        (SignalSpec("joint_speed", (2,)), 0.5, 10),
    ]
    for spec, prominence, expected in cases:
        seg = segment_poses(pose, SegmentationConfig(spec, RATE_HZ, min_prominence=prominence))
        assert seg.n_segments == expected, spec


def test_joint_speed_is_per_second_with_a_rate() -> None:
    pose = np.zeros((4, 1, 2))
    pose[:, 0, 0] = [0.0, 3.0, 3.0, 7.0]
    speed = extract_signal(pose, SignalSpec("joint_speed", (0,)), rate_hz=10.0)
    np.testing.assert_array_equal(speed[1:], [30.0, 0.0, 40.0])
    assert np.isnan(speed[0])


def test_result_carries_its_configuration_and_round_trips_as_json() -> None:
    signal, _ = reaching(3)
    cfg = config(min_distance_s=0.5, max_gap_s=0.1, min_height=0.2)
    seg = segment_signal(signal, cfg)
    data = json.loads(json.dumps(seg.to_dict()))
    assert data["config"]["method"] == METHOD
    assert SegmentationConfig.from_dict(data["config"]) == cfg
    assert [s["peak_frame"] for s in data["segments"]] == seg.peak_frame.tolist()
    first = data["segments"][0]
    assert first["duration_s"] == pytest.approx(
        (first["end_frame"] - first["start_frame"] - 1) / RATE_HZ
    )


def test_flat_signal_has_no_repetition() -> None:
    seg = segment_signal(np.zeros(100), config())
    assert seg.n_segments == 0 and seg.start_frame.dtype == np.int64


def test_all_missing_signal_has_no_repetition() -> None:
    seg = segment_signal(np.full(50, np.nan), config(max_gap_s=1.0))
    assert seg.n_segments == 0 and seg.runs.shape == (0, 2)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SignalSpec("joint_pair_distance", (1,)), "expected 2 different joint"),
        (lambda: SignalSpec("joint_angle", (1, 1, 2)), "expected 3 different joint"),
        (lambda: SignalSpec("elbow", (1,)), "signal kind 'elbow' is unknown"),  # type: ignore[arg-type]
        (lambda: SegmentationConfig(SignalSpec("joint_axis", (0,)), 0.0), "rate_hz: expected > 0"),
        (
            lambda: SegmentationConfig(SignalSpec("joint_axis", (0,)), 30.0, max_gap_s=-1.0),
            "max_gap_s: expected seconds >= 0",
        ),
        (
            lambda: extract_signal(np.zeros((5, 2, 2)), SignalSpec("joint_axis", (4,))),
            r"joint index 4 does not exist; expected 0..1",
        ),
        (
            lambda: extract_signal(np.zeros((5, 2, 2)), SignalSpec("joint_axis", (0,), axis=2)),
            "axis 2 does not exist in 2-D poses",
        ),
    ],
)
def test_bad_requests_are_refused(make, message) -> None:
    with pytest.raises(AnalysisError, match=message):
        make()


def test_back_to_back_repetitions_share_their_valley() -> None:
    signal, valleys = reaching(4, noise=0.0)
    seg = segment_signal(signal, config())
    np.testing.assert_array_equal(seg.start_frame, valleys[:-1])
    np.testing.assert_array_equal(seg.start_frame[1:], seg.end_frame[:-1] - 1)


def test_rest_between_repetitions_is_left_out() -> None:
    one, _ = reaching(1, noise=0.0)  # 15 rest, 41 moving, 15 rest
    signal = np.concatenate([one, one, one])
    seg = segment_signal(signal, config())
    starts = REST + np.arange(3) * one.size
    np.testing.assert_array_equal(seg.start_frame, starts)
    np.testing.assert_array_equal(seg.end_frame, starts + PERIOD + 1)


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.integers(0, 200),
        elements=st.one_of(st.floats(-10, 10, allow_nan=False), st.just(np.nan)),
    ),
    st.integers(0, 5),
    st.one_of(st.none(), st.floats(0, 5)),
)
def test_segments_are_ordered_disjoint_and_inside_their_runs(signal, max_gap, prominence) -> None:
    cfg = SegmentationConfig(
        SignalSpec("joint_axis", (0,)), 1.0, min_prominence=prominence, max_gap_s=float(max_gap)
    )
    seg = segment_signal(signal, cfg)
    assert np.all(seg.start_frame <= seg.peak_frame) and np.all(seg.peak_frame < seg.end_frame)
    # Consecutive repetitions may share their valley frame, never more.
    assert np.all(seg.start_frame[1:] >= seg.end_frame[:-1] - 1)
    for start, end in zip(seg.start_frame, seg.end_frame, strict=True):
        inside = (seg.runs[:, 0] <= start) & (end <= seg.runs[:, 1])
        assert inside.sum() == 1
        assert np.isfinite(seg.signal[start:end]).all()
    # Filled frames were NaN in the input and are finite now; nothing else changed.
    was_nan = np.isnan(signal)
    np.testing.assert_array_equal(seg.signal[~was_nan], signal[~was_nan])
    assert int((was_nan & np.isfinite(seg.signal)).sum()) == seg.n_filled_frames


def test_slice_segments_returns_each_repetition() -> None:
    from w2t_bkin.analysis.segment import slice_segments

    signal, _ = reaching(3, noise=0.0)
    seg = segment_signal(signal, config())
    pieces = slice_segments(signal, seg)
    assert [p.shape[0] for p in pieces] == (seg.end_frame - seg.start_frame).tolist()
    np.testing.assert_array_equal(pieces[1], signal[seg.start_frame[1] : seg.end_frame[1]])
    with pytest.raises(AnalysisError, match="the array has 10 frames"):
        slice_segments(np.zeros(10), seg)
