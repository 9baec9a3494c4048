"""One camera's pose: ``[pose.models]`` resolution, one file per video, frame-count messages."""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from w2t_bkin.errors import DataQualityWarning, MetadataError, VerificationError
from w2t_bkin.metadata import PoseCameraMeta, PoseMeta, PoseModelMeta, SessionMetadata
from w2t_bkin.session.pose import load_camera_pose, resolve_pose_model, resolve_pose_models
from w2t_bkin.sources.video import CameraVideos, VideoProbe
from w2t_bkin.testing.pose import simulate_pose, write_dlc_h5, write_sleap_analysis_h5

SCORER = "DLC_resnet50_openfieldAug20shuffle1_30000"
NAMES = ("snout", "leftear", "rightear", "tailbase")
DLC_CONFIG = """\
Task: openfield
scorer: Pranav
date: Aug20
multianimalproject: false
bodyparts:
- snout
- leftear
- rightear
- tailbase
skeleton:
- - snout
  - leftear
- - snout
  - rightear
- - leftear
  - tailbase
iteration: 0
default_net_type: resnet_50
"""


def probe(path: Path, n_frames: int) -> VideoProbe:
    return VideoProbe(path, n_frames, 30.0, 64, 48, "mpeg4", n_frames / 30.0, "demux")


def write_dlc(path: Path, n_frames: int, seed: int = 0) -> tuple[Path, np.ndarray]:
    positions, confidence, _ = simulate_pose(n_frames, len(NAMES), seed=seed)
    write_dlc_h5(path, positions, confidence, NAMES, scorer=SCORER)
    return path, positions


def camera(**overrides: object) -> PoseCameraMeta:
    return PoseCameraMeta.model_validate({"source": "dlc", "paths": ["*.h5"], **overrides})


# --- [pose.models] --------------------------------------------------------------------------


@pytest.mark.parametrize("point_at", ["file", "folder"])
def test_dlc_model_config_gives_skeleton_and_provenance(tmp_path: Path, point_at: str) -> None:
    models = tmp_path / "models"
    (models / "openfield").mkdir(parents=True)
    (models / "openfield/config.yaml").write_text(DLC_CONFIG)
    pose_path, positions = write_dlc(tmp_path / f"cam0{SCORER}.h5", 10)
    path = "openfield/config.yaml" if point_at == "file" else "openfield"
    meta = PoseModelMeta(source="dlc", path=path, software_version="2.3.9")
    root = PoseMeta(models={"top": meta}, cameras={"cam0": camera(model_id="top")})

    model = resolve_pose_models(root, models)["top"]
    pose = load_camera_pose("cam0", [pose_path], root.cameras["cam0"], root, None, model=model)

    assert pose.skeleton_edges == ((0, 1), (0, 2), (1, 3))
    np.testing.assert_array_equal(pose.positions, positions)
    assert pose.scorer == SCORER  # the file's own scorer is kept
    assert pose.source_software_version == "2.3.9"
    assert pose.model_description == (
        f"model 'top' ({models / path}; DeepLabCut project 'openfield' "
        "(labelled by Pranav, Aug20, iteration 0, network resnet_50))"
    )


def test_model_skeleton_follows_the_mapping_and_skeleton_id_replaces_it(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(DLC_CONFIG)
    pose_path, _ = write_dlc(tmp_path / f"cam0{SCORER}.h5", 5)
    model = resolve_pose_model("top", PoseModelMeta(source="dlc", path="config.yaml"), tmp_path)
    mapping = {"snout": "nose", "leftear": "ear_l", "tailbase": "tail"}
    root = PoseMeta.model_validate(
        {
            "models": {"top": {"source": "dlc", "path": "config.yaml"}},
            "mappings": {"m": mapping},
            "skeletons": {"s": {"nodes": ["nose", "tail"], "edges": [["tail", "nose"]]}},
        }
    )

    mapped = load_camera_pose("cam0", [pose_path], camera(mapping_id="m"), root, None, model=model)
    replaced = load_camera_pose(
        "cam0", [pose_path], camera(mapping_id="m", skeleton_id="s"), root, None, model=model
    )

    assert mapped.keypoint_names == ("nose", "ear_l", "tail")
    assert mapped.skeleton_edges == ((0, 1), (1, 2))  # snout-rightear dropped with rightear
    assert replaced.skeleton_edges == ((2, 0),)


def test_missing_model_path_is_a_metadata_error_naming_the_key(tmp_path: Path) -> None:
    meta = PoseModelMeta(source="dlc", path="openfield/config.yaml")
    with pytest.raises(MetadataError) as info:
        resolve_pose_model("top", meta, tmp_path / "models")
    assert str(info.value) == (
        f"pose.models.top.path = 'openfield/config.yaml': "
        f"{tmp_path / 'models/openfield/config.yaml'} does not exist\n"
        f"  hint: model paths are relative to the workspace models folder "
        f"({tmp_path / 'models'}) or absolute; fix the path, or remove the key"
    )


def test_unreadable_dlc_config_is_a_metadata_error(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("Task: x\nbodyparts: []\n")
    with pytest.raises(MetadataError, match=r"pose\.models\.top\.path: DLC config lists no bodyp"):
        resolve_pose_model("top", PoseModelMeta(source="dlc", path="config.yaml"), tmp_path)


def test_model_of_another_project_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(DLC_CONFIG.replace("tailbase", "tail_base"))
    pose_path, _ = write_dlc(tmp_path / f"cam0{SCORER}.h5", 5)
    model = resolve_pose_model("top", PoseModelMeta(source="dlc", path="config.yaml"), tmp_path)
    with pytest.raises(
        VerificationError,
        match=r"pose\.models\.top: the DeepLabCut config .*config\.yaml lists bodyparts "
        r"\['tail_base'\] that cam0DLC_\S+\.h5 does not have",
    ):
        load_camera_pose("cam0", [pose_path], camera(), PoseMeta(), None, model=model)


def test_non_dlc_model_paths_are_recorded_only(tmp_path: Path) -> None:
    sleap_model = tmp_path / "centroid"
    sleap_model.mkdir()
    (sleap_model / "training_config.json").write_text("{}")
    lp_model = tmp_path / "lp"
    lp_model.mkdir()
    (lp_model / "config.yaml").write_text("data:\n  keypoint_names: [a, b]\n")

    sleap = resolve_pose_model("c", PoseModelMeta(source="sleap", path="centroid"), tmp_path)
    lp = resolve_pose_model("l", PoseModelMeta(source="lightning_pose", path="lp"), tmp_path)
    lp_file = resolve_pose_model(
        "f", PoseModelMeta(source="lightning_pose", path="lp/config.yaml"), tmp_path
    )

    assert (sleap.path, sleap.dlc_project) == (sleap_model, None)
    assert (lp.path, lp.dlc_project) == (lp_model, None)
    assert (lp_file.path, lp_file.dlc_project) == (lp_model / "config.yaml", None)
    assert lp.describe() == f"model 'l' ({lp_model})"


def test_camera_and_model_source_must_agree() -> None:
    with pytest.raises(
        ValueError,
        match=r"pose\.cameras\.cam0\.source = 'dlc', but its model pose\.models\.m\.source = "
        r"'sleap'",
    ):
        SessionMetadata.model_validate(
            {
                "cameras": [{"id": "cam0", "paths": ["a.avi"], "frame_clock": "video"}],
                "pose": {
                    "models": {"m": {"source": "sleap"}},
                    "cameras": {"cam0": {"source": "dlc", "model_id": "m"}},
                },
            }
        )


def write_sleap(path: Path, provenance: str, n_frames: int = 6) -> Path:
    positions, confidence, names = simulate_pose(n_frames, 3, seed=4)
    write_sleap_analysis_h5(path, positions, confidence, names, ["mouse"], [(0, 1)])
    with h5py.File(path, "a") as h5:
        del h5["provenance"]
        h5.create_dataset("provenance", data=provenance)
    return path


def test_file_version_wins_over_metadata_and_a_disagreement_warns(tmp_path: Path) -> None:
    path = write_sleap(
        tmp_path / "cam0.analysis.h5",
        '{"sleap_version": "1.3.2", "model_paths": ["m/centroid", "m/instance"], '
        '"predictor": "TopDownPredictor"}',
    )
    sleap_camera = PoseCameraMeta(source="sleap", paths=["*.h5"])
    model = resolve_pose_model(
        "s", PoseModelMeta(source="sleap", software_version="1.4.0"), tmp_path
    )

    with pytest.warns(
        DataQualityWarning,
        match=r"cam0\.analysis\.h5 records SLEAP 1\.3\.2, but pose\.models\.s\.software_version "
        r"is '1\.4\.0'; the file's version is kept",
    ):
        pose = load_camera_pose("cam0", [path], sleap_camera, PoseMeta(), None, model=model)

    assert pose.source_software_version == "1.3.2"
    assert pose.scorer == "m/centroid; m/instance"
    assert pose.model_description == "model 's'; SLEAP TopDownPredictor"


def test_metadata_version_and_model_id_fill_what_the_file_lacks(tmp_path: Path) -> None:
    path = write_sleap(tmp_path / "cam0.analysis.h5", "{}")
    model = resolve_pose_model(
        "s", PoseModelMeta(source="sleap", software_version="1.4.0"), tmp_path
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pose = load_camera_pose(
            "cam0", [path], PoseCameraMeta(source="sleap"), PoseMeta(), None, model=model
        )

    assert (pose.source_software_version, pose.scorer) == ("1.4.0", "s")


# --- one pose file per video ----------------------------------------------------------------


def test_two_outputs_of_one_video_are_an_error_listing_both(tmp_path: Path) -> None:
    raw, _ = write_dlc(tmp_path / f"cam0{SCORER}_el.h5", 5)
    filtered, _ = write_dlc(tmp_path / f"cam0{SCORER}_el_filtered.h5", 5, seed=1)
    other, _ = write_dlc(tmp_path / f"cam1{SCORER}.h5", 5)
    videos = CameraVideos("cam", (probe(tmp_path / "cam0.mp4", 5), probe(tmp_path / "cam1.mp4", 5)))

    with pytest.raises(VerificationError) as info:
        load_camera_pose("cam", [raw, filtered, other], camera(), PoseMeta(), videos)

    assert str(info.value) == (
        "camera 'cam': several pose files for one video (which one is meant is not guessed):\n"
        f"  cam0.mp4: cam0{SCORER}_el.h5, cam0{SCORER}_el_filtered.h5\n"
        "  hint: narrow pose.cameras.cam.paths (now ['*.h5']) to one file per video, e.g. "
        "'*_filtered.h5' for the filtered outputs only"
    )


def test_two_outputs_of_one_video_are_an_error_without_videos(tmp_path: Path) -> None:
    raw, _ = write_dlc(tmp_path / f"cam0{SCORER}.h5", 5)
    filtered, _ = write_dlc(tmp_path / f"cam0{SCORER}_filtered.h5", 5, seed=1)
    with pytest.raises(VerificationError, match=r"several pose files for one video"):
        load_camera_pose("cam", [raw, filtered], camera(), PoseMeta(), None)


def test_one_file_per_chunk_concatenates_in_chunk_order(tmp_path: Path) -> None:
    first, a = write_dlc(tmp_path / f"cam0_000{SCORER}.h5", 4)
    second, b = write_dlc(tmp_path / f"cam0_001{SCORER}.h5", 3, seed=1)
    videos = CameraVideos(
        "cam", (probe(tmp_path / "cam0_000.mp4", 4), probe(tmp_path / "cam0_001.mp4", 3))
    )

    pose = load_camera_pose("cam", [second, first], camera(), PoseMeta(), videos)

    np.testing.assert_array_equal(pose.positions, np.concatenate([a, b]))


# --- frame counts ---------------------------------------------------------------------------


def test_frame_mismatch_names_the_pose_file_and_the_video(tmp_path: Path) -> None:
    pose_path, _ = write_dlc(tmp_path / f"cam0{SCORER}.h5", 5)
    videos = CameraVideos("cam", (probe(tmp_path / "cam0.mp4", 7),))

    with pytest.raises(VerificationError) as info:
        load_camera_pose("cam", [pose_path], camera(), PoseMeta(), videos)

    assert str(info.value).startswith(
        f"pose file {pose_path} has 5 frames but the video {tmp_path / 'cam0.mp4'} has 7 frames"
    )


def test_frame_mismatch_policy_warn_pads_and_names_both(tmp_path: Path) -> None:
    pose_path, positions = write_dlc(tmp_path / f"cam0{SCORER}.h5", 5)
    videos = CameraVideos("cam", (probe(tmp_path / "cam0.mp4", 7),))

    with pytest.warns(
        DataQualityWarning,
        match=rf"cam0{SCORER}\.h5: 5 pose frames for the 7 frames of video cam0\.mp4",
    ):
        pose = load_camera_pose("cam", [pose_path], camera(), PoseMeta(), videos, policy="warn")

    np.testing.assert_array_equal(pose.positions[:5], positions)
    assert np.isnan(pose.positions[5:]).all()
