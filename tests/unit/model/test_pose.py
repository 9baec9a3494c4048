"""``PoseData``: the axis counts read from the arrays, and frozen instances."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.model.pose import PoseData, PoseSkeleton


def _pose(n_frames: int, n_individuals: int, n_keypoints: int, n_space: int = 2) -> PoseData:
    shape = (n_frames, n_individuals, n_keypoints)
    return PoseData(
        positions=np.zeros((*shape, n_space), dtype=np.float32),
        confidence=np.ones(shape, dtype=np.float32),
        keypoint_names=tuple(f"kp{k}" for k in range(n_keypoints)),
        individual_names=tuple(f"individual_{i}" for i in range(n_individuals)),
        source_software="DeepLabCut",
        source_file=Path("cam0DLC_resnet50.h5"),
    )


@pytest.mark.parametrize("n_space", [2, 3])
def test_axis_counts_come_from_the_positions_array(n_space: int) -> None:
    pose = _pose(n_frames=7, n_individuals=2, n_keypoints=5, n_space=n_space)
    assert (pose.n_frames, pose.n_individuals, pose.n_keypoints) == (7, 2, 5)
    assert all(isinstance(n, int) for n in (pose.n_frames, pose.n_individuals, pose.n_keypoints))


def test_an_empty_frame_axis_counts_zero_frames() -> None:
    assert _pose(n_frames=0, n_individuals=1, n_keypoints=3).n_frames == 0


def test_optional_provenance_defaults_to_unknown() -> None:
    pose = _pose(n_frames=1, n_individuals=1, n_keypoints=1)
    assert pose.skeleton_edges == ()
    assert (pose.source_software_version, pose.scorer, pose.model_description) == (None,) * 3


def test_pose_data_and_skeleton_are_frozen() -> None:
    pose = _pose(n_frames=1, n_individuals=1, n_keypoints=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pose.scorer = "someone"  # type: ignore[misc]
    skeleton = PoseSkeleton(nodes=("nose", "tail"), edges=(("nose", "tail"),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        skeleton.nodes = ()  # type: ignore[misc]
    assert PoseSkeleton(nodes=("nose",)).edges == ()
