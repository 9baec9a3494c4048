"""SLEAP readers on synthetic files: analysis HDF5 layouts and .slp instance rules."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import sleap_io as sio

from w2t_bkin.errors import DataQualityWarning, IngestError
from w2t_bkin.sources.pose import read_pose, read_sleap_analysis_h5, read_sleap_slp
from w2t_bkin.testing.pose import simulate_pose, write_sleap_analysis_h5


@pytest.mark.parametrize("transposed", [True, False])
def test_analysis_h5_round_trip_all_tracks(tmp_path: Path, transposed: bool) -> None:
    positions, confidence, names = simulate_pose(25, 4, n_individuals=3, seed=1, nan_fraction=0.1)
    path = write_sleap_analysis_h5(
        tmp_path / "s.analysis.h5",
        positions,
        confidence,
        names,
        ["t0", "t1", "t2"],
        [(0, 1), (1, 2), (2, 3)],
        transposed=transposed,
    )

    pose = read_pose(path)

    assert pose.source_software == "SLEAP"
    np.testing.assert_array_equal(pose.positions, positions)
    np.testing.assert_array_equal(pose.confidence, confidence)
    assert pose.positions.dtype == np.float32
    assert pose.individual_names == ("t0", "t1", "t2")
    assert pose.keypoint_names == names
    assert pose.skeleton_edges == ((0, 1), (1, 2), (2, 3))


@pytest.mark.parametrize("transposed", [True, False])
def test_analysis_h5_with_two_nodes_and_no_track_names(tmp_path: Path, transposed: bool) -> None:
    # 2 nodes and 2 spatial dims make the layouts ambiguous; the longer axis is frames.
    positions, _, names = simulate_pose(5, 2, n_individuals=3, seed=2)
    path = write_sleap_analysis_h5(
        tmp_path / "s.analysis.h5", positions, None, names, [], transposed=transposed
    )

    pose = read_sleap_analysis_h5(path)

    np.testing.assert_array_equal(pose.positions, positions)
    assert np.isnan(pose.confidence).all()
    assert pose.individual_names == ("individual_0", "individual_1", "individual_2")


def test_analysis_h5_with_impossible_shape(tmp_path: Path) -> None:
    path = tmp_path / "bad.analysis.h5"
    with h5py.File(path, "w") as h5:
        h5["tracks"] = np.zeros((1, 2, 5, 10))
        h5["node_names"] = np.array([b"a", b"b", b"c"])
    with pytest.raises(
        IngestError, match=r"'tracks' has shape \(1, 2, 5, 10\), which fits neither"
    ):
        read_pose(path)


def _labels(tmp_path: Path, frames: list[tuple[int, list]], tracks: list[sio.Track]) -> Path:
    """Save a .slp with the given (frame index, instances) list."""
    video = sio.Video(filename=str(tmp_path / "absent.mp4"), open_backend=False)
    labelled = [sio.LabeledFrame(video=video, frame_idx=f, instances=i) for f, i in frames]
    labels = sio.Labels(labelled, skeletons=[SKELETON], tracks=tracks, videos=[video])
    path = tmp_path / "labels.slp"
    sio.save_slp(labels, str(path))
    return path


SKELETON = sio.Skeleton(["head", "tail"], edges=[("head", "tail")])


def _pred(xy: list[list[float]], scores: list[float], track: sio.Track | None = None):
    return sio.PredictedInstance.from_numpy(
        np.array(xy, dtype=np.float64), skeleton=SKELETON, point_scores=np.array(scores),
        score=0.9, track=track,
    )  # fmt: skip


def _user(xy: list[list[float]], track: sio.Track | None = None, from_predicted=None):
    return sio.Instance.from_numpy(
        np.array(xy, dtype=np.float64), skeleton=SKELETON, track=track,
        from_predicted=from_predicted,
    )  # fmt: skip


def test_slp_tracks_become_individuals_in_track_order(tmp_path: Path) -> None:
    a, b, c = sio.Track("a"), sio.Track("b"), sio.Track("never_used")
    path = _labels(
        tmp_path,
        [
            (0, [_pred([[1, 2], [3, 4]], [0.5, 0.25], b), _pred([[5, 6], [7, 8]], [1, 0.75], a)]),
            (3, [_pred([[9, 10], [11, 12]], [0.125, 0.5], b)]),
        ],
        [a, b, c],
    )

    pose = read_sleap_slp(path)

    assert pose.individual_names == ("a", "b", "never_used")
    assert pose.n_frames == 4  # video unreadable: last labelled frame + 1
    np.testing.assert_array_equal(pose.positions[0, 0], [[5, 6], [7, 8]])
    np.testing.assert_array_equal(pose.positions[0, 1], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(pose.positions[3, 1], [[9, 10], [11, 12]])
    np.testing.assert_array_equal(pose.confidence[0, 1], [0.5, 0.25])
    assert np.isnan(pose.positions[1:3]).all() and np.isnan(pose.positions[:, 2]).all()
    assert pose.skeleton_edges == ((0, 1),)
    assert pose.keypoint_names == ("head", "tail")


def test_slp_untracked_instances_fill_slots_in_instance_order(tmp_path: Path) -> None:
    path = _labels(
        tmp_path,
        [
            (0, [_pred([[1, 1], [1, 1]], [1, 1]), _pred([[2, 2], [2, 2]], [1, 1])]),
            (1, [_pred([[3, 3], [3, 3]], [1, 1])]),
        ],
        [],
    )

    pose = read_sleap_slp(path, n_video_frames=5)

    assert pose.individual_names == ("individual_0", "individual_1")
    assert pose.n_frames == 5
    np.testing.assert_array_equal(pose.positions[:2, :, 0, 0], [[1, 2], [3, np.nan]])


def test_slp_prefers_predicted_over_the_user_correction_by_default(tmp_path: Path) -> None:
    track = sio.Track("m")
    pred = _pred([[1, 2], [3, 4]], [0.5, 0.25], track)
    user = _user([[1.5, 2.5], [3.5, 4.5]], track, from_predicted=pred)
    path = _labels(tmp_path, [(2, [user, pred])], [track])

    predicted = read_sleap_slp(path)
    corrected = read_sleap_slp(path, prefer="user")

    np.testing.assert_array_equal(predicted.positions[2, 0], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(predicted.confidence[2, 0], [0.5, 0.25])
    np.testing.assert_array_equal(corrected.positions[2, 0], [[1.5, 2.5], [3.5, 4.5]])
    assert np.isnan(corrected.confidence[2, 0]).all()


def test_slp_user_only_labels_are_read_with_nan_confidence(tmp_path: Path) -> None:
    path = _labels(tmp_path, [(0, [_user([[7, 8], [9, 10]])])], [])

    pose = read_sleap_slp(path)

    np.testing.assert_array_equal(pose.positions[0, 0], [[7, 8], [9, 10]])
    assert np.isnan(pose.confidence).all()


def test_slp_labels_beyond_the_video_are_kept_and_reported(tmp_path: Path) -> None:
    path = _labels(tmp_path, [(9, [_pred([[1, 1], [1, 1]], [1, 1])])], [])

    with pytest.warns(DataQualityWarning, match="labels reach frame 9 but the video has 4 frames"):
        pose = read_sleap_slp(path, n_video_frames=4)

    assert pose.n_frames == 10


def test_slp_video_index_out_of_range(tmp_path: Path) -> None:
    path = _labels(tmp_path, [(0, [_pred([[1, 1], [1, 1]], [1, 1])])], [])
    with pytest.raises(IngestError, match="video_index 1 out of range: the file has 1 videos"):
        read_sleap_slp(path, video_index=1)


def test_slp_that_is_not_hdf5(tmp_path: Path) -> None:
    path = tmp_path / "x.slp"
    path.write_text("{}")
    with pytest.raises(IngestError, match=r"x\.slp: not an HDF5 file"):
        read_pose(path)
