"""``w2t-bkin analyze dtw|segment`` on pose results files: outputs, exit codes, messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.cli import main
from w2t_bkin.pose.results import PerformanceMetrics, PosePredictions, write_predictions
from w2t_bkin.testing.pose import write_dlc_h5

NAMES = ("shoulder", "elbow", "wrist")
RATE_HZ = 25.0


def arm(n_reps: int, period: int = 30, rest: int = 10) -> np.ndarray:
    """``(n_frames, 3, 2)`` pixels: an arm flexing ``n_reps`` times (elbow angle 170 -> 60 deg)."""
    t = np.arange(n_reps * period + 1)
    phase = np.concatenate(
        [np.zeros(rest), 0.5 * (1 - np.cos(2 * np.pi * t / period)), np.zeros(rest)]
    )
    angle = np.radians(170.0 - 110.0 * phase)
    pose = np.zeros((phase.size, 3, 2))
    pose[:, 0] = [100.0, 200.0]
    pose[:, 1] = [200.0, 200.0]
    pose[:, 2, 0] = 200.0 - 100.0 * np.cos(angle)
    pose[:, 2, 1] = 200.0 - 100.0 * np.sin(angle)
    return pose


def write_npz(path: Path, pose: np.ndarray, *, names: tuple[str, ...] = NAMES) -> Path:
    n = pose.shape[0]
    keypoints = pose[:, None].astype(np.float32)
    detected = ~np.isnan(keypoints).all(axis=(2, 3))
    predictions = PosePredictions(
        keypoints_px=keypoints,
        scores=np.where(np.isnan(keypoints[..., 0]), np.nan, 0.9).astype(np.float32),
        boxes_px=np.zeros((n, 1, 4), np.float32),
        detected=detected,
        frame_times_s=np.arange(n) / RATE_HZ,
        keypoint_names=names,
        skeleton_edges=((0, 1), (1, 2)),
        individual_names=("subject",),
        backend="synthetic",
        backend_version="0",
        model="synthetic",
        model_sha256=None,
        video_path=path.with_suffix(".mp4"),
        frame_size_px=(640, 480),
        metrics=PerformanceMetrics(frame_latency_s=np.zeros(n, np.float32)),
    )
    return write_predictions(predictions, path)


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_dtw_of_a_time_warped_copy_is_zero(tmp_path: Path, capsys) -> None:
    pose = arm(3)
    warp = np.sort(np.concatenate([np.arange(pose.shape[0]), np.arange(0, pose.shape[0], 4)]))
    a = write_npz(tmp_path / "a.npz", pose)
    b = write_npz(tmp_path / "b.npz", pose[warp])
    report = run_json(["analyze", "dtw", str(a), str(b), "--path"], capsys)
    (result,) = report["results"]
    assert result["distance"] == 0.0
    assert result["n_frames"] == [pose.shape[0], warp.size]
    assert result["path_length"] == warp.size
    assert result["path"][0] == [0, 0] and result["path"][-1] == [pose.shape[0] - 1, warp.size - 1]


def test_dtw_variants_labels_and_values(tmp_path: Path, capsys) -> None:
    pose = arm(2)
    a = write_npz(tmp_path / "a.npz", pose)
    b = write_npz(tmp_path / "b.npz", pose + np.array([3.0, 4.0]))  # moved 5 px
    per_joint = run_json(["analyze", "dtw", str(a), str(b), "--variant", "per-joint"], capsys)
    assert [r["label"] for r in per_joint["results"]] == list(NAMES)
    assert all(r["distance"] == pytest.approx(5.0, rel=1e-6) for r in per_joint["results"])
    relation = run_json(
        ["analyze", "dtw", str(a), str(b), "--variant", "relation", "--pair", "Shoulder,wrist"],
        capsys,
    )
    assert [r["label"] for r in relation["results"]] == ["shoulder-wrist"]
    assert relation["results"][0]["distance"] == pytest.approx(0.0, abs=1e-4)
    skeleton = run_json(["analyze", "dtw", str(a), str(b), "--variant", "relation"], capsys)
    assert [r["label"] for r in skeleton["results"]] == ["shoulder-elbow", "elbow-wrist"]
    angles = run_json(["analyze", "dtw", str(a), str(b), "--angle", "shoulder,elbow,wrist"], capsys)
    assert angles["representation"] == "angles"
    assert angles["results"][0]["distance"] == pytest.approx(0.0, abs=1e-5)
    rooted = run_json(["analyze", "dtw", str(a), str(b), "--root", "shoulder"], capsys)
    assert rooted["results"][0]["distance"] == pytest.approx(0.0, abs=1e-4)


def test_procrustes_removes_a_rotation(tmp_path: Path, capsys) -> None:
    pose = arm(2)
    theta = np.radians(30.0)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    a = write_npz(tmp_path / "a.npz", pose @ rot.T + 50.0)
    b = write_npz(tmp_path / "b.npz", pose)
    out = tmp_path / "dtw.json"
    report = run_json(["analyze", "dtw", str(a), str(b), "--procrustes", "-o", str(out)], capsys)
    assert report["results"][0]["distance"] == pytest.approx(0.0, abs=1e-3)
    assert report["invariances"]["procrustes"]["rotation_deg"] == pytest.approx(30.0, abs=1e-3)
    assert json.loads(out.read_text()) == report


def test_one_empty_frame_aborting_an_analysis_from_the_command_line(tmp_path: Path, capsys) -> None:
    pose = arm(2)
    gap = pose.copy()
    gap[17] = np.nan  # the estimator found nobody in frame 17
    a = write_npz(tmp_path / "a.npz", gap)
    b = write_npz(tmp_path / "b.npz", pose)
    report = run_json(["analyze", "dtw", str(a), str(b)], capsys)
    assert report["results"][0]["n_missing"] == [1, 0]
    seg = run_json(
        [
            "analyze",
            "segment",
            str(a),
            "--signal",
            "joint_angle",
            "--joints",
            "shoulder,elbow,wrist",
            "--invert",
            "--min-prominence",
            "1.0",
        ],
        capsys,
    )
    assert len(seg["segments"]) == 2 and seg["n_filled_frames"] == 1


def test_never_detected_gives_nan_and_a_note(tmp_path: Path, capsys) -> None:
    empty = np.full((20, 3, 2), np.nan)
    a = write_npz(tmp_path / "a.npz", empty)
    b = write_npz(tmp_path / "b.npz", arm(1))
    assert main(["analyze", "dtw", str(a), str(b), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["results"][0]["distance"] == "nan"
    assert "nothing was detected in one recording for all joints" in captured.err


def test_segment_counts_repetitions_and_writes_its_configuration(tmp_path: Path, capsys) -> None:
    a = write_npz(tmp_path / "a.npz", arm(4))
    out = tmp_path / "segments.json"
    assert (
        main(
            [
                "analyze",
                "segment",
                str(a),
                "--signal",
                "joint_axis",
                "--joints",
                "wrist",
                "--axis",
                "y",
                "--invert",
                "--min-prominence",
                "20",
                "--min-distance-s",
                "0.5",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "4 repetitions of joint_axis (wrist)" in text
    report = json.loads(out.read_text())
    assert len(report["segments"]) == 4
    assert report["config"]["rate_hz"] == pytest.approx(RATE_HZ)
    assert report["config"]["signal"] == {
        "kind": "joint_axis",
        "joints": [2],
        "axis": 1,
        "invert": True,
    }
    assert report["config"]["min_distance_s"] == 0.5
    assert [s["start_frame"] for s in report["segments"]] == [10, 40, 70, 100]


def test_segment_a_dlc_file_needs_the_rate(tmp_path: Path, capsys) -> None:
    pose = arm(3)[:, None].astype(np.float32)
    dlc = write_dlc_h5(tmp_path / "videoDLC_resnet50.h5", pose, None, NAMES)
    args = [
        "analyze",
        "segment",
        str(dlc),
        "--signal",
        "joint_pair_distance",
        "--joints",
        "shoulder,wrist",
        "--invert",
        "--min-prominence",
        "20",
    ]
    assert main(args) == 5
    err = capsys.readouterr().err
    assert "records no frame times, so the frame rate is unknown" in err
    assert "--rate-hz" in err
    report = run_json([*args, "--rate-hz", "25"], capsys)
    assert len(report["segments"]) == 3


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--variant", "bones"], 5, "--variant 'bones' is unknown"),
        (["--variant", "relation", "--pair", "shoulder,wirst"], 5, "did you mean 'wrist'"),
        (["--angle", "shoulder,elbow"], 5, "expected 3 comma-separated joints, found 2"),
        (["--individual", "mouse"], 5, "--individual 'mouse' is not in the file"),
        (["--3d"], 5, "this predictions file has no 3-D keypoints"),
        (["--pair", "shoulder,wrist"], 5, "--pair names joint pairs for --variant relation"),
        (["--procrustes", "--variant", "per-joint"], 5, "it takes --variant all"),
        (["--scale-by", "wrist,wrist"], 5, "are the same; expected two different joints"),
        (["--window", "-1"], 2, "Invalid value for '--window'"),
    ],
)
def test_dtw_bad_options_exit_with_the_reason(tmp_path: Path, capsys, args, code, message) -> None:
    a = write_npz(tmp_path / "a.npz", arm(1))
    assert main(["analyze", "dtw", str(a), str(a), *args]) == code
    assert message in capsys.readouterr().err


def test_dtw_of_different_pose_models_is_refused(tmp_path: Path, capsys) -> None:
    a = write_npz(tmp_path / "a.npz", arm(1))
    b = write_npz(tmp_path / "b.npz", arm(1), names=("hip", "knee", "ankle"))
    assert main(["analyze", "dtw", str(a), str(b)]) == 5
    assert "expected the same keypoints" in capsys.readouterr().err


def test_missing_or_corrupt_results_file_exits_4(tmp_path: Path, capsys) -> None:
    a = write_npz(tmp_path / "a.npz", arm(1))
    assert main(["analyze", "dtw", str(a), str(tmp_path / "nope.npz")]) == 4
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert (
        main(["analyze", "segment", str(bad), "--signal", "joint_speed", "--joints", "wrist"]) == 4
    )
    err = capsys.readouterr().err
    assert "nope.npz" in err and "bad.npz" in err


SLEAP_FLIES = "sleap/sleap/docs/notebooks/analysis_example/predictions.analysis.h5"


@pytest.mark.real_data
def test_real_sleap_tracks_with_missed_joints(real_data: Path, capsys) -> None:
    """3000 frames of two flies, ~20 % of frames missing some of the 13 nodes."""
    from w2t_bkin.sources.pose import read_pose

    path = real_data / SLEAP_FLIES
    positions = read_pose(path).positions
    # Against itself: every frame matches itself at zero cost, missing nodes included.
    same = run_json(["analyze", "dtw", str(path), str(path), "--individual", "track_0"], capsys)
    assert same["results"][0]["distance"] == 0.0
    assert same["results"][0]["path_length"] == positions.shape[0]
    # Per joint, frames where the joint is missing are left out of that joint's alignment.
    per_joint = run_json(
        [
            "analyze",
            "dtw",
            str(path),
            str(path),
            "--individual",
            "track_1",
            "--variant",
            "per-joint",
            "--window",
            "50",
        ],
        capsys,
    )
    missing = np.isnan(positions[:, 1]).any(axis=2).sum(axis=0)
    assert [r["n_missing"][0] for r in per_joint["results"]] == missing.tolist()
    assert all(r["distance"] == 0.0 for r in per_joint["results"])
    # Segmentation: no repetition spans a gap longer than the filling limit.
    seg = run_json(
        [
            "analyze",
            "segment",
            str(path),
            "--signal",
            "joint_speed",
            "--joints",
            "thorax",
            "--individual",
            "track_0",
            "--rate-hz",
            "30",
            "--min-prominence",
            "20",
            "--max-gap-s",
            "0.1",
        ],
        capsys,
    )
    assert seg["segments"]
    runs = np.array(seg["runs"])
    for s in seg["segments"]:
        inside = (runs[:, 0] <= s["start_frame"]) & (s["end_frame"] <= runs[:, 1])
        assert inside.sum() == 1


def test_segment_compare_gives_the_dtw_matrix_of_the_repetitions(tmp_path: Path, capsys) -> None:
    pose = arm(3)
    pose[pose.shape[0] // 2 :, :, 0] += 40.0  # the subject stepped aside mid-recording
    a = write_npz(tmp_path / "a.npz", pose)
    args = [
        "analyze",
        "segment",
        str(a),
        "--signal",
        "joint_angle",
        "--joints",
        "shoulder,elbow,wrist",
        "--invert",
        "--min-prominence",
        "1.0",
        "--compare",
    ]
    moved = run_json([*args, "--threads", "2"], capsys)["comparison"]
    assert len(moved["distance_matrix"]) == 3
    assert moved["distance_matrix"][0][0] == 0.0
    # Root-relative, the identical repetitions are identical again.
    rooted = run_json([*args, "--root", "shoulder"], capsys)["comparison"]
    assert rooted["root"] == ["shoulder"]
    assert rooted["mean_distance"] == pytest.approx(0.0, abs=1e-4)
    assert moved["mean_distance"] > 10.0
    assert main(args) == 0
    assert "mean DTW distance between repetitions" in capsys.readouterr().out
