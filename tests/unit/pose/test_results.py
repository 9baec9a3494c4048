"""PosePredictions: the .npz round trip and every way a file can be refused."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.pose.errors import PoseResultsError
from w2t_bkin.pose.estimators.synthetic import (
    SYNTHETIC_KEYPOINTS,
    SYNTHETIC_SKELETON,
    synthetic_keypoints,
)
from w2t_bkin.pose.results import (
    FORMAT,
    SCHEMA_VERSION,
    PerformanceMetrics,
    PosePredictions,
    read_predictions,
    write_predictions,
)


def _predictions(n_frames: int = 40, *, with_3d: bool = True) -> PosePredictions:
    truth = synthetic_keypoints(np.arange(n_frames), 64, 48, missing_every=5)
    xy = truth.keypoints_px[:, 0]
    boxes = np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=-1)[:, None]
    return PosePredictions(
        keypoints_px=truth.keypoints_px,
        scores=truth.scores,
        boxes_px=boxes.astype(np.float32),
        detected=truth.detected,
        frame_times_s=np.arange(n_frames) / 30.0,
        keypoint_names=SYNTHETIC_KEYPOINTS,
        skeleton_edges=SYNTHETIC_SKELETON,
        individual_names=("individual_0",),
        backend="synthetic",
        backend_version="0.1.0",
        model="synthetic-v1",
        model_sha256=None,
        video_path=Path("/data/cam0.mp4"),
        frame_size_px=(64, 48),
        metrics=PerformanceMetrics(
            frame_latency_s=np.linspace(0.01, 0.02, n_frames, dtype=np.float32),
            model_load_s=0.25,
            wall_s=1.5,
            decode_s=0.3,
            peak_rss_bytes=123 << 20,
            device="cpu",
            versions={"w2t-bkin": "0.1.0"},
        ),
        keypoints_3d=truth.keypoints_3d if with_3d else None,
        keypoints_3d_units="m" if with_3d else None,
    )


@pytest.mark.parametrize("with_3d", [True, False])
def test_round_trip_keeps_every_array_and_field(tmp_path: Path, with_3d: bool) -> None:
    original = _predictions(with_3d=with_3d)
    back = read_predictions(write_predictions(original, tmp_path / "p.npz"))
    for name in ("keypoints_px", "scores", "boxes_px", "detected", "frame_times_s"):
        np.testing.assert_array_equal(getattr(back, name), getattr(original, name))
        assert getattr(back, name).dtype == getattr(original, name).dtype
    if with_3d:
        assert back.keypoints_3d is not None
        np.testing.assert_array_equal(back.keypoints_3d, original.keypoints_3d)
    else:
        assert back.keypoints_3d is None and back.keypoints_3d_units is None
    np.testing.assert_array_equal(back.metrics.frame_latency_s, original.metrics.frame_latency_s)
    assert back.keypoint_names == SYNTHETIC_KEYPOINTS
    assert back.skeleton_edges == SYNTHETIC_SKELETON
    assert (back.backend, back.model, back.video_path) == (
        "synthetic",
        "synthetic-v1",
        Path("/data/cam0.mp4"),
    )
    assert back.frame_size_px == (64, 48)
    assert back.metrics.peak_rss_bytes == 123 << 20
    assert back.metrics.versions == {"w2t-bkin": "0.1.0"}
    assert back.detection_rate == pytest.approx(32 / 40)


def test_file_is_compact_and_loads_without_pickle(tmp_path: Path) -> None:
    path = write_predictions(_predictions(1000), tmp_path / "p.npz")
    # 1,000 frames x 5 keypoints: float32, compressed; NeuroPose's JSON was ~9 MB per 1,000 frames.
    assert path.stat().st_size < 200_000
    with np.load(path, allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)


def test_empty_video_round_trips(tmp_path: Path) -> None:
    empty = _predictions(0)
    back = read_predictions(write_predictions(empty, tmp_path / "e.npz"))
    assert back.n_frames == 0 and back.keypoints_px.shape == (0, 1, 5, 2)
    assert np.isnan(back.detection_rate)


def test_inconsistent_arrays_are_refused_at_construction() -> None:
    good = _predictions(10)
    with pytest.raises(ValueError, match=r"scores has shape \(9, 1, 5\), expected \(10, 1, 5\)"):
        replace(good, scores=good.scores[:9])
    with pytest.raises(ValueError, match="keypoints_px has dtype float64, expected float32"):
        replace(good, keypoints_px=good.keypoints_px.astype(np.float64))
    with pytest.raises(ValueError, match="skeleton edges"):
        replace(good, skeleton_edges=((0, 5),))


def _rewrite_header(path: Path, target: Path, **changes: object) -> Path:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays["header_json"].tobytes())
    header.update(changes)
    arrays["header_json"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(target, **arrays)
    return target


def test_newer_schema_version_asks_for_an_upgrade(tmp_path: Path) -> None:
    path = write_predictions(_predictions(), tmp_path / "p.npz")
    future = _rewrite_header(path, tmp_path / "future.npz", schema_version=SCHEMA_VERSION + 1)
    with pytest.raises(
        PoseResultsError, match=f"schema version {SCHEMA_VERSION + 1} is newer"
    ) as caught:
        read_predictions(future)
    assert "upgrade w2t-bkin" in str(caught.value.hint)
    assert caught.value.exit_code == 4


def test_other_format_and_plain_npz_are_refused(tmp_path: Path) -> None:
    path = write_predictions(_predictions(), tmp_path / "p.npz")
    other = _rewrite_header(path, tmp_path / "other.npz", format="something-else")
    with pytest.raises(PoseResultsError, match=f"format is 'something-else', expected '{FORMAT}'"):
        read_predictions(other)
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(PoseResultsError, match="no 'header_json' header"):
        read_predictions(tmp_path / "plain.npz")


def test_truncated_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    path = write_predictions(_predictions(), tmp_path / "p.npz")
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(PoseResultsError, match="corrupt pose predictions file") as caught:
        read_predictions(tmp_path / "cut.npz")
    assert caught.value.path == tmp_path / "cut.npz"
    with pytest.raises(PoseResultsError, match="not found"):
        read_predictions(tmp_path / "absent.npz")


def test_array_disagreeing_with_header_is_corrupt(tmp_path: Path) -> None:
    path = write_predictions(_predictions(), tmp_path / "p.npz")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["scores"] = arrays["scores"][:5]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    (tmp_path / "bad.npz").write_bytes(buffer.getvalue())
    with pytest.raises(PoseResultsError, match=r"array 'scores' is \[5, 1, 5\]"):
        read_predictions(tmp_path / "bad.npz")


def test_pickled_object_array_is_refused_not_loaded(tmp_path: Path) -> None:
    path = write_predictions(_predictions(), tmp_path / "p.npz")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["keypoints_px"] = np.array([{"evil": 1}], dtype=object)
    np.savez(tmp_path / "pickled.npz", **arrays)
    with pytest.raises(PoseResultsError, match=r"cannot be read as an \.npz archive"):
        read_predictions(tmp_path / "pickled.npz")
    assert zipfile.is_zipfile(tmp_path / "pickled.npz")


def test_to_pose_data_feeds_the_nwb_model() -> None:
    pose = _predictions().to_pose_data()
    assert pose.positions.shape == (40, 1, 5, 2)
    assert pose.source_software == "w2t-bkin synthetic"
    assert pose.keypoint_names == SYNTHETIC_KEYPOINTS
    assert pose.skeleton_edges == SYNTHETIC_SKELETON


def test_latency_quantiles_are_exact() -> None:
    metrics = PerformanceMetrics(frame_latency_s=np.arange(1, 101, dtype=np.float32) / 1000)
    q = metrics.latency_quantiles_s()
    assert q["mean"] == pytest.approx(0.0505)
    assert q["p50"] == pytest.approx(0.0505)
    assert q["p99"] == pytest.approx(0.09901)
    assert metrics.inference_fps == pytest.approx(100 / 5.05)
