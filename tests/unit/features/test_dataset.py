"""The feature dataset: tracks with real timestamps from arrays, pose files and NWB files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.features.dataset import FeatureDataset, track_arrays
from w2t_bkin.features.errors import FeatureInputError
from w2t_bkin.features.keys import make_entry_key
from w2t_bkin.features.registry import FeatureRegistry
from w2t_bkin.testing.pose import simulate_pose, write_dlc_h5


def test_track_round_trips_through_parquet(tmp_path: Path) -> None:
    ds = FeatureDataset(tmp_path / "d")
    positions, confidence, names = simulate_pose(30, 3, seed=1, nan_fraction=0.1)
    t_s = np.cumsum(np.full(30, 1 / 30)) + 100.0
    entry = ds.add_track(
        subject="m 1",
        session="s_1",
        camera="top",
        individual="ü",
        t_s=t_s,
        positions=positions[:, 0],
        confidence=confidence[:, 0],
        keypoints=names,
    )
    assert (entry.group, entry.sequence) == ("m 1", "s_1/top/ü")
    assert ds.track_path(entry.entry_key).name == f"{make_entry_key('m 1', 's_1/top/ü')}.parquet"
    arrays = track_arrays(ds.load_track("m 1", "s_1/top/ü"))
    np.testing.assert_array_equal(arrays.positions, positions)
    np.testing.assert_array_equal(arrays.confidence, confidence)
    np.testing.assert_array_equal(arrays.t_s, t_s)
    assert arrays.keypoints == names and arrays.frame_idx.tolist() == list(range(30))
    assert ds.tracks() == [entry]
    ds.close()


def test_tracks_are_listed_in_natural_order(tmp_path: Path) -> None:
    ds = FeatureDataset(tmp_path / "d")
    for session in ("s10", "s2", "s1"):
        ds.add_track(
            subject="m",
            session=session,
            camera="c",
            individual="i",
            t_s=np.arange(3.0),
            positions=np.zeros((3, 1, 2)),
            confidence=None,
            keypoints=["k"],
        )
    assert ds.list_sequences("m") == ["s1/c/i", "s2/c/i", "s10/c/i"]
    assert ds.list_groups() == ["m"]
    ds.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"t_s": np.arange(4.0)}, "4 timestamps for 3 frames"),
        ({"t_s": np.array([0.0, 1.0, 1.0])}, "strictly increasing"),
        ({"session": "a/b"}, "must be non-empty and hold no '/'"),
        ({"keypoints": ["a", "b"]}, "2 keypoint names for 1 keypoints"),
    ],
)
def test_bad_tracks_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    ds = FeatureDataset(tmp_path / "d")
    args = {
        "subject": "m",
        "session": "s",
        "camera": "c",
        "individual": "i",
        "t_s": np.arange(3.0),
        "positions": np.zeros((3, 1, 2)),
        "confidence": None,
        "keypoints": ["k"],
        **kwargs,
    }
    with pytest.raises(FeatureInputError, match=message):
        ds.add_track(**args)
    ds.close()


def test_a_non_dataset_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "stuff.txt").write_text("x")
    with pytest.raises(FeatureInputError, match="not a feature dataset"):
        FeatureDataset(tmp_path)


def test_registry_location_can_be_moved_off_the_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("W2T_FEATURES_REGISTRY", str(tmp_path / "local" / "reg.sqlite"))
    ds = FeatureDataset(tmp_path / "d")
    ds.add_track(
        subject="m",
        session="s",
        camera="c",
        individual="i",
        t_s=np.arange(2.0),
        positions=np.zeros((2, 1, 2)),
        confidence=None,
        keypoints=["k"],
    )
    assert (tmp_path / "local" / "reg.sqlite").is_file()
    assert not (tmp_path / "d" / "registry.sqlite").exists()
    ds.close()


def test_pose_file_import_keeps_the_given_timestamps(tmp_path: Path) -> None:
    positions, confidence, names = simulate_pose(25, 4, n_individuals=2, seed=3)
    path = write_dlc_h5(
        tmp_path / "videoDLC_resnet50.h5", positions, confidence, names, individuals=["a", "b"]
    )
    ds = FeatureDataset(tmp_path / "d")
    t_s = 5.0 + np.arange(25) / 40.0
    entries = ds.import_pose_file(path, subject="m", session="s", camera="side", t_s=t_s)
    assert [e.sequence for e in entries] == ["s/side/a", "s/side/b"]
    arrays = track_arrays(ds.load_track("m", "s/side/b"))
    np.testing.assert_array_equal(arrays.positions[:, 0], positions[:, 1])
    np.testing.assert_array_equal(arrays.t_s, t_s)
    ds.close()


def _write_pose_nwb(
    path: Path,
    frame_times_s: np.ndarray,
    positions: np.ndarray,
    confidence: np.ndarray,
    names: tuple[str, ...],
    individuals: tuple[str, ...],
) -> None:
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject

    from w2t_bkin.config import AssemblyConfig
    from w2t_bkin.model.pose import PoseData
    from w2t_bkin.nwb.devices import ensure_device
    from w2t_bkin.nwb.pose import add_camera_pose

    nwbfile = NWBFile(
        session_description="features test",
        identifier="x",
        session_id="ses1",
        session_start_time=datetime(2024, 1, 1, tzinfo=UTC),
        subject=Subject(subject_id="mouse7", species="Mus musculus", sex="F", age="P90D"),
    )
    pose = PoseData(
        positions=positions,
        confidence=confidence,
        keypoint_names=names,
        individual_names=individuals,
        source_software="DeepLabCut",
        source_file=Path("cam_top.h5"),
    )
    add_camera_pose(
        nwbfile,
        camera_id="top_cam",
        pose=pose,
        frame_times_s=frame_times_s,
        frame_clock="ttl",
        device=ensure_device(nwbfile, "camera top", "camera"),
        config=AssemblyConfig(compression="none"),
        image_series=None,
    )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)


def test_nwb_import_reads_pose_with_the_synchronized_timestamps(tmp_path: Path) -> None:
    positions, confidence, names = simulate_pose(50, 3, n_individuals=2, seed=5)
    # irregular times: a dropped frame and clock drift, as synchronization writes them
    frame_times_s = 12.0 + np.cumsum(np.r_[0.0, np.full(49, 0.0334)])
    frame_times_s[30:] += 0.0334
    nwb = tmp_path / "sub-mouse7_ses-ses1.nwb"
    _write_pose_nwb(nwb, frame_times_s, positions, confidence, names, ("left", "right"))
    ds = FeatureDataset(tmp_path / "d")
    entries = ds.import_nwb(nwb)
    assert [(e.group, e.sequence) for e in entries] == [
        ("mouse7", "ses1/top_cam/left"),
        ("mouse7", "ses1/top_cam/right"),
    ]
    arrays = track_arrays(ds.load_track("mouse7", "ses1/top_cam/right"))
    np.testing.assert_array_equal(arrays.t_s, frame_times_s)
    np.testing.assert_array_equal(arrays.positions[:, 0], positions[:, 1])
    np.testing.assert_array_equal(arrays.confidence[:, 0], confidence[:, 1])
    ds.close()


def test_processed_workspace_import_uses_folder_names(tmp_path: Path) -> None:
    positions, confidence, names = simulate_pose(10, 2, seed=2)
    folder = tmp_path / "exp" / "data" / "processed" / "subjA" / "day1"
    folder.mkdir(parents=True)
    _write_pose_nwb(
        folder / "sub-subjA_ses-day1.nwb",
        np.arange(10) / 20.0,
        positions,
        confidence,
        names,
        ("mouse",),
    )
    ds = FeatureDataset(tmp_path / "d")
    entries = ds.import_processed(tmp_path / "exp")
    # single-animal files do not store the individual name: the reader calls it individual_0
    assert [(e.group, e.sequence) for e in entries] == [("subjA", "day1/top_cam/individual_0")]
    with pytest.raises(FeatureInputError, match="no processed NWB files"):
        ds.import_processed(tmp_path / "empty")
    ds.close()


@pytest.mark.real_data
def test_real_dlc2nwb_file_matches_its_dlc_table(real_data: Path, tmp_path: Path) -> None:
    from w2t_bkin.sources.pose import read_pose

    nwb = real_data / "nwb/DLC2NWB/examples/m3v1mp4DLC_resnet50_openfieldAug20shuffle1_30000.nwb"
    h5 = (
        real_data
        / "dlc_single_animal/DLC2NWB/examples/m3v1mp4DLC_resnet50_openfieldAug20shuffle1_30000.h5"
    )
    ds = FeatureDataset(tmp_path / "d")
    with pytest.warns(UserWarning, match="Ignoring the following cached namespace"):
        entries = ds.import_nwb(nwb, subject="m3", session="v1")
    assert len(entries) == 1 and entries[0].n_frames == 2330
    arrays = track_arrays(ds.load_track("m3", entries[0].sequence))
    dlc = read_pose(h5)
    by_name = {k.split("_", 1)[1]: i for i, k in enumerate(arrays.keypoints)}
    for k, name in enumerate(dlc.keypoint_names):
        np.testing.assert_allclose(arrays.positions[:, 0, by_name[name]], dlc.positions[:, 0, k])
    np.testing.assert_array_equal(arrays.t_s, np.arange(2330.0))  # that file stores frame numbers
    ds.close()


def test_registry_table_of_tracks_survives_reopen(tmp_path: Path) -> None:
    ds = FeatureDataset(tmp_path / "d")
    ds.add_track(
        subject="m",
        session="s",
        camera="c",
        individual="i",
        t_s=np.arange(2.0),
        positions=np.zeros((2, 1, 2)),
        confidence=None,
        keypoints=["k"],
    )
    ds.close()
    with FeatureRegistry(tmp_path / "d" / "registry.sqlite") as registry:
        assert [row[:2] for row in registry.track_rows()] == [("m", "s/c/i")]
