"""What pose files record about their model and software, and the formats added alongside.

SLEAP analysis CSV (read), Lightning Pose labelled data (detected), DeepLabCut ``_meta.pickle``
(read without importing or calling anything), sleap-anipose ``points3d.h5`` (refused clearly).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import sleap_io as sio
from sleap_io.io.csv import write_labels as write_csv_labels

from w2t_bkin.errors import DataQualityWarning, IngestError
from w2t_bkin.sources.pose import read_pose, read_sleap_analysis_csv
from w2t_bkin.sources.pose.dlc import dlc_meta_path
from w2t_bkin.testing.pose import simulate_pose, write_dlc_csv, write_dlc_h5

SCORER = "DLC_resnet50_arenaMay1shuffle1_5000"
SLEAP_CSV_HEADER = (
    "track,frame_idx,instance.score,head.x,head.y,head.score,tail.x,tail.y,tail.score"
)


# --- SLEAP analysis CSV ---------------------------------------------------------------------


def test_sleap_csv_tracks_untracked_rows_and_user_points(tmp_path: Path) -> None:
    path = tmp_path / "labels.000_cam0.analysis.csv"
    path.write_text(
        f"{SLEAP_CSV_HEADER}\n"
        "male,0,0.9,1.5,2.5,0.5,3.5,4.5,0.25\n"
        "female,0,0.8,5,6,1,7,8,0.75\n"
        ",0,0.7,9,10,0.125,11,12,0.5\n"
        ",2,,13,14,,15,16,\n"  # a user-labelled, untracked instance
        "male,3,0.6,17,18,0.5,,,\n"  # tail not visible
    )

    pose = read_pose(path)

    assert pose.source_software == "SLEAP"
    assert pose.individual_names == ("male", "female", "untracked_0")
    assert all(type(name) is str for name in pose.individual_names)
    assert pose.keypoint_names == ("head", "tail")
    assert pose.positions.shape == (4, 3, 2, 2) and pose.positions.dtype == np.float32
    np.testing.assert_array_equal(pose.positions[0, 0], [[1.5, 2.5], [3.5, 4.5]])
    np.testing.assert_array_equal(pose.positions[0, 2], [[9, 10], [11, 12]])
    np.testing.assert_array_equal(pose.positions[2, 2], [[13, 14], [15, 16]])
    np.testing.assert_array_equal(pose.confidence[0, 1], [1, 0.75])
    assert np.isnan(pose.confidence[2, 2]).all()
    assert np.isnan(pose.positions[3, 0, 1]).all() and not np.isnan(pose.positions[3, 0, 0]).any()
    assert np.isnan(pose.positions[1]).all()
    assert (pose.skeleton_edges, pose.source_software_version, pose.scorer) == ((), None, None)


def test_sleap_csv_is_sized_to_its_video(tmp_path: Path) -> None:
    path = tmp_path / "a.analysis.csv"
    path.write_text(f"{SLEAP_CSV_HEADER}\n,1,0.5,1,2,1,3,4,1\n")

    sized = read_pose(path, n_video_frames=6)
    assert sized.n_frames == 6 and sized.individual_names == ("individual_0",)
    with pytest.warns(DataQualityWarning, match="rows reach frame 1 but the video has 1 frames"):
        assert read_sleap_analysis_csv(path, n_video_frames=1).n_frames == 2


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("a,0,0.5,1,2,1,3,4,1\na,0,0.5,1,2,1,3,4,1\n", "has 2 rows for track 'a' in frame 0"),
        ("a,-1,0.5,1,2,1,3,4,1\n", r"frame_idx '-1' \(data row 1\) is not a non-negative"),
        ("a,0,0.5,1,oops,1,3,4,1\n", "column 'head.y' holds non-numeric values"),
    ],
    ids=["duplicate-track", "negative-frame", "non-numeric"],
)
def test_sleap_csv_errors_name_file_and_row(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "bad.analysis.csv"
    path.write_text(f"{SLEAP_CSV_HEADER}\n{body}")
    with pytest.raises(IngestError, match=rf"bad\.analysis\.csv: SLEAP CSV {match}"):
        read_pose(path)


def test_sleap_csv_node_without_y_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("track,frame_idx,instance.score,head.x,head.score\n,0,1,2,1\n")
    with pytest.raises(IngestError, match=r"nodes without both \.x and \.y columns: \['head'\]"):
        read_pose(path, "sleap")


def test_sleap_csv_declared_as_another_source_says_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(f"{SLEAP_CSV_HEADER}\n,0,1,1,2,1,3,4,1\n")
    with pytest.raises(
        IngestError,
        match=r"this is a SLEAP analysis CSV, not a DeepLabCut file\n"
        r"  hint: declare source = 'sleap'",
    ):
        read_pose(path, "dlc")


def test_sleap_csv_round_trips_a_sleap_io_export(tmp_path: Path) -> None:
    skeleton = sio.Skeleton(["head", "tail"], edges=[("head", "tail")])
    video = sio.Video(filename=str(tmp_path / "absent.mp4"), open_backend=False)
    track = sio.Track("m")

    def pred(x: float, track: sio.Track | None) -> sio.PredictedInstance:
        xy = np.array([[x, x + 1], [x + 2, x + 3]])
        return sio.PredictedInstance.from_numpy(
            xy, skeleton=skeleton, point_scores=np.array([0.5, 0.25]), score=0.9, track=track
        )

    frames = [
        sio.LabeledFrame(video=video, frame_idx=0, instances=[pred(1, track), pred(10, None)]),
        sio.LabeledFrame(video=video, frame_idx=4, instances=[pred(20, track)]),
    ]
    labels = sio.Labels(frames, skeletons=[skeleton], tracks=[track], videos=[video])
    slp, csv = tmp_path / "l.slp", tmp_path / "l.analysis.csv"
    sio.save_slp(labels, str(slp))
    write_csv_labels(labels, csv, format="sleap")

    from_csv = read_pose(csv, n_video_frames=5)
    from_slp = read_pose(slp, n_video_frames=5)

    assert from_csv.individual_names == from_slp.individual_names == ("m", "untracked_0")
    np.testing.assert_array_equal(from_csv.positions, from_slp.positions)
    np.testing.assert_array_equal(from_csv.confidence, from_slp.confidence)


# --- Lightning Pose labelled data -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "scorer", "software"),
    [
        ("CollectedData.csv", "rick", "Lightning Pose"),
        ("CollectedData_top.csv", "rick", "Lightning Pose"),
        ("CollectedData_rick.csv", "rick", "DeepLabCut"),
        (f"cam0{SCORER}.csv", SCORER, "DeepLabCut"),
        ("cam0.csv", "heatmap_tracker", "Lightning Pose"),
    ],
)
def test_csv_software_detection(tmp_path: Path, name: str, scorer: str, software: str) -> None:
    positions, confidence, names = simulate_pose(3, 2)
    labels = name.startswith("CollectedData")
    write_dlc_csv(tmp_path / name, positions, None if labels else confidence, names, scorer=scorer)

    pose = read_pose(tmp_path / name)

    assert (pose.source_software, pose.scorer) == (software, scorer)
    np.testing.assert_array_equal(pose.positions, positions)


# --- DeepLabCut _meta.pickle ----------------------------------------------------------------


class _Trap:
    """Unpickling this would create a folder: the reader must never do it."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.target),))


def _dlc_output(tmp_path: Path, suffix: str = "") -> Path:
    positions, confidence, names = simulate_pose(4, 2)
    return write_dlc_h5(tmp_path / f"cam0{SCORER}{suffix}.h5", positions, confidence, names,
                        scorer=SCORER)  # fmt: skip


def _write_meta(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / f"cam0{SCORER}_meta.pickle"
    path.write_bytes(pickle.dumps({"data": data}))
    return path


@pytest.mark.parametrize("suffix", ["", "_filtered", "_el", "_el_filtered"])
def test_dlc_meta_pickle_names_network_and_snapshot(tmp_path: Path, suffix: str) -> None:
    trap = tmp_path / "unpickling_ran_code"
    _write_meta(
        tmp_path,
        {
            "Scorer": SCORER,
            "DLC-model-config file": {
                "net_type": "resnet_50",
                "init_weights": "/proj/dlc-models/iteration-2/train/snapshot-5000",
                "anything": _Trap(trap),
            },
            "iteration (active-learning)": 2,
            "training set fraction": 0.95,
        },
    )
    path = _dlc_output(tmp_path, suffix)

    pose = read_pose(path)

    assert dlc_meta_path(path) == tmp_path / f"cam0{SCORER}_meta.pickle"
    assert pose.model_description == (
        "network resnet_50, snapshot-5000, iteration 2, training fraction 0.95"
    )
    assert pose.source_software_version is None  # DeepLabCut records no version
    assert not trap.exists()


def test_dlc_meta_pickle_of_another_scorer_or_damaged_is_ignored(tmp_path: Path) -> None:
    path = _dlc_output(tmp_path)
    _write_meta(tmp_path, {"Scorer": "DLC_other_1", "pytorch-config": {"net_type": "hrnet_w32"}})
    assert read_pose(path).model_description is None
    (tmp_path / f"cam0{SCORER}_meta.pickle").write_bytes(b"\x80\x04not a pickle")
    assert read_pose(path).model_description is None
    _write_meta(tmp_path, {"Scorer": SCORER, "pytorch-config": {"net_type": "hrnet_w32"}})
    assert read_pose(path).model_description == "network hrnet_w32"


def _hash_bomb(depth: int) -> bytes:
    """A dict whose key is a tuple nested ``depth`` deep with shared halves: hashing it costs
    2**depth steps, in a few hundred bytes."""
    key: tuple = ()
    for _ in range(depth):
        key = (key, key)
    body = pickle.dumps(key, 2)
    return b"\x80\x02}" + body[2:-1] + b"K\x01s."  # EMPTY_DICT, key, BININT1 1, SETITEM


@pytest.mark.parametrize("opcodes", ["setitem", "dict", "set"])
def test_dlc_meta_pickle_with_expensive_keys_is_ignored_at_once(
    tmp_path: Path, opcodes: str
) -> None:
    path = _dlc_output(tmp_path)
    meta = tmp_path / f"cam0{SCORER}_meta.pickle"
    if opcodes == "setitem":
        meta.write_bytes(_hash_bomb(64))
    elif opcodes == "dict":  # MARK, key, value, DICT
        meta.write_bytes(b"\x80\x02(" + _hash_bomb(64)[3:-2] + b"d.")
    else:
        meta.write_bytes(pickle.dumps({"data": {"Scorer": SCORER}, "x": {1, 2}}, 4))
    assert len(meta.read_bytes()) < 1000

    # unguarded, the first two never return (2**64 hash steps)
    assert read_pose(path).model_description is None


# --- HDF5 files that are not 2-D pose -------------------------------------------------------


def test_anipose_points3d_is_refused_with_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "points3d.h5"
    with h5py.File(path, "w") as h5:
        h5["tracks"] = np.zeros((10, 1, 5, 3))
    with pytest.raises(
        IngestError,
        match=r"points3d\.h5: this is sleap-anipose 3-D triangulated output .* not supported\n"
        r"  hint: ingest each camera's 2-D SLEAP file",
    ):
        read_pose(path)


# --- SLEAP provenance -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provenance", "version", "scorer", "model"),
    [
        ('{"sleap_version": "1.3.2", "model_paths": ["a/c.json", "a/t.json"], '
         '"predictor": "TopDownPredictor"}', "1.3.2", "a/c.json; a/t.json",
         "SLEAP TopDownPredictor"),
        ('{"sleap.version": "1.0.5", "model.centroid.path": "m/c", '
         '"model.centered_instance.path": "m/i"}', "1.0.5", "m/i; m/c", None),
        ("{}", None, None, None),
        ("not json", None, None, None),
    ],
    ids=["sleap-1.3", "sleap-1.0", "proofread", "damaged"],
)  # fmt: skip
def test_sleap_analysis_h5_provenance(
    tmp_path: Path, provenance: str, version: str | None, scorer: str | None, model: str | None
) -> None:
    from w2t_bkin.testing.pose import write_sleap_analysis_h5

    positions, confidence, names = simulate_pose(3, 3)
    path = write_sleap_analysis_h5(tmp_path / "a.analysis.h5", positions, confidence, names, [])
    with h5py.File(path, "a") as h5:
        del h5["provenance"]
        h5["provenance"] = provenance

    pose = read_pose(path)

    assert (pose.source_software_version, pose.scorer, pose.model_description) == (
        version,
        scorer,
        model,
    )
