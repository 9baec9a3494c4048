"""Keypoint renaming, skeletons, pose-to-video matching and frame-count checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.errors import VerificationError
from w2t_bkin.sources.pose import (
    PoseData,
    apply_skeleton,
    check_pose_frames,
    match_pose_to_videos,
    rename_keypoints,
)
from w2t_bkin.sources.pose.ops import pose_video_stem


def make_pose(names: tuple[str, ...] = ("nose", "ear", "tail", "led")) -> PoseData:
    n = len(names)
    positions = np.arange(3 * 2 * n * 2, dtype=np.float32).reshape(3, 2, n, 2)
    confidence = np.arange(3 * 2 * n, dtype=np.float32).reshape(3, 2, n) / 100
    return PoseData(
        positions=positions,
        confidence=confidence,
        keypoint_names=names,
        individual_names=("a", "b"),
        source_software="DeepLabCut",
        source_file=Path("cam0DLC_resnet50_x.h5"),
        skeleton_edges=((0, 1), (1, 2), (2, 3), (0, 2)),
    )


def test_rename_drops_unmapped_and_their_edges() -> None:
    pose = make_pose()

    renamed = rename_keypoints(pose, {"nose": "snout", "tail": "tailbase", "led": "light"})

    assert renamed.keypoint_names == ("snout", "tailbase", "light")
    np.testing.assert_array_equal(renamed.positions, pose.positions[:, :, [0, 2, 3]])
    np.testing.assert_array_equal(renamed.confidence, pose.confidence[:, :, [0, 2, 3]])
    # (0,1) and (1,2) touched "ear"; (2,3) -> (1,2); (0,2) -> (0,1)
    assert renamed.skeleton_edges == ((1, 2), (0, 1))
    assert pose.keypoint_names == ("nose", "ear", "tail", "led")  # input untouched


def test_rename_keep_unmapped() -> None:
    renamed = rename_keypoints(make_pose(), {"ear": "left_ear"}, keep_unmapped=True)

    assert renamed.keypoint_names == ("nose", "left_ear", "tail", "led")
    assert renamed.skeleton_edges == make_pose().skeleton_edges


def test_rename_rejects_unknown_source_and_collisions() -> None:
    with pytest.raises(VerificationError, match=r"mapping names \['whisker'\]"):
        rename_keypoints(make_pose(), {"whisker": "w"})
    with pytest.raises(VerificationError, match=r"several keypoints the names \['head'\]"):
        rename_keypoints(make_pose(), {"nose": "head", "ear": "head"})


def test_apply_skeleton_by_name_pairs_and_tables() -> None:
    pose = make_pose()

    attached = apply_skeleton(
        pose, ["nose", "ear", "tail"], [("nose", "ear"), {"source": "ear", "target": "tail"}]
    )

    assert attached.skeleton_edges == ((0, 1), (1, 2))
    assert attached.keypoint_names == pose.keypoint_names


def test_apply_skeleton_names_the_missing_keypoint() -> None:
    with pytest.raises(VerificationError, match=r"skeleton names keypoints \['paw'\]"):
        apply_skeleton(make_pose(), ["nose", "paw"], [("nose", "paw")])
    with pytest.raises(VerificationError, match=r"edge \(nose, tail\) names 'tail'"):
        apply_skeleton(make_pose(), ["nose", "ear"], [("nose", "tail")])


@pytest.mark.parametrize(
    ("pose_name", "video_stem"),
    [
        ("m3v1mp4DLC_resnet50_openfieldAug20shuffle1_30000.h5", "m3v1mp4"),
        ("m3v1mp4shortDLC_effnet_b0_multi_mouseApr12shuffle1_5_el_filtered.csv", "m3v1mp4short"),
        ("EPM_15DeepCut_resnet50_epmMay17shuffle1_1030000.csv", "EPM_15"),
        ("cam0_2025-08-16DLC_resnet50_BA_cam0.newOct30shuffle1_150000_labeled.h5", "cam0_2025-08-16"),  # noqa: E501
        ("session.predictions.slp", "session"),
        ("session.predictions.analysis.h5", "session"),
        ("labels.v001.000_minimal_top.analysis.h5", "minimal_top"),
        ("cam1_filtered.csv", "cam1"),
    ],
)  # fmt: skip
def test_pose_video_stem(pose_name: str, video_stem: str) -> None:
    assert pose_video_stem(pose_name) == video_stem


def test_match_pose_to_videos_prefers_the_exact_stem_never_a_shorter_prefix() -> None:
    videos = [Path("v/m3v1mp4.mp4"), Path("v/m3v1mp4short.mp4"), Path("v/other.avi")]
    poses = [
        Path("p/m3v1mp4shortDLC_effnet_b0_x_el.h5"),
        Path("p/m3v1mp4DLC_resnet50_x.h5"),
        Path("p/m3v1mp4short_sleap.analysis.h5"),
    ]

    matched = match_pose_to_videos(poses, videos)

    assert matched == {
        poses[0]: videos[1],
        poses[1]: videos[0],
        poses[2]: videos[1],  # prefix followed by a separator
    }


def test_match_pose_to_videos_lists_every_unmatched_file() -> None:
    videos = [Path("cam0.avi")]
    with pytest.raises(VerificationError) as info:
        match_pose_to_videos(
            [Path("cam1DLC_x.h5"), Path("cam0x.csv"), Path("cam0DLC_y.h5")], videos
        )
    message = str(info.value)
    assert "cam1DLC_x.h5 (video stem 'cam1') matches no video" in message
    assert "cam0x.csv (video stem 'cam0x') matches no video" in message
    assert "cam0DLC_y" not in message
    assert "videos: ['cam0.avi']" in message


def test_match_pose_to_videos_refuses_two_equal_candidates() -> None:
    with pytest.raises(VerificationError, match="matches several videos"):
        match_pose_to_videos([Path("cam0DLC_x.h5")], [Path("a/cam0.avi"), Path("b/cam0.mp4")])


def test_check_pose_frames() -> None:
    pose = make_pose()
    check_pose_frames(pose, 3, Path("cam0.avi"))
    with pytest.raises(
        VerificationError,
        match=r"pose file cam0DLC_resnet50_x\.h5 has 3 frames but the video cam0\.avi has 4",
    ):
        check_pose_frames(pose, 4, Path("cam0.avi"))
