"""Every pose file of the public sample data (MANIFEST sections B-C), read in place.

Frame counts follow the files: the deepof ``.csv`` tables hold 97 rows while the ``.h5`` tables
of the same sessions hold 100 (the MANIFEST says 100 for both).
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from w2t_bkin.errors import DataQualityWarning, IngestError
from w2t_bkin.metadata import PoseCameraMeta, PoseMeta, PoseModelMeta
from w2t_bkin.session.pose import load_camera_pose, resolve_pose_model
from w2t_bkin.sources.pose import (
    check_pose_frames,
    match_pose_to_videos,
    read_dlc_skeleton,
    read_pose,
)

pytestmark = pytest.mark.real_data

DLC1 = "dlc_single_animal"
DLCM = "dlc_multi_animal"
OPENFIELD = f"{DLC1}/DLC2NWB/examples/m3v1mp4DLC_resnet50_openfieldAug20shuffle1_30000.h5"
DEEPOF = f"{DLC1}/deepof/tests/test_examples/test_single_topview/Tables"
GOLDEN = f"{DLC1}/DeepLabCut/examples/golden_mouse-shaokai-2022-10-19"
PRANAV = f"{DLC1}/DeepLabCut/examples/openfield-Pranav-2018-10-30/labeled-data/m4s1"
REACHING = f"{DLC1}/DeepLabCut/examples/Reaching-Mackenzie-2018-08-30/labeled-data/reachingvideo1"
EPM = f"{DLC1}/DLCAnalyzer/data/EPM/Output_DLC/EPM_15DeepCut_resnet50_epmMay17shuffle1_1030000.csv"
MADLC = f"{DLCM}/deepof/tests/test_examples/test_madlc_topview/Tables"
MULTI = f"{DLCM}/DeepLabCut/examples/multi_mouse-dlc_team-2022-04-12"
EL = f"{MULTI}/videos/m3v1mp4shortDLC_effnet_b0_multi_mouseApr12shuffle1_5_el"
FIXTURES = f"{DLCM}/sleap/tests/data/dlc/labeled-data/video"
FLIES = "sleap/sleap/docs/notebooks/analysis_example"
ANIPOSE = "sleap/sleap-anipose/tests/data/minimal_session"
LP = "lightning_pose/eks/data"
MIRROR = "180607_004.train_frames=75.rng=0"
LP_LABELS = "lightning_pose/lightning-pose/data/mirror-mouse-example/CollectedData.csv"
SLEAP_TESTS = "sleap/sleap/tests/data"
MINIMAL = "minimal_instance.000_centered_pair_low_quality"
DEEPOF_SLEAP = "sleap/deepof/tests/test_examples/test_single_topview/Tables/SLEAP/testDLC_sleap"
MA4 = ("individual1", "individual2", "individual3", "single")
ONE = ("individual_0",)

# (path, frames, individuals, keypoints, software, DataQualityWarning regex or None)
CASES = [
    (OPENFIELD, 2330, ONE, 4, "DeepLabCut", None),
    (f"{DEEPOF}/testDLC_csv_table.csv", 97, ONE, 14, "DeepLabCut", None),
    (f"{DEEPOF}/testDLC_h5_table.h5", 100, ONE, 14, "DeepLabCut", None),
    (EPM, 962, ONE, 25, "DeepLabCut", None),
    (f"{GOLDEN}/videos/golden_mouseDLC_dlcrnetms5_golden_mouseOct19shuffle1_2000.h5", 4860, ONE, 27,
     "DeepLabCut", None),
    (f"{GOLDEN}/labeled-data/golden_mouse/CollectedData_shaokai.csv", 20, ONE, 27, "DeepLabCut",
     None),
    (f"{GOLDEN}/labeled-data/golden_mouse/CollectedData_shaokai.h5", 20, ONE, 27, "DeepLabCut",
     None),
    (f"{PRANAV}/CollectedData_Pranav.h5", 116, ONE, 4, "DeepLabCut", None),
    (f"{PRANAV}/CollectedData_Pranav.csv", 116, ONE, 4, "DeepLabCut", None),
    (f"{REACHING}/CollectedData_Mackenzie.h5", 55, ONE, 5, "DeepLabCut", None),
    (f"{REACHING}/CollectedData_Mackenzie.csv", 55, ONE, 5, "DeepLabCut", None),
    (f"{MADLC}/testDLC_h5_table_madlc.h5", 100, ("mouse_black_tail", "mouse_white_tail"), 14,
     "DeepLabCut", None),
    (f"{MADLC}/testDLC_csv_table_madlc.csv", 97, ("mouse_black_tail", "mouse_white_tail"), 14,
     "DeepLabCut", None),
    (f"{EL}.h5", 31, MA4, 5, "DeepLabCut", None),
    (f"{EL}_filtered.h5", 31, MA4, 5, "DeepLabCut", None),
    (f"{EL}_filtered.csv", 31, MA4, 5, "DeepLabCut", None),
    (f"{MULTI}/labeled-data/m3v1mp4/CollectedData_dlc_team.csv", 5, MA4, 5, "DeepLabCut", None),
    (f"{MULTI}/labeled-data/m3v1mp4short/CollectedData_dlc_team.csv", 5, MA4, 5, "DeepLabCut",
     None),
    (f"{FIXTURES}/maudlc_testdata_v2.csv", 4, ("Animal1", "Animal2", "single"), 5, "DeepLabCut",
     None),
    (f"{FLIES}/predictions.slp", 3000, ("track_0", "track_1"), 13, "SLEAP", None),
    (f"{FLIES}/predictions.analysis.h5", 3000, ("track_0", "track_1"), 13, "SLEAP", None),
    (f"{ANIPOSE}/top/minimal_top_proofread.slp", 120, ("track_0",), 15, "SLEAP", None),
    (f"{ANIPOSE}/top/minimal_top_proofread.analysis.h5", 120, ("track_0",), 15, "SLEAP", None),
    (f"{ANIPOSE}/back/minimal_back_proofread.analysis.h5", 120, ("track_0",), 15, "SLEAP",
     "kept as NaN\\): TailTip, Shoulder_right"),
    ("sleap/sleap/tests/data/hdf5_format_v1/centered_pair_predictions.slp", 1100,
     tuple(str(i) for i in range(1, 28)), 24, "SLEAP", None),
    ("sleap/sleap/tests/data/tracks/clip.slp", 1500, ("female", "male"), 13, "SLEAP", None),
    (f"{LP}/mirror-mouse/{MIRROR}.csv", 2000, ONE, 8, "Lightning Pose", None),
    (f"{LP}/mirror-mouse-separate/{MIRROR}.top.csv", 501, ONE, 4, "Lightning Pose", None),
    (f"{LP}/mirror-mouse-separate/{MIRROR}.bot.csv", 501, ONE, 4, "Lightning Pose", None),
    (LP_LABELS, 90, ONE, 17, "Lightning Pose", None),
    (f"{SLEAP_TESTS}/csv_format/{MINIMAL}.analysis.csv", 1, ONE, 2, "SLEAP", None),
]  # fmt: skip


def _read(path: Path, warning: str | None):
    context = (
        pytest.warns(DataQualityWarning, match=warning) if warning else contextlib.nullcontext()
    )
    with context:
        return read_pose(path)


@pytest.mark.parametrize(
    ("rel", "n_frames", "individuals", "n_keypoints", "software", "warning"),
    CASES,
    ids=[Path(c[0]).name for c in CASES],
)
def test_sample_pose_file(
    real_data: Path,
    rel: str,
    n_frames: int,
    individuals: tuple[str, ...],
    n_keypoints: int,
    software: str,
    warning: str | None,
) -> None:
    pose = _read(real_data / rel, warning)

    assert pose.positions.shape == (n_frames, len(individuals), n_keypoints, 2)
    assert pose.confidence.shape == (n_frames, len(individuals), n_keypoints)
    assert pose.positions.dtype == pose.confidence.dtype == np.float32
    assert pose.individual_names == individuals
    assert len(pose.keypoint_names) == n_keypoints
    assert pose.source_software == software
    assert not np.isnan(pose.positions).all()


def test_openfield_h5_values(real_data: Path) -> None:
    frame = pd.read_hdf(real_data / OPENFIELD, "df_with_missing")
    assert isinstance(frame, pd.DataFrame)
    scorer = "DLC_resnet50_openfieldAug20shuffle1_30000"

    pose = read_pose(real_data / OPENFIELD)

    assert pose.keypoint_names == ("snout", "leftear", "rightear", "tailbase")
    assert pose.scorer == scorer
    assert not np.isnan(pose.positions).any() and not np.isnan(pose.confidence).any()
    for frame_idx in (0, 1000, 2329):
        for k, bodypart in enumerate(pose.keypoint_names):
            row = frame.iloc[frame_idx]
            assert pose.positions[frame_idx, 0, k, 0] == np.float32(row[(scorer, bodypart, "x")])
            assert pose.positions[frame_idx, 0, k, 1] == np.float32(row[(scorer, bodypart, "y")])
            assert pose.confidence[frame_idx, 0, k] == np.float32(
                row[(scorer, bodypart, "likelihood")]
            )


def test_old_deepcut_csv_values(real_data: Path) -> None:
    frame = pd.read_csv(real_data / EPM, header=[0, 1, 2], index_col=0)
    pose = read_pose(real_data / EPM)

    assert pose.scorer == "DeepCut_resnet50_epmMay17shuffle1_1030000"
    assert pose.keypoint_names[:2] == ("tl", "tr") and "nose" in pose.keypoint_names
    x = frame.xs("x", axis=1, level=2).to_numpy(np.float32)
    likelihood = frame.xs("likelihood", axis=1, level=2).to_numpy(np.float32)
    np.testing.assert_array_equal(pose.positions[:, 0, :, 0], x)
    np.testing.assert_array_equal(pose.confidence[:, 0], likelihood)


def test_labelled_data_has_no_confidence_and_keeps_nan(real_data: Path) -> None:
    frame = pd.read_hdf(real_data / REACHING / "CollectedData_Mackenzie.h5")
    assert isinstance(frame, pd.DataFrame)

    from_h5 = read_pose(real_data / REACHING / "CollectedData_Mackenzie.h5")
    from_csv = read_pose(real_data / REACHING / "CollectedData_Mackenzie.csv")

    assert np.isnan(from_h5.confidence).all()
    assert from_h5.keypoint_names == ("Hand", "Finger1", "Tongue", "Joystick1", "Joystick2")
    expected_nan = int(frame.isna().to_numpy().sum())
    assert expected_nan > 0
    assert int(np.isnan(from_h5.positions).sum()) == expected_nan
    np.testing.assert_array_equal(from_h5.positions, from_csv.positions)


def test_three_column_index_csv_matches_its_h5(real_data: Path) -> None:
    labels = real_data / GOLDEN / "labeled-data/golden_mouse"
    from_csv = read_pose(labels / "CollectedData_shaokai.csv")
    from_h5 = read_pose(labels / "CollectedData_shaokai.h5")

    assert from_csv.keypoint_names == from_h5.keypoint_names
    assert from_csv.keypoint_names[0] == "nose" and from_csv.keypoint_names[-1] == "head_midpoint"
    np.testing.assert_array_equal(from_csv.positions, from_h5.positions)


def test_dlcrnet_scorer_alone_does_not_mean_multi_animal(real_data: Path) -> None:
    pose = read_pose(real_data / CASES[4][0])
    assert pose.scorer == "DLC_dlcrnetms5_golden_mouseOct19shuffle1_2000"
    assert pose.individual_names == ONE


def test_multi_animal_unique_bodyparts_become_individual_single(real_data: Path) -> None:
    frame = pd.read_hdf(real_data / f"{EL}.h5", "tracks")
    assert isinstance(frame, pd.DataFrame)
    pose = read_pose(real_data / f"{EL}.h5")

    assert pose.keypoint_names == ("bodypart1", "bodypart2", "bodypart3", "corner1", "corner2")
    single = pose.individual_names.index("single")
    assert np.isnan(pose.positions[:, single, :3]).all()  # animal parts: never on "single"
    assert np.isnan(pose.positions[:, :single, 3:]).all()  # corners: never on the animals
    scorer = frame.columns.get_level_values(0)[0]
    for individual, bodypart in [("individual2", "bodypart3"), ("single", "corner2")]:
        i, k = pose.individual_names.index(individual), pose.keypoint_names.index(bodypart)
        np.testing.assert_array_equal(
            pose.positions[:, i, k, 1],
            frame[(scorer, individual, bodypart, "y")].to_numpy(np.float32),
        )
    # filtered CSV and filtered h5 are the same table
    np.testing.assert_array_equal(
        read_pose(real_data / f"{EL}_filtered.csv").positions,
        read_pose(real_data / f"{EL}_filtered.h5").positions,
    )


def test_madlc_csv_with_suffixed_scorers_matches_pandas(real_data: Path) -> None:
    path = real_data / MADLC / "testDLC_csv_table_madlc.csv"
    frame = pd.read_csv(path, header=[0, 1, 2, 3], index_col=0)
    pose = read_pose(path)

    assert pose.scorer == "DLC_dlcrnetms5_20220525_CSDS_KET_SI_TRIALJune03shuffle1_200000"
    x = frame.xs("x", axis=1, level=3).to_numpy(np.float32).reshape(97, 2, 14)
    np.testing.assert_array_equal(pose.positions[..., 0], x)


def test_ragged_header_is_an_ingest_error(real_data: Path) -> None:
    with pytest.raises(
        IngestError,
        match=r"maudlc_testdata\.csv: ragged CSV header: row 1 'scorer' has 13 fields, "
        r"row 2 'individuals' has 17 fields",
    ):
        read_pose(real_data / FIXTURES / "maudlc_testdata.csv")


@pytest.mark.parametrize("name", ["dlc_testdata", "madlc_testdata"])
def test_one_and_three_column_index_fixtures_agree(real_data: Path, name: str) -> None:
    v1 = read_pose(real_data / FIXTURES / f"{name}.csv")
    v2 = read_pose(real_data / FIXTURES / f"{name}_v2.csv")

    np.testing.assert_array_equal(v1.positions, v2.positions)
    np.testing.assert_array_equal(v1.positions[0, 0, :, 0], [0, 2, 4])
    assert np.isnan(v1.positions[2]).all() and np.isnan(v1.confidence).all()


def test_sleap_slp_and_analysis_export_agree(real_data: Path) -> None:
    slp = read_pose(real_data / FLIES / "predictions.slp", n_video_frames=3000)
    h5 = read_pose(real_data / FLIES / "predictions.analysis.h5")
    with h5py.File(real_data / FLIES / "predictions.analysis.h5") as raw:
        tracks = raw["tracks"][()]

    both = ~np.isnan(slp.positions) & ~np.isnan(h5.positions)
    assert both.sum() > 0.9 * slp.positions.size
    np.testing.assert_array_equal(slp.positions[both], h5.positions[both])
    assert slp.keypoint_names == h5.keypoint_names
    assert slp.positions[1500, 1, 4, 0] == np.float32(tracks[1, 0, 4, 1500])
    assert h5.positions[1500, 1, 4, 1] == np.float32(tracks[1, 1, 4, 1500])
    assert np.isnan(h5.confidence).all()  # this older export has no point_scores
    assert np.nanmin(slp.confidence) >= 0 and not np.isnan(slp.confidence).all()
    assert len(slp.skeleton_edges) == 12
    assert slp.source_software_version is not None


def test_anipose_slp_and_analysis_export_agree(real_data: Path) -> None:
    slp = read_pose(real_data / ANIPOSE / "top/minimal_top_proofread.slp")
    h5 = read_pose(real_data / ANIPOSE / "top/minimal_top_proofread.analysis.h5")
    with h5py.File(real_data / ANIPOSE / "top/minimal_top_proofread.analysis.h5") as raw:
        scores = raw["point_scores"][()]

    np.testing.assert_array_equal(slp.positions, h5.positions)
    np.testing.assert_array_equal(h5.confidence[:, 0], scores[0].T.astype(np.float32))
    assert set(slp.skeleton_edges) == set(h5.skeleton_edges)  # same edges, listed differently


def test_fragmented_tracks_all_kept(real_data: Path) -> None:
    pose = read_pose(
        real_data / "sleap/sleap/tests/data/hdf5_format_v1/centered_pair_predictions.slp"
    )
    per_track = (~np.isnan(pose.positions[..., 0])).any(axis=2).sum(axis=0)
    assert (per_track > 0).all()  # every one of the 27 fragments has frames
    assert int((~np.isnan(pose.positions[..., 0, 0])).sum()) <= 2274


def test_lightning_pose_values(real_data: Path) -> None:
    path = real_data / LP / "mirror-mouse" / f"{MIRROR}.csv"
    frame = pd.read_csv(path, header=[0, 1, 2], index_col=0)
    pose = read_pose(path)

    assert pose.scorer == "heatmap_mhcrnn_tracker"
    assert pose.keypoint_names[0] == "paw1LH_top" and pose.keypoint_names[-1] == "paw4RH_bot"
    scorer = frame.columns.get_level_values(0)[0]
    np.testing.assert_array_equal(
        pose.confidence[:, 0, 3],
        frame[(scorer, "paw4RH_top", "likelihood")].to_numpy(np.float32),
    )


def test_dlc_config_skeletons(real_data: Path) -> None:
    multi = read_dlc_skeleton(real_data / MULTI / "config.yaml")
    single = read_dlc_skeleton(real_data / DLC1 / "DLC2NWB/examples/config.yaml")

    assert multi.nodes == ("bodypart1", "bodypart2", "bodypart3", "corner1", "corner2")
    assert multi.edges == (
        ("bodypart1", "bodypart2"),
        ("bodypart2", "bodypart3"),
        ("bodypart1", "bodypart3"),
    )
    assert single.nodes == ("snout", "leftear", "rightear", "tailbase") and single.edges == ()


def test_real_pose_files_match_their_videos(real_data: Path) -> None:
    videos = [
        real_data / DLC1 / "DeepLabCut/examples/openfield-Pranav-2018-10-30/videos/m3v1mp4.mp4",
        real_data / MULTI / "videos/m3v1mp4short.mp4",
        real_data / FLIES / "20190128_113421.120s.mp4",
    ]
    poses = [real_data / OPENFIELD, real_data / f"{EL}.h5", real_data / f"{EL}_filtered.csv"]

    matched = match_pose_to_videos(poses, videos)

    assert matched == {poses[0]: videos[0], poses[1]: videos[1], poses[2]: videos[1]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_pose_frames(read_pose(real_data / OPENFIELD), 2330, videos[0])  # MANIFEST count


def test_sleap_csv_export_matches_its_analysis_h5(real_data: Path) -> None:
    from_csv = read_pose(real_data / SLEAP_TESTS / f"csv_format/{MINIMAL}.analysis.csv")
    from_h5 = read_pose(real_data / SLEAP_TESTS / f"slp_hdf5/{MINIMAL}.analysis.h5")

    assert from_csv.keypoint_names == from_h5.keypoint_names == ("A", "B")
    np.testing.assert_array_equal(from_csv.positions, from_h5.positions)
    assert from_csv.positions[0, 0, 0, 0] == np.float32(205.9300539013689)


@pytest.mark.parametrize(
    ("rel", "match"),
    [
        (f"{ANIPOSE}/points3d.h5", r"this is sleap-anipose 3-D triangulated output"),
        (f"{ANIPOSE}/calibration.metadata.h5",
         r"not a pose file: this HDF5 file holds the datasets 'detected_corners', 'frames'"),
    ],
    ids=["points3d", "calibration"],
)  # fmt: skip
def test_hdf5_files_that_are_not_2d_pose_say_what_they_are(
    real_data: Path, rel: str, match: str
) -> None:
    with pytest.raises(IngestError, match=match):
        read_pose(real_data / rel)


@pytest.mark.parametrize(
    ("rel", "version", "scorer"),
    [
        (f"{DEEPOF_SLEAP}.slp", "1.3.2",
         "models/deepof.centroid/training_config.json; models/deepof.topdown/training_config.json"),
        (f"{DEEPOF_SLEAP}.analysis.h5", "1.3.2",
         "models/deepof.centroid/training_config.json; models/deepof.topdown/training_config.json"),
        (f"{SLEAP_TESTS}/tracks/clip.predictions.slp", "1.4.1a2",
         "tests/data/models/min_tracks_2node.UNet.bottomup_multiclass/training_config.json"),
        (f"{FLIES}/predictions.analysis.h5", None, None),  # older export: no provenance
        (f"{ANIPOSE}/top/minimal_top_proofread.slp", None, None),  # proofread: none recorded
    ],
    ids=["deepof-slp", "deepof-h5", "clip-predictions", "flies-h5", "anipose-proofread"],
)  # fmt: skip
def test_sleap_version_and_models_come_from_the_file(
    real_data: Path, rel: str, version: str | None, scorer: str | None
) -> None:
    pose = read_pose(real_data / rel, n_video_frames=None)
    assert (pose.source_software_version, pose.scorer) == (version, scorer)


def test_dlc_meta_pickle_next_to_the_outputs(real_data: Path) -> None:
    expected = "network efficientnet-b0, snapshot-5, iteration 0, training fraction 0.8"
    for suffix in (".h5", "_filtered.h5", "_filtered.csv"):
        pose = read_pose(real_data / f"{EL}{suffix}")
        assert (pose.model_description, pose.source_software_version) == (expected, None)
    assert read_pose(real_data / OPENFIELD).model_description is None  # no meta file


def test_dlc_project_model_gives_the_multi_animal_skeleton(real_data: Path) -> None:
    model = resolve_pose_model(
        "ma", PoseModelMeta(source="dlc", path=str(real_data / MULTI)), real_data
    )
    camera = PoseCameraMeta(source="dlc", model_id="ma")

    pose = load_camera_pose("cam", [real_data / f"{EL}.h5"], camera, PoseMeta(), None, model=model)

    assert pose.keypoint_names == ("bodypart1", "bodypart2", "bodypart3", "corner1", "corner2")
    assert pose.skeleton_edges == ((0, 1), (1, 2), (0, 2))
    assert pose.model_description == (
        f"model 'ma' ({real_data / MULTI}; DeepLabCut project 'multi_mouse' (labelled by "
        "dlc_team, Apr12, iteration 1, network dlcrnet_ms5)); network efficientnet-b0, "
        "snapshot-5, iteration 0, training fraction 0.8"
    )
