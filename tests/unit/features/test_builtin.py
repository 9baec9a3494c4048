"""Built-in features (the kinematics library as pipeline steps) and the store's naming rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.features.builtin import (
    FEATURES,
    CleanTrack,
    HeadingFeature,
    JointAngles,
    KeypointDistances,
    KinematicsFeature,
)
from w2t_bkin.features.dataset import FeatureDataset, track_arrays
from w2t_bkin.features.errors import FeatureInputError
from w2t_bkin.features.run import run_feature
from w2t_bkin.features.store import artifact_path


@pytest.fixture
def square(tmp_path: Path) -> FeatureDataset:
    """Keypoints a=(3t, 0), b=(3t + 4, 0), c=(3t + 4, 3) at 10 Hz with a dropped frame 5."""
    ds = FeatureDataset(tmp_path / "d")
    frames = np.r_[0:5, 6:12]
    t_s = frames / 10.0
    x = 3.0 * t_s
    positions = np.stack(
        [np.c_[x, 0 * x], np.c_[x + 4, 0 * x], np.c_[x + 4, 0 * x + 3]], axis=1
    ).astype(np.float32)
    confidence = np.full((frames.size, 3), 0.9, np.float32)
    confidence[2, 0] = 0.1  # one low-confidence point on a
    ds.add_track(
        subject="m",
        session="s",
        camera="c",
        individual="i",
        t_s=t_s,
        positions=positions,
        confidence=confidence,
        keypoints=["a", "b", "c"],
        frame_idx=frames,
    )
    yield ds
    ds.close()


def _out(ds: FeatureDataset, feature) -> object:
    result = run_feature(ds, feature)
    frame = ds.load_feature(result, "m", "s/c/i")
    assert frame is not None
    return frame


def test_kinematics_uses_real_timestamps_across_a_dropped_frame(square: FeatureDataset) -> None:
    frame = _out(square, KinematicsFeature({"keypoints": ["a", "c"]}))
    np.testing.assert_allclose(frame["vx/a"], 3.0, rtol=1e-5)
    np.testing.assert_allclose(frame["vy/c"], 0.0, atol=1e-5)
    np.testing.assert_allclose(frame["speed/c"], 3.0, rtol=1e-5)
    np.testing.assert_allclose(frame["ax/a"], 0.0, atol=1e-3)
    assert "vx/b" not in frame and frame["frame_idx"].tolist() == [
        0,
        1,
        2,
        3,
        4,
        6,
        7,
        8,
        9,
        10,
        11,
    ]


def test_heading_joint_angle_and_distances_have_known_values(square: FeatureDataset) -> None:
    heading = _out(square, HeadingFeature({"rear": ["a"], "front": ["b"]}))
    np.testing.assert_allclose(heading["heading_rad"], 0.0, atol=1e-6)
    np.testing.assert_allclose(heading["angular_velocity_rad_s"], 0.0, atol=1e-6)
    angles = _out(square, JointAngles({"triplets": [["a", "b", "c"]]}))
    np.testing.assert_allclose(angles["angle/a-b-c"], np.pi / 2, rtol=1e-6)
    dist = _out(square, KeypointDistances({}))
    np.testing.assert_allclose(
        dist[["dist/a-b", "dist/a-c", "dist/b-c"]].to_numpy(),
        np.tile([4.0, 5.0, 3.0], (11, 1)),
        rtol=1e-6,
    )


def test_clean_track_masks_low_confidence_and_interpolates_in_time(square: FeatureDataset) -> None:
    result = run_feature(square, CleanTrack({"min_confidence": 0.5, "max_gap_s": 0.25}))
    frame = square.load_feature(result, "m", "s/c/i")
    assert frame is not None
    cleaned = track_arrays(frame)
    # point 2 of 'a' was dropped and refilled on the line x = 3 t
    np.testing.assert_allclose(cleaned.positions[2, 0, 0], [0.6, 0.0], atol=1e-5)
    kin = run_feature(square, KinematicsFeature({"keypoints": ["a"]}, inputs=[result]))
    assert square.load_feature(kin, "m", "s/c/i") is not None


def test_unknown_keypoint_names_are_reported(square: FeatureDataset) -> None:
    result = run_feature(square, KinematicsFeature({"keypoints": ["a"]}))
    assert result.failed_entries == ()
    from w2t_bkin.features.errors import FeatureRunError

    with pytest.raises(FeatureRunError, match=r"keypoints \['nose'\] are not in the track"):
        run_feature(square, KinematicsFeature({"keypoints": ["nose"]}))


def test_builtin_registry_names_match_classes() -> None:
    assert sorted(FEATURES) == sorted(cls.name for cls in FEATURES.values())
    assert {
        "clean-track",
        "kinematics",
        "heading",
        "joint-angles",
        "keypoint-distances",
        "behavior-classifier",
        "behavior-predict",
    } == set(FEATURES)


@pytest.mark.parametrize("name", ["*.parquet", "model.*", "sub/model.skops", "", ".."])
def test_artifacts_are_named_exactly_never_globbed(tmp_path: Path, name: str) -> None:
    with pytest.raises(FeatureInputError, match="must be a plain file name"):
        artifact_path(tmp_path, name)
    assert artifact_path(tmp_path, "model.skops") == tmp_path / "artifacts" / "model.skops"


def test_a_missing_optional_package_names_the_features_extra() -> None:
    from w2t_bkin.errors import MissingExtraError
    from w2t_bkin.features.store import require_feature_extra

    with pytest.raises(MissingExtraError, match="reading x needs the optional dependency") as info:
        require_feature_extra("no_such_package_w2t", "reading x")
    assert "w2t-bkin[features]" in (info.value.hint or "")


def test_parquet_intact_detects_cut_files(tmp_path: Path) -> None:
    import pandas as pd

    from w2t_bkin.features.store import parquet_intact, write_entry

    path = tmp_path / "e.parquet"
    assert write_entry(path, pd.DataFrame({"frame_idx": range(100), "x": 0.5})) == 100
    data = path.read_bytes()
    assert parquet_intact(path)
    for cut in (data[:-1], data[: len(data) // 2], data[:4] + data[-8:], b""):
        path.write_bytes(cut)
        assert not parquet_intact(path)
    assert not parquet_intact(tmp_path / "missing.parquet")
