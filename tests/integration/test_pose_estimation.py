"""Real MediaPipe inference, offline, on the human dance video of the sample data.

The bundle is the one ``make mediapipe-model`` builds (or one built here from
``$W2T_MEDIAPIPE_WHEEL``). Pinned values come from a run of this bundle under mediapipe 1.2.3
on CPU; the tolerances allow for floating-point differences between CPUs (XNNPACK kernels),
not for a different model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.cli import main
from w2t_bkin.pose.estimators import make_estimator
from w2t_bkin.pose.estimators.mediapipe import MEDIAPIPE_KEYPOINTS
from w2t_bkin.pose.process import process_video
from w2t_bkin.pose.results import read_predictions, write_predictions

pytestmark = pytest.mark.real_data

DANCE = Path("sleap/sleap/tests/data/videos/dance.mp4")
N_FRAMES = 45  # a subset keeps the test short; the whole video is 450 frames


@pytest.fixture(scope="module")
def dance(real_data: Path) -> Path:
    return real_data / DANCE


@pytest.fixture(scope="module")
def predictions(mediapipe_bundle: Path, dance: Path):  # type: ignore[no-untyped-def]
    estimator = make_estimator("mediapipe", mediapipe_bundle)
    try:
        yield process_video(dance, estimator, max_frames=N_FRAMES)
    finally:
        estimator.close()


def test_every_frame_has_one_person_with_33_landmarks(predictions) -> None:  # type: ignore[no-untyped-def]
    assert predictions.n_frames == N_FRAMES
    assert predictions.detected.all()
    assert predictions.keypoints_px.shape == (N_FRAMES, 1, 33, 2)
    assert predictions.keypoints_3d is not None
    assert predictions.keypoints_3d.shape == (N_FRAMES, 1, 33, 3)
    assert predictions.keypoints_3d_units == "m"
    assert predictions.frame_size_px == (406, 720)
    np.testing.assert_allclose(predictions.frame_times_s, np.arange(N_FRAMES) / 30.0, atol=1e-6)
    assert predictions.metrics.versions["mediapipe"] == "1.2.3"
    assert len(predictions.model_sha256) == 64


def test_keypoint_names_match_mediapipe(predictions) -> None:  # type: ignore[no-untyped-def]
    from mediapipe.tasks.python import vision

    assert predictions.keypoint_names == MEDIAPIPE_KEYPOINTS
    assert tuple(m.name.lower() for m in vision.PoseLandmark) == MEDIAPIPE_KEYPOINTS
    assert (11, 12) in predictions.skeleton_edges  # shoulders


def test_pinned_landmarks_of_the_first_frame(predictions) -> None:  # type: ignore[no-untyped-def]
    names = predictions.keypoint_names
    xy = predictions.keypoints_px[0, 0]
    pinned_px = {
        "nose": (198.5, 243.2),
        "left_shoulder": (278.0, 338.2),
        "right_shoulder": (108.8, 333.7),
        "left_hip": (246.9, 516.3),
        "right_hip": (163.1, 522.8),
    }
    for name, expected in pinned_px.items():
        np.testing.assert_allclose(xy[names.index(name)], expected, atol=3.0, err_msg=name)
    world = predictions.keypoints_3d[0, 0]
    hips = world[[names.index("left_hip"), names.index("right_hip")]]
    # world landmarks: metres, origin between the hips, hips ~0.24 m apart
    np.testing.assert_allclose(hips.mean(axis=0), 0.0, atol=0.02)
    assert 0.18 < np.linalg.norm(hips[0] - hips[1]) < 0.30
    assert predictions.scores[0, 0, names.index("nose")] > 0.9
    box = predictions.boxes_px[0, 0]
    assert box[0] <= xy[:, 0].min() and box[2] >= xy[:, 0].max()


def test_rerun_is_deterministic_and_round_trips(
    mediapipe_bundle: Path, dance: Path, predictions, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    estimator = make_estimator("mediapipe", mediapipe_bundle)
    try:
        again = process_video(dance, estimator, max_frames=10)
    finally:
        estimator.close()
    np.testing.assert_array_equal(again.keypoints_px, predictions.keypoints_px[:10])
    back = read_predictions(write_predictions(predictions, tmp_path / "dance.npz"))
    np.testing.assert_array_equal(back.keypoints_3d, predictions.keypoints_3d)


def test_cli_process_writes_readable_predictions(
    mediapipe_bundle: Path, dance: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dance.pose.npz"
    args = [
        "pose",
        "process",
        str(dance),
        "--model",
        str(mediapipe_bundle),
        "--max-frames",
        "8",
        "-o",
        str(out),
    ]
    assert main(args) == 0
    written = read_predictions(out)
    assert written.n_frames == 8 and written.backend == "mediapipe"
    assert written.detected.all()
