"""The worker-subprocess protocol, against a fake DeepLabCut in a second virtual environment.

The second environment is a bare ``venv`` (no pip, no numpy, no w2t-bkin) holding only a fake
``deeplabcut`` package whose ``analyze_videos`` writes a DeepLabCut CSV with known values, as
the real one does with ``save_as_csv=True``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.pose.errors import (
    PoseBackendUnavailableError,
    PoseInferenceError,
    PoseModelError,
    WorkerProtocolError,
)
from w2t_bkin.pose.estimators import make_estimator
from w2t_bkin.pose.process import process_video
from w2t_bkin.pose.worker.client import run_worker
from w2t_bkin.pose.worker.protocol import PROTOCOL_VERSION, WorkerRequest
from w2t_bkin.testing.video import write_video

FAKE_DLC = textwrap.dedent(
    '''
    """A fake DeepLabCut: analyze_videos writes x = frame + k, y = 2 * frame, p = 0.5 + k / 10."""
    import csv
    from pathlib import Path

    __version__ = "3.0.0-fake"
    BODYPARTS = ("snout", "tailbase")


    def analyze_videos(config, videos, destfolder=None, save_as_csv=False, n_frames=0, fail=False):
        if fail:
            raise RuntimeError("GPU out of memory (fake)")
        assert Path(config).name == "config.yaml", config
        for video in videos:
            scorer = "DLC_resnet50_fakeshuffle1_1000"
            target = Path(destfolder) / (Path(video).stem + scorer + ".csv")
            with open(target, "w", newline="") as stream:
                out = csv.writer(stream)
                out.writerow(["scorer"] + [scorer] * 3 * len(BODYPARTS))
                out.writerow(["bodyparts"] + [b for b in BODYPARTS for _ in range(3)])
                out.writerow(["coords"] + ["x", "y", "likelihood"] * len(BODYPARTS))
                for i in range(n_frames):
                    row = [i]
                    for k in range(len(BODYPARTS)):
                        row += [float(i + k), float(2 * i), 0.5 + k / 10]
                    out.writerow(row)
    '''
)


def _bare_venv(folder: Path) -> tuple[Path, Path]:
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return python, Path(site)


@pytest.fixture(scope="module")
def fake_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("worker")
    python, site = _bare_venv(root / "dlc-env")
    (site / "deeplabcut").mkdir()
    (site / "deeplabcut" / "__init__.py").write_text(FAKE_DLC)
    bare_python, _ = _bare_venv(root / "empty-env")
    project = root / "project"
    project.mkdir()
    (project / "config.yaml").write_text("Task: fake\nbodyparts: [snout, tailbase]\n")
    video = write_video(root / "mouse.mp4", 12, 30.0)
    return {
        "python": python,
        "bare_python": bare_python,
        "config": project / "config.yaml",
        "video": video,
    }


def test_fake_deeplabcut_round_trip_reads_native_output(
    fake_env: dict[str, Path], tmp_path: Path
) -> None:
    native = tmp_path / "native"
    estimator = make_estimator(
        "deeplabcut",
        fake_env["config"],
        python=fake_env["python"],
        output_dir=native,
        backend_options={"n_frames": 12},
    )
    predictions = process_video(fake_env["video"], estimator)

    frames = np.arange(12, dtype=np.float32)
    assert predictions.n_frames == 12
    assert predictions.keypoint_names == ("snout", "tailbase")
    np.testing.assert_array_equal(predictions.keypoints_px[:, 0, 0, 0], frames)
    np.testing.assert_array_equal(predictions.keypoints_px[:, 0, 1, 0], frames + 1)
    np.testing.assert_array_equal(predictions.keypoints_px[:, 0, 1, 1], 2 * frames)
    np.testing.assert_allclose(predictions.scores[0, 0], [0.5, 0.6], rtol=1e-6)
    np.testing.assert_array_equal(predictions.boxes_px[3, 0], [3.0, 6.0, 4.0, 6.0])
    assert predictions.detected.all()
    assert predictions.backend == "deeplabcut"
    assert predictions.backend_version == "3.0.0-fake"
    np.testing.assert_allclose(predictions.frame_times_s, frames / 30.0, atol=1e-9)
    # The native file stays where asked, named as DeepLabCut names it.
    assert [p.name for p in native.iterdir()] == ["mouseDLC_resnet50_fakeshuffle1_1000.csv"]
    assert [o.format for o in estimator.last_outputs] == ["dlc_csv"]  # type: ignore[attr-defined]


def test_backend_failure_is_reported_with_its_message(fake_env: dict[str, Path]) -> None:
    estimator = make_estimator(
        "deeplabcut", fake_env["config"], python=fake_env["python"], backend_options={"fail": True}
    )
    with pytest.raises(PoseInferenceError, match=r"RuntimeError: GPU out of memory \(fake\)"):
        process_video(fake_env["video"], estimator)


def test_missing_package_names_what_to_install(fake_env: dict[str, Path]) -> None:
    estimator = make_estimator("sleap", fake_env["config"].parent, python=fake_env["bare_python"])
    with pytest.raises(PoseBackendUnavailableError) as caught:
        estimator.load()
    error = caught.value
    assert error.exit_code == 7
    assert "cannot import 'sleap_nn'" in error.message
    assert "pip install 'sleap-nn[torch]'" in str(error.hint)
    assert "W2T_SLEAP_PYTHON" in str(error.hint)


def test_unconfigured_environment_names_the_variable(
    fake_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("W2T_DEEPLABCUT_PYTHON", raising=False)
    with pytest.raises(PoseBackendUnavailableError, match="W2T_DEEPLABCUT_PYTHON is not set"):
        make_estimator("deeplabcut", fake_env["config"])
    monkeypatch.setenv("W2T_DEEPLABCUT_PYTHON", "/nonexistent/bin/python")
    with pytest.raises(PoseBackendUnavailableError, match="/nonexistent/bin/python does not exist"):
        make_estimator("deeplabcut", fake_env["config"])


def test_missing_model_is_a_model_error(fake_env: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(PoseModelError, match="DeepLabCut model not found"):
        make_estimator("deeplabcut", tmp_path / "nope.yaml", python=fake_env["python"])


def test_newer_protocol_version_is_refused(fake_env: dict[str, Path], tmp_path: Path) -> None:
    # A worker that answers a newer protocol: a script standing in for the runner's python.
    impostor = tmp_path / "python"
    answer = {"protocol": "w2t-bkin.pose-worker", "version": PROTOCOL_VERSION + 1, "status": "ok"}
    impostor.write_text(f"#!/bin/sh\necho '{json.dumps(answer)}' > \"$4\"\n")
    impostor.chmod(0o755)
    request = WorkerRequest(action="probe", backend="deeplabcut")
    with pytest.raises(WorkerProtocolError, match=f"protocol version {PROTOCOL_VERSION + 1}"):
        run_worker(impostor, request, tmp_path)


def test_worker_without_response_reports_its_stderr(tmp_path: Path) -> None:
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'Fatal Python error: init failed' >&2\nexit 1\n")
    broken.chmod(0o755)
    request = WorkerRequest(action="probe", backend="sleap")
    with pytest.raises(WorkerProtocolError, match="status 1 without writing a response") as caught:
        run_worker(broken, request, tmp_path)
    assert "Fatal Python error: init failed" in caught.value.message
