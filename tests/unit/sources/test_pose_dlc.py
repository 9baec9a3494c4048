"""DeepLabCut / Lightning Pose tables: synthetic round trips, header variants and errors."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from w2t_bkin.errors import DataQualityWarning, IngestError
from w2t_bkin.sources.pose import read_dlc_skeleton, read_dlc_table, read_pose
from w2t_bkin.testing.pose import simulate_pose, write_dlc_csv, write_dlc_h5

WRITERS = {"h5": write_dlc_h5, "csv": write_dlc_csv}


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == np.float32
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("fmt", ["h5", "csv"])
def test_single_animal_round_trip_is_exact(tmp_path: Path, fmt: str) -> None:
    positions, confidence, names = simulate_pose(40, 5, seed=3, nan_fraction=0.1)
    path = WRITERS[fmt](tmp_path / f"videoDLC_resnet50_x.{fmt}", positions, confidence, names)

    pose = read_pose(path)

    assert_same(pose.positions, positions)
    assert_same(pose.confidence, confidence)
    assert pose.keypoint_names == names
    assert pose.individual_names == ("individual_0",)
    assert pose.source_software == "DeepLabCut"
    assert pose.scorer == "DLC_resnet50_simulatedJan1shuffle1_1000"
    assert pose.source_file == path


@pytest.mark.parametrize("fmt", ["h5", "csv"])
def test_multi_animal_round_trip_is_exact(tmp_path: Path, fmt: str) -> None:
    positions, confidence, names = simulate_pose(30, 4, n_individuals=3, seed=4, nan_fraction=0.2)
    individuals = ["mouse_a", "mouse_b", "mouse_c"]
    path = WRITERS[fmt](
        tmp_path / f"v.{fmt}", positions, confidence, names, individuals=individuals
    )

    pose = read_pose(path)

    assert pose.positions.shape == (30, 3, 4, 2)
    assert_same(pose.positions, positions)
    assert_same(pose.confidence, confidence)
    assert pose.individual_names == tuple(individuals)


def test_columns_in_another_order_go_to_their_keypoint(tmp_path: Path) -> None:
    # DeepLabCut's own order (keypoint by keypoint, likelihood last) is copied in one reshape;
    # a table whose columns were reordered must still put every column where its header says.
    positions, confidence, names = simulate_pose(25, 3, seed=6, nan_fraction=0.1)
    path = write_dlc_h5(tmp_path / "vDLC_resnet50_x.h5", positions, confidence, names)
    frame = pd.read_hdf(path)
    shuffled = frame[frame.columns[np.random.default_rng(1).permutation(frame.shape[1])]]
    shuffled.to_hdf(tmp_path / "shuffledDLC_resnet50_x.h5", key="df_with_missing", format="table")

    pose = read_pose(tmp_path / "shuffledDLC_resnet50_x.h5")

    assert sorted(pose.keypoint_names) == sorted(names)
    order = [names.index(name) for name in pose.keypoint_names]
    assert_same(pose.positions, positions[:, :, order])
    assert_same(pose.confidence, confidence[:, :, order])


@pytest.mark.parametrize("fmt", ["h5", "csv"])
def test_labelled_data_without_likelihood_has_nan_confidence(tmp_path: Path, fmt: str) -> None:
    positions, _, names = simulate_pose(12, 3, seed=5)
    path = WRITERS[fmt](tmp_path / f"CollectedData_me.{fmt}", positions, None, names, scorer="me")

    pose = read_pose(path)

    assert_same(pose.positions, positions)
    assert np.isnan(pose.confidence).all()
    assert pose.confidence.shape == (12, 1, 3)
    assert pose.scorer == "me"


def test_3d_table_reads_z(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    positions = rng.uniform(0, 100, size=(8, 1, 2, 3)).astype(np.float32)
    confidence = rng.uniform(size=(8, 1, 2)).astype(np.float32)
    path = write_dlc_h5(tmp_path / "v3d.h5", positions, confidence, ["a", "b"])

    pose = read_pose(path)

    assert pose.positions.shape == (8, 1, 2, 3)
    assert_same(pose.positions, positions)


def test_large_table_is_read_in_blocks_exactly(tmp_path: Path, monkeypatch) -> None:
    # Block size shrunk so the multi-block copy path runs on a small file.
    monkeypatch.setattr("w2t_bkin.sources.pose.dlc.CHUNK_ROWS", 7)
    positions, confidence, names = simulate_pose(50, 3, seed=6, nan_fraction=0.05)
    path = write_dlc_h5(tmp_path / "v.h5", positions, confidence, names)

    pose = read_pose(path)

    assert_same(pose.positions, positions)
    assert_same(pose.confidence, confidence)


def test_hdf_key_is_found_not_assumed(tmp_path: Path) -> None:
    positions, confidence, names = simulate_pose(10, 2, n_individuals=2, seed=7)
    path = write_dlc_h5(
        tmp_path / "v_el.h5", positions, confidence, names, individuals=["a", "b"], key="tracks"
    )

    assert_same(read_pose(path).positions, positions)


def test_frame_index_gaps_place_rows_at_their_frame(tmp_path: Path) -> None:
    positions, confidence, names = simulate_pose(6, 2, seed=8)
    from w2t_bkin.testing.pose import dlc_dataframe

    frame = dlc_dataframe(positions, confidence, names)
    frame.index = [0, 1, 2, 5, 6, 7]
    path = tmp_path / "gap.csv"
    frame.to_csv(path)

    with pytest.warns(DataQualityWarning, match="skips 2 of 8 frames"):
        pose = read_pose(path)

    assert pose.n_frames == 8
    assert_same(pose.positions[[0, 1, 2, 5, 6, 7]], positions)
    assert np.isnan(pose.positions[3:5]).all()


def test_keypoint_nan_in_every_frame_is_kept_and_reported(tmp_path: Path) -> None:
    positions, confidence, names = simulate_pose(10, 3, seed=9)
    positions[:, :, 1] = np.nan
    confidence[:, :, 1] = np.nan
    path = write_dlc_h5(tmp_path / "v.h5", positions, confidence, names)

    with pytest.warns(DataQualityWarning, match=r"NaN in every frame \(kept as NaN\): kp1$"):
        pose = read_pose(path)

    assert pose.keypoint_names == names
    assert np.isnan(pose.positions[:, :, 1]).all()


def test_all_nan_file_is_an_ingest_error(tmp_path: Path) -> None:
    positions = np.full((5, 1, 2, 2), np.nan, dtype=np.float32)
    path = write_dlc_csv(tmp_path / "empty.csv", positions, positions[..., 0], ["a", "b"])

    with pytest.raises(IngestError, match=r"empty\.csv: every pose value is NaN"):
        read_pose(path)


def test_pandas_dedup_suffixes_in_scorer_row_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text(
        "scorer,S,S.1,S.2,S.3,S.4,S.5\n"
        "bodyparts,a,a,a,b,b,b\n"
        "coords,x,y,likelihood,x,y,likelihood\n"
        "0,1.5,2.5,0.5,3.5,4.5,0.25\n"
        "1,5.5,6.5,0.75,7.5,8.5,1.0\n"
    )

    pose = read_pose(path)

    assert pose.scorer == "S"
    assert_same(pose.positions[:, 0, :, 0], np.array([[1.5, 3.5], [5.5, 7.5]], np.float32))
    assert_same(pose.confidence[:, 0], np.array([[0.5, 0.25], [0.75, 1.0]], np.float32))


def test_lightning_pose_scorer_selects_lightning(tmp_path: Path) -> None:
    positions, confidence, names = simulate_pose(5, 2, seed=10)
    path = write_dlc_csv(tmp_path / "p.csv", positions, confidence, names, scorer="heatmap_tracker")

    pose = read_pose(path)

    assert pose.source_software == "Lightning Pose"
    assert pose.scorer == "heatmap_tracker"
    assert read_pose(path, source="dlc").source_software == "DeepLabCut"


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("pose.json", "{}", r"unsupported pose file extension '\.json'"),
        ("trials.csv", "trial,start\n1,0.5\n",
         "not a DeepLabCut-style pose CSV: the first cell is 'trial'"),
        ("labels.analysis.csv", "track,frame_idx,instance.score,a.x,a.y,a.score\n",
         "SLEAP CSV has no rows"),
        ("bad.csv", "scorer,S,S\nbodyparts,a,a\ncoords,x,y\n0,1.0,oops\n",
         "cannot parse the pose values"),
        ("half.csv", "scorer,S,S\nbodyparts,a,b\ncoords,x,x\n0,1.0,2.0\n",
         "bodypart 'a' of 'individual_0' has 1 of the 2"),
    ],
    ids=["extension", "not-a-pose-csv", "empty-sleap-csv", "non-numeric", "missing-y"],
)  # fmt: skip
def test_file_that_is_not_a_pose_table_names_the_file(
    tmp_path: Path, name: str, text: str, match: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(IngestError, match=rf"{re.escape(name)}: {match}"):
        read_pose(path)


def test_h5_that_is_not_hdf5(tmp_path: Path) -> None:
    path = tmp_path / "fake.h5"
    path.write_text("scorer,a\n")
    with pytest.raises(IngestError, match=r"fake\.h5: not an HDF5 file"):
        read_pose(path)
    with pytest.raises(IngestError, match=r"fake\.h5: not an HDF5 file"):
        read_dlc_table(path)


def test_hdf5_without_pandas_table(tmp_path: Path) -> None:
    path = tmp_path / "raw.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("values", data=np.zeros(3))
    with pytest.raises(
        IngestError,
        match=r"raw\.h5: not a pose file: this HDF5 file holds the datasets 'values' but no "
        r"pandas table .*\n  hint: pose files are DeepLabCut",
    ):
        read_pose(path)


def test_unknown_source(tmp_path: Path) -> None:
    positions, confidence, names = simulate_pose(3, 1, seed=0)
    path = write_dlc_csv(tmp_path / "v.csv", positions, confidence, names)
    with pytest.raises(IngestError, match="unknown pose source 'openpose'"):
        read_pose(path, source="openpose")


def test_missing_file() -> None:
    with pytest.raises(IngestError, match=r"nowhere\.h5: pose file not found"):
        read_pose("nowhere.h5")


# --- DLC config -----------------------------------------------------------------------------


def test_read_dlc_skeleton_single_and_multi(tmp_path: Path) -> None:
    single = tmp_path / "single.yaml"
    single.write_text(
        "Task: t\nmultianimalproject: false\nbodyparts:\n- snout\n- tail\n- ear\n"
        "skeleton:\n- - snout\n  - ear\n- - ear\n  - tail\n"
    )
    multi = tmp_path / "multi.yaml"
    multi.write_text(
        "multianimalproject: true\nbodyparts: MULTI!\nmultianimalbodyparts:\n- a\n- b\n"
        "uniquebodyparts:\n- corner\nskeleton:\n- [a, b]\n"
    )

    s = read_dlc_skeleton(single)
    m = read_dlc_skeleton(multi)

    assert s.nodes == ("snout", "tail", "ear")
    assert s.edges == (("snout", "ear"), ("ear", "tail"))
    assert m.nodes == ("a", "b", "corner")
    assert m.edges == (("a", "b"),)


def test_read_dlc_skeleton_rejects_unknown_edge_name(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("bodyparts: [a, b]\nskeleton: [[a, c]]\n")
    with pytest.raises(IngestError, match=r"skeleton entry 0 names bodypart 'c'"):
        read_dlc_skeleton(config)


def test_dataframe_layout_matches_deeplabcut(tmp_path: Path) -> None:
    """The writer's table has DLC's column levels, names and key (a check on the fixture)."""
    positions, confidence, names = simulate_pose(4, 2, n_individuals=2, seed=1)
    path = write_dlc_h5(tmp_path / "v.h5", positions, confidence, names, individuals=["a", "b"])
    frame = pd.read_hdf(path, "df_with_missing")
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    assert list(frame.columns[:3].get_level_values("coords")) == ["x", "y", "likelihood"]
    assert frame.iloc[2][(frame.columns[0])] == np.float64(positions[2, 0, 0, 0])
