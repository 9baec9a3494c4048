"""process_video with the synthetic backend (exact ground truth), the registry and its errors."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from w2t_bkin.errors import IngestError
from w2t_bkin.pose.errors import PoseInferenceError, PoseModelError, UnknownPoseBackendError
from w2t_bkin.pose.estimators import (
    EstimatorInfo,
    FrameBuffers,
    FramePoseEstimator,
    PoseEstimator,
    list_backends,
    make_estimator,
)
from w2t_bkin.pose.estimators.synthetic import SyntheticEstimator, synthetic_keypoints
from w2t_bkin.pose.process import PROGRESS_EVERY_FRAMES, process_video
from w2t_bkin.testing.video import decode_frame_index, write_video


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("v") / "cam.mp4", 250, 30.0, width=64, height=48)


def test_synthetic_predictions_equal_ground_truth(video: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    estimator = make_estimator("synthetic", missing_every=7)
    predictions = process_video(video, estimator, progress=lambda d, t: calls.append((d, t)))

    truth = synthetic_keypoints(np.arange(250), 64, 48, missing_every=7)
    np.testing.assert_array_equal(predictions.keypoints_px, truth.keypoints_px)
    np.testing.assert_array_equal(predictions.scores, truth.scores)
    np.testing.assert_array_equal(predictions.detected, truth.detected)
    assert predictions.keypoints_3d is not None
    np.testing.assert_array_equal(predictions.keypoints_3d, truth.keypoints_3d)
    assert predictions.detected.sum() == 250 - 250 // 7
    np.testing.assert_allclose(predictions.frame_times_s, np.arange(250) / 30.0, atol=1e-9)
    # boxes enclose exactly the detected keypoints
    xy = truth.keypoints_px[6, 0]
    np.testing.assert_array_equal(predictions.boxes_px[6, 0], [*xy.min(axis=0), *xy.max(axis=0)])
    assert np.isnan(predictions.boxes_px[13, 0]).all()
    assert calls == [(0, 250), (100, 250), (200, 250), (250, 250)]
    assert PROGRESS_EVERY_FRAMES == 100
    assert predictions.metrics.frame_latency_s.shape == (250,)
    assert predictions.metrics.wall_s > 0 and predictions.metrics.peak_rss_bytes > 0


def test_kinematics_follow_the_closed_form() -> None:
    truth = synthetic_keypoints(np.array([0, 25]), 200, 100, period_frames=100)
    # frame 0: centre (100, 50 + 25 sin 0.5), heading 0: nose 0.5 body lengths (0.2 * 100) ahead
    np.testing.assert_allclose(
        truth.keypoints_px[0, 0, 0], [110.0, 50 + 25 * np.sin(0.5)], rtol=1e-6
    )
    # frame 25: quarter turn: centre x = 150, heading pi/2, nose straight down the y axis
    centre_y = 50 + 25 * np.sin(np.pi + 0.5)
    np.testing.assert_allclose(truth.keypoints_px[1, 0, 0], [150.0, centre_y + 10.0], atol=1e-4)


def test_max_frames_and_frame_order(video: Path) -> None:
    seen: list[int] = []

    class Recorder(SyntheticEstimator):
        def infer(
            self, frame_rgb: np.ndarray, frame_idx: int, t_ms: int, out: FrameBuffers
        ) -> None:
            # the frame handed over at index i is the video's frame i
            seen.append(decode_frame_index(frame_rgb[..., 1]))
            assert frame_rgb.flags["C_CONTIGUOUS"] and frame_rgb.dtype == np.uint8
            super().infer(frame_rgb, frame_idx, t_ms, out)

    predictions = process_video(video, Recorder(), max_frames=12)
    assert predictions.n_frames == 12
    assert seen == list(range(12))


def test_one_frame_video_gives_one_row(tmp_path: Path) -> None:
    path = write_video(tmp_path / "one.mp4", 1, 30.0)
    calls: list[tuple[int, int | None]] = []
    predictions = process_video(
        path, make_estimator("synthetic"), progress=lambda d, t: calls.append((d, t))
    )
    assert predictions.n_frames == 1
    np.testing.assert_array_equal(
        predictions.keypoints_px, synthetic_keypoints(np.arange(1), 64, 48).keypoints_px
    )
    assert calls == [(0, 1), (1, 1)]


def test_frameless_video_is_an_ingest_error(tmp_path: Path) -> None:
    # FFmpeg cannot open a container holding a stream but no frame: a clean error, not a crash.
    path = tmp_path / "empty.mkv"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(30))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()  # writes the header although no frame follows
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(IngestError, match="cannot open the video"):
        process_video(path, make_estimator("synthetic"))


def test_unknown_frame_count_grows_buffers(tmp_path: Path) -> None:
    info = make_estimator("synthetic").info
    buffers = FrameBuffers(info, 2)
    buffers.keypoints_px[1] = 7.0
    buffers.reserve(3)
    assert buffers.capacity == 4  # doubled
    assert (buffers.keypoints_px[1] == 7.0).all() and np.isnan(buffers.keypoints_px[2:]).all()
    assert not buffers.detected.any()


def test_progress_exception_cancels_and_stops_decoding(video: Path) -> None:
    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int | None) -> None:
        if done >= 100:
            raise Cancelled

    with pytest.raises(Cancelled):
        process_video(video, make_estimator("synthetic"), progress=cancel)
    assert not [t for t in threading.enumerate() if t.name == "pose-decode"]


def test_estimator_failure_names_the_frame(video: Path) -> None:
    class Broken(SyntheticEstimator):
        def infer(
            self, frame_rgb: np.ndarray, frame_idx: int, t_ms: int, out: FrameBuffers
        ) -> None:
            if frame_idx == 5:
                raise ValueError("tensor shape mismatch")
            super().infer(frame_rgb, frame_idx, t_ms, out)

    with pytest.raises(PoseInferenceError, match=r"failed on frame 5 \(t = 0.167 s\): ValueError"):
        process_video(video, Broken())
    assert not [t for t in threading.enumerate() if t.name == "pose-decode"]


def test_missing_and_non_video_inputs(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="video not found") as caught:
        process_video(tmp_path / "absent.mp4", make_estimator("synthetic"))
    assert caught.value.exit_code == 4
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(IngestError, match="cannot open the video"):
        process_video(tmp_path / "notes.mp4", make_estimator("synthetic"))


def test_registry_lists_and_refuses() -> None:
    assert list_backends() == ["deeplabcut", "mediapipe", "sleap", "synthetic"]
    assert isinstance(make_estimator("synthetic"), FramePoseEstimator)
    assert isinstance(make_estimator("SYNTHETIC"), PoseEstimator)
    with pytest.raises(
        UnknownPoseBackendError,
        match="unknown pose backend 'openpose'; known backends: "
        "deeplabcut, mediapipe, sleap, synthetic",
    ) as caught:
        make_estimator("openpose")
    assert caught.value.exit_code == 2
    with pytest.raises(UnknownPoseBackendError, match=r"does not accept that option.*'sigma'"):
        make_estimator("synthetic", sigma=2)
    with pytest.raises(UnknownPoseBackendError, match="'deeplabcut' needs a trained model"):
        make_estimator("deeplabcut")
    with pytest.raises(UnknownPoseBackendError, match="period_frames must be positive"):
        make_estimator("synthetic", period_frames=0)


def test_mediapipe_model_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("W2T_MEDIAPIPE_MODEL", str(tmp_path / "absent.task"))
    with pytest.raises(PoseModelError, match="the default bundle has not been built") as caught:
        make_estimator("mediapipe")
    assert "make mediapipe-model" in str(caught.value.hint)
    (tmp_path / "pose.tflite").write_bytes(b"\0" * 16)
    with pytest.raises(PoseModelError, match=r"must be a \.task bundle, found a '\.tflite' file"):
        make_estimator("mediapipe", tmp_path / "pose.tflite")
    with pytest.raises(UnknownPoseBackendError, match="out of range"):
        (tmp_path / "x.task").write_bytes(b"zip")
        make_estimator("mediapipe", tmp_path / "x.task", min_tracking_confidence=1.5)


def test_estimator_info_counts() -> None:
    info = EstimatorInfo("b", "1", "m", None, ("a", "b"), ((0, 1),), ("p0", "p1"))
    assert (info.n_keypoints, info.n_individuals) == (2, 2)
