"""Velocity, speed, acceleration, heading and angular velocity against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from w2t_bkin.features.errors import FeatureError
from w2t_bkin.features.library import (
    TrackDataError,
    acceleration,
    angular_velocity,
    heading,
    kinematics,
    motion,
    speed,
    time_gradient,
    velocity,
)

# frames at 0, 1, 3, 4 s: frame 2 (t = 2 s) was dropped
T_DROPPED_S = np.array([0.0, 1.0, 3.0, 4.0])


def _track(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n_frames, 1, 1, 2) positions from x and y per frame."""
    return np.stack([x, y], axis=-1)[:, None, None, :]


def test_linear_motion_across_a_dropped_frame_has_constant_velocity() -> None:
    # x = 3 t + 1, y = 4 t: a frame-index derivative would see a jump at the drop
    positions = _track(3 * T_DROPPED_S + 1, 4 * T_DROPPED_S)
    vel = velocity(positions, T_DROPPED_S)
    np.testing.assert_allclose(vel[:, 0, 0], np.tile([3.0, 4.0], (4, 1)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(speed(positions, T_DROPPED_S)[:, 0, 0], 5.0, atol=1e-12)
    np.testing.assert_allclose(acceleration(positions, T_DROPPED_S), 0.0, atol=1e-12)


def test_quadratic_on_irregular_times_matches_hand_computed_gradient() -> None:
    t_s = np.array([0.0, 1.0, 3.0])
    positions = _track(t_s**2, np.zeros(3))
    # interior: -2/3 * 0 + 1/2 * 1 + 1/6 * 9 = 2 (= 2 t, exact for a quadratic);
    # ends: one-sided (1 - 0) / 1 = 1 and (9 - 1) / 2 = 4
    np.testing.assert_allclose(velocity(positions, t_s)[:, 0, 0, 0], [1.0, 2.0, 4.0], atol=1e-12)


@pytest.mark.parametrize("block_values", [1 << 14, 60])  # one block; 16-frame blocks
def test_kinematics_equals_numpy_gradient_and_the_single_functions(
    block_values: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(motion, "_BLOCK_VALUES", block_values)
    rng = np.random.default_rng(3)
    t_s = np.cumsum(rng.uniform(0.005, 0.02, 500))
    positions = rng.normal(size=(500, 2, 3, 2))
    positions[17, 1, 2] = np.nan
    result = kinematics(positions, t_s)
    expected_vel = np.gradient(positions, t_s, axis=0)
    np.testing.assert_allclose(result.velocity, expected_vel, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(
        result.acceleration, np.gradient(expected_vel, t_s, axis=0), rtol=1e-10, atol=1e-9
    )
    np.testing.assert_allclose(result.speed, np.linalg.norm(expected_vel, axis=-1), rtol=1e-10)
    np.testing.assert_array_equal(result.velocity, velocity(positions, t_s))
    np.testing.assert_array_equal(result.speed, speed(positions, t_s))
    np.testing.assert_array_equal(result.acceleration, acceleration(positions, t_s))
    # a missing point blanks only itself and its two neighbours
    assert np.isnan(result.velocity[[16, 18], 1, 2]).all()
    assert not np.isnan(result.velocity[[15, 19], 1, 2]).any()


def test_float32_in_float32_out() -> None:
    positions = np.arange(40, dtype=np.float32).reshape(5, 1, 4, 2)
    result = kinematics(positions, np.arange(5) * 0.1)
    assert result.velocity.dtype == result.speed.dtype == result.acceleration.dtype == np.float32
    np.testing.assert_allclose(result.velocity, 80.0, rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.floats(0.001, 10.0), min_size=2, max_size=30),
    slope=st.floats(-100, 100),
)
def test_velocity_of_linear_motion_is_its_slope_on_any_timestamps(
    steps: list[float], slope: float
) -> None:
    t_s = np.cumsum([0.0, *steps])
    positions = _track(slope * t_s, -slope * t_s)
    vel = velocity(positions, t_s)[:, 0, 0]
    np.testing.assert_allclose(vel[:, 0], slope, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(vel[:, 1], -slope, rtol=1e-6, atol=1e-6)


def test_heading_points_from_rear_to_front_in_image_coordinates() -> None:
    # keypoints: 0 rear, 1 front, 2 and 3 a second front pair
    positions = np.array(
        [
            [[[0, 0], [1, 1], [0, 0], [0, 0]]],  # front at (+1, +1): 45 degrees
            [[[2, 2], [2, 1], [0, 0], [0, 0]]],  # front one pixel up (y down): -90 degrees
            [[[0, 0], [0, 0], [-1, 1], [-1, -1]]],  # centroid of 2 and 3 at (-1, 0): 180
        ],
        dtype=float,
    )
    np.testing.assert_allclose(heading(positions, 0, 1)[:2, 0], [np.pi / 4, -np.pi / 2])
    assert heading(positions, 0, (2, 3))[2, 0] == pytest.approx(np.pi)


def test_angular_velocity_wraps_across_pi_and_nan_blanks_only_neighbours() -> None:
    t_s = np.array([0.0, 1.0, 2.0, 4.0, 5.0, 6.0])
    angle = np.array([np.pi - 0.1, -np.pi + 0.1, -np.pi + 0.3, -np.pi + 0.7, np.nan, 0.0])
    result = angular_velocity(angle, t_s)
    # each step is +0.2 rad/s (0.4 rad over the 2 s gap): no 2 pi spike at the crossing
    np.testing.assert_allclose(result[:3], [0.2, 0.2, 0.2], atol=1e-12)
    # the missing angle blanks itself and its neighbours only: frame 5 has no left step
    assert np.isnan(result[3:]).all()
    angle[4] = -np.pi + 0.9
    np.testing.assert_allclose(angular_velocity(angle, t_s)[3], 0.2, atol=1e-12)


def test_time_gradient_refuses_non_increasing_timestamps_with_the_index() -> None:
    with pytest.raises(TrackDataError, match=r"t_s\[2\] = 1.0 follows t_s\[1\] = 1.0") as info:
        time_gradient(np.zeros(3), np.array([0.0, 1.0, 1.0]))
    assert isinstance(info.value, FeatureError)
    assert info.value.exit_code == 9
    assert "remove duplicated frames" in str(info.value)


def test_velocity_refuses_mismatched_shapes() -> None:
    with pytest.raises(TrackDataError, match=r"t_s must have shape \(4,\).*found \(3,\)"):
        velocity(np.zeros((4, 1, 2, 2)), np.arange(3.0))
    with pytest.raises(TrackDataError, match=r"must be 4-D.*found shape \(4, 2\)"):
        velocity(np.zeros((4, 2)), np.arange(4.0))
    with pytest.raises(TrackDataError, match="heading is defined for 2-D points"):
        heading(np.zeros((4, 1, 2, 3)), 0, 1)
