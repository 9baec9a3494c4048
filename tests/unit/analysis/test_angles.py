"""Joint angles on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from w2t_bkin.analysis.angles import joint_angles
from w2t_bkin.analysis.errors import AnalysisError


def test_right_straight_and_folded_angles_in_2d() -> None:
    # Joints: 0 shoulder, 1 elbow, 2 wrist; the angle is at the elbow.
    frames = np.array(
        [
            [[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]],  # right angle
            [[-1.0, 0.0], [0.0, 0.0], [2.0, 0.0]],  # straight arm
            [[1.0, 0.0], [0.0, 0.0], [3.0, 0.0]],  # folded back onto itself
            [[1.0, 0.0], [0.0, 0.0], [1.0, np.sqrt(3.0)]],  # 60 degrees
        ]
    )
    angles = joint_angles(frames, [(0, 1, 2)])
    assert angles.shape == (4, 1)
    np.testing.assert_allclose(angles[:, 0], [np.pi / 2, np.pi, 0.0, np.pi / 3], atol=1e-15)


def test_3d_angle_and_several_triplets() -> None:
    frame = np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 5.0], [1.0, 1.0, 0.0]]])
    angles = joint_angles(frame, [(0, 1, 2), (0, 1, 3), (2, 1, 3)])
    np.testing.assert_allclose(angles[0], [np.pi / 2, np.pi / 4, np.pi / 2], atol=1e-15)


def test_tiny_angles_keep_their_digits() -> None:
    eps = 1e-9
    frame = np.array([[[1.0, 0.0], [0.0, 0.0], [1.0, eps]]])
    # arccos of the normalised dot product would return 0 here (1 - eps**2 / 2 rounds to 1).
    assert joint_angles(frame, [(0, 1, 2)])[0, 0] == pytest.approx(eps, rel=1e-9)


def test_missing_joint_or_zero_length_segment_gives_nan() -> None:
    frames = np.array(
        [
            [[np.nan, np.nan], [0.0, 0.0], [1.0, 0.0]],
            [[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]],
            [[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]],
        ]
    )
    angles = joint_angles(frames, [(0, 1, 2)])[:, 0]
    assert np.isnan(angles[0]) and np.isnan(angles[1])
    assert angles[2] == pytest.approx(np.pi / 2)


def test_invariant_to_rotation_translation_and_scale() -> None:
    rng = np.random.default_rng(0)
    pose = rng.normal(size=(10, 5, 3))
    theta = 0.7
    rot = np.array(
        [[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]]
    )
    moved = 3.0 * pose @ rot.T + np.array([1.0, 2.0, 3.0])
    triplets = [(0, 1, 2), (3, 2, 4), (4, 0, 1)]
    np.testing.assert_allclose(
        joint_angles(moved, triplets), joint_angles(pose, triplets), atol=1e-12
    )


@pytest.mark.parametrize(
    ("triplet", "message"),
    [
        ((0, 1, 1), "three different joint indices in 0..2"),
        ((0, 1, 3), "in 0..2"),
        ((0, 1), "in 0..2"),
    ],
)
def test_bad_triplets_are_refused(triplet, message) -> None:
    with pytest.raises(AnalysisError, match=message):
        joint_angles(np.zeros((2, 3, 2)), [triplet])


def test_shape_must_be_poses() -> None:
    with pytest.raises(AnalysisError, match=r"found \(2, 3\)"):
        joint_angles(np.zeros((2, 3)), [(0, 1, 2)])
