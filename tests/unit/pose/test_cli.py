"""``w2t-bkin pose``: process, benchmark, backends, build-model, and their exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.cli import main
from w2t_bkin.pose.estimators.synthetic import synthetic_keypoints
from w2t_bkin.pose.results import read_predictions
from w2t_bkin.testing.video import write_video


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("cli") / "cam.mp4", 40, 25.0, width=64, height=48)


def test_process_writes_predictions_next_to_the_video(
    video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["pose", "process", str(video), "-b", "synthetic", "--option", "missing_every=4"]) == 0
    )
    out = video.with_name("cam.synthetic.pose.npz")
    predictions = read_predictions(out)
    truth = synthetic_keypoints(np.arange(40), 64, 48, missing_every=4)
    np.testing.assert_array_equal(predictions.keypoints_px, truth.keypoints_px)
    assert "40 frames, 30 with a detection" in capsys.readouterr().out


def test_process_writes_nwb_on_request(video: Path, tmp_path: Path) -> None:
    from w2t_bkin.nwb.inspection import read_nwb

    out = tmp_path / "cam.npz"
    nwb_path = tmp_path / "cam.nwb"
    args = [
        "pose",
        "process",
        str(video),
        "-b",
        "synthetic",
        "-o",
        str(out),
        "--nwb",
        str(nwb_path),
    ]
    assert main(args) == 0
    predictions = read_predictions(out)
    with read_nwb(nwb_path) as nwb:
        estimation = nwb.processing["behavior"]["PoseEstimation_cam"]
        assert estimation.source_software == "w2t-bkin synthetic"
        series = estimation.pose_estimation_series
        assert sorted(series) == sorted(predictions.keypoint_names)
        for k, name in enumerate(predictions.keypoint_names):
            np.testing.assert_array_equal(series[name].data[:], predictions.keypoints_px[:, 0, k])
        times = series[predictions.keypoint_names[0]].get_timestamps()
        np.testing.assert_allclose(times, np.arange(40) / 25.0, atol=1e-9)


def test_benchmark_json_reports_every_figure(
    video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "pose",
        "benchmark",
        str(video),
        "-b",
        "synthetic",
        "-n",
        "2",
        "--max-frames",
        "20",
        "-f",
        "json",
    ]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames_per_pass"] == 20 and summary["passes"] == 2
    assert set(summary["latency_ms"]) == {"mean", "p50", "p95", "p99"}
    assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"]
    assert summary["throughput_fps"] > 0 and summary["throughput_no_decode_fps"] > 0
    assert summary["device"] == "cpu" and summary["peak_rss_mib"] > 0


def test_backends_lists_all(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pose", "backends"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["deeplabcut", "mediapipe", "sleap", "synthetic"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-b", "openpose"], 2, "unknown pose backend 'openpose'"),
        (["-b", "synthetic", "--option", "novalue"], 2, "is not KEY=VALUE"),
        (["-b", "synthetic", "--option", "sigma=1"], 2, "does not accept that option"),
        (["-b", "deeplabcut"], 2, "needs a trained model"),
    ],
)
def test_bad_arguments_exit_with_the_error_code(
    video: Path, args: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pose", "process", str(video), *args]) == code
    assert message in capsys.readouterr().err


def test_missing_video_exits_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pose", "process", str(tmp_path / "absent.mp4"), "-b", "synthetic"]) == 4
    assert "video not found" in capsys.readouterr().err


def test_benchmark_refuses_zero_passes(video: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pose", "benchmark", str(video), "-b", "synthetic", "-n", "0"]) == 2
    assert "passes must be at least 1" in capsys.readouterr().err


def test_build_model_without_wheel_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("W2T_MEDIAPIPE_WHEEL", raising=False)
    monkeypatch.setenv("W2T_MODELS_DIR", str(tmp_path / "models"))
    assert main(["pose", "build-model"]) == 4
    err = capsys.readouterr().err
    assert "no mediapipe 0.10.21 wheel" in err and "pip download mediapipe==0.10.21" in err
