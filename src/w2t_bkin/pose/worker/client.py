"""Client side of the worker protocol: DeepLabCut and SLEAP estimators in their own environments.

The backend's interpreter comes from the ``python=`` option or from ``W2T_DEEPLABCUT_PYTHON`` /
``W2T_SLEAP_PYTHON``. :meth:`WorkerEstimator.load` probes it once (the package imports, its
version); :meth:`WorkerEstimator.estimate_video` asks it to analyse one video, then reads the
native files it wrote with :func:`w2t_bkin.sources.pose.read_pose`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from w2t_bkin.model.pose import PoseData
from w2t_bkin.pose.errors import (
    PoseBackendUnavailableError,
    PoseInferenceError,
    PoseModelError,
    WorkerProtocolError,
)
from w2t_bkin.pose.estimators.base import EstimatorInfo, Progress
from w2t_bkin.pose.results import PerformanceMetrics, PosePredictions
from w2t_bkin.pose.worker.protocol import (
    PROTOCOL,
    PROTOCOL_VERSION,
    WorkerOutput,
    WorkerRequest,
    WorkerResponse,
)

log = logging.getLogger(__name__)

__all__ = [
    "PYTHON_ENV_VARS",
    "RUNNER",
    "WorkerEstimator",
    "deeplabcut_estimator",
    "run_worker",
    "sleap_estimator",
]

RUNNER = Path(__file__).with_name("runner.py")
"""The stdlib-only worker script the backend's interpreter runs."""

PYTHON_ENV_VARS = {"deeplabcut": "W2T_DEEPLABCUT_PYTHON", "sleap": "W2T_SLEAP_PYTHON"}
"""Environment variable naming each backend's Python interpreter."""

_INSTALL = {
    "deeplabcut": "python3 -m venv ~/envs/deeplabcut && ~/envs/deeplabcut/bin/pip install "
    "'deeplabcut[pytorch]' (or a conda environment from DeepLabCut's install guide)",
    "sleap": "python3 -m venv ~/envs/sleap && ~/envs/sleap/bin/pip install 'sleap-nn[torch]' "
    "(pick the torch build for your CUDA version, see sleap-nn's install guide)",
}
_SOFTWARE = {"deeplabcut": "DeepLabCut", "sleap": "SLEAP"}
_READ_ORDER = ("dlc_h5", "sleap_analysis_h5", "slp", "dlc_csv")  # richest first


def deeplabcut_estimator(model: str | Path | None, **options: Any) -> WorkerEstimator:
    """The ``deeplabcut`` backend (``model``: the project's ``config.yaml``)."""
    return WorkerEstimator("deeplabcut", model, **options)


def sleap_estimator(model: str | Path | None, **options: Any) -> WorkerEstimator:
    """The ``sleap`` backend (``model``: a trained sleap-nn model folder)."""
    return WorkerEstimator("sleap", model, **options)


class WorkerEstimator:
    """A :class:`~w2t_bkin.pose.estimators.VideoPoseEstimator` run by a worker subprocess.

    Parameters
    ----------
    backend
        ``"deeplabcut"`` or ``"sleap"``.
    model
        DeepLabCut project ``config.yaml``, or SLEAP model folder.
    python
        The backend environment's interpreter; default from :data:`PYTHON_ENV_VARS`.
    output_dir
        Where the backend's native files stay; ``None``: a temporary folder removed after
        reading them.
    timeout_s
        Seconds one video may take; ``None`` for no limit.
    backend_options
        Passed to the backend's analysis call (``{"shuffle": 2}``, ``{"device": "cuda"}``).
    """

    def __init__(
        self,
        backend: str,
        model: str | Path | None,
        *,
        python: str | Path | None = None,
        output_dir: str | Path | None = None,
        timeout_s: float | None = None,
        backend_options: dict[str, Any] | None = None,
    ) -> None:
        if model is None or not Path(model).exists():
            raise PoseModelError(
                f"{_SOFTWARE[backend]} model not found",
                path=model,
                hint="pass the trained model: a DeepLabCut project config.yaml or a SLEAP "
                "model folder (--model PATH)",
            )
        self.backend = backend
        self.model = Path(model)
        self.python = _interpreter(backend, python)
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.timeout_s = timeout_s
        self.backend_options = dict(backend_options or {})
        self.last_outputs: list[WorkerOutput] = []
        self._version: str | None = None
        self._worker_python: str | None = None

    @property
    def info(self) -> EstimatorInfo:
        """Backend and model; keypoints are known only from the output files."""
        version = self._version or "unknown"
        return EstimatorInfo(
            backend=self.backend,
            backend_version=version,
            model=str(self.model),
            model_sha256=None,
            keypoint_names=(),
            skeleton_edges=(),
            device=str(self.backend_options.get("device", "auto")),
            versions={_SOFTWARE[self.backend]: version, "python": str(self.python)},
        )

    def load(self) -> float:
        """Probe the environment once: the package imports; returns the seconds it took."""
        if self._version is not None:
            return 0.0
        started = time.perf_counter()
        request = WorkerRequest(action="probe", backend=self.backend)  # type: ignore[arg-type]
        with tempfile.TemporaryDirectory(prefix="w2t-pose-worker-") as folder:
            response = run_worker(self.python, request, Path(folder), timeout_s=120.0)
        self._raise_for(response)
        self._version = response.backend_version or "unknown"
        self._worker_python = response.python
        return time.perf_counter() - started

    @property
    def worker_python(self) -> str | None:
        """Python version of the backend environment (known after :meth:`load`)."""
        return self._worker_python

    def close(self) -> None:
        """Nothing stays running between videos."""

    def estimate_video(self, video_path: Path, progress: Progress | None) -> PosePredictions:
        """Run the backend on ``video_path`` and read its native output."""
        video_path = Path(video_path)
        if not video_path.is_file():
            from w2t_bkin.errors import IngestError

            raise IngestError("video not found", path=video_path, hint="check the path")
        load_s = self.load()
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="w2t-pose-worker-") as folder:
            out = self.output_dir or Path(folder) / "out"
            request = WorkerRequest(
                action="analyze",
                backend=self.backend,  # type: ignore[arg-type]
                model=str(self.model.resolve()),
                video=str(video_path.resolve()),
                output_dir=str(out.resolve()),
                options=self.backend_options,
            )
            response = run_worker(
                self.python, request, Path(folder), timeout_s=self.timeout_s, progress=progress
            )
            self._raise_for(response, video_path)
            self.last_outputs = list(response.outputs)
            pose, n_video, times_s, size = _read_output(response.outputs, video_path)
        wall_s = time.perf_counter() - started
        if progress is not None:
            progress(pose.n_frames, n_video)
        return _predictions(self, pose, video_path, times_s, size, load_s, wall_s)

    def _raise_for(self, response: WorkerResponse, video: Path | None = None) -> None:
        error = response.error
        if response.status == "ok" or error is None:
            return
        if error.kind == "missing_package":
            raise PoseBackendUnavailableError(
                f"pose backend {self.backend!r}: {error.message}",
                hint=f"install {_SOFTWARE[self.backend]} into that environment, or create one: "
                f"{_INSTALL[self.backend]}; then set {PYTHON_ENV_VARS[self.backend]} to its python",
            )
        if error.traceback:
            log.debug("%s worker traceback:\n%s", self.backend, error.traceback)
        raise PoseInferenceError(
            f"{_SOFTWARE[self.backend]} failed ({error.kind}): {error.message}",
            path=video,
            hint="check the model and the backend's log above; rerun with -v for its traceback",
        )


def _interpreter(backend: str, python: str | Path | None) -> Path:
    variable = PYTHON_ENV_VARS[backend]
    chosen = python or os.environ.get(variable)
    hint = (
        f"create an environment for it: {_INSTALL[backend]}; then set {variable}="
        f"<env>/bin/python (or pass python=...)"
    )
    if not chosen:
        raise PoseBackendUnavailableError(
            f"pose backend {backend!r} runs in its own Python environment and none is "
            f"configured ({variable} is not set)",
            hint=hint,
        )
    path = Path(chosen).expanduser()
    resolved = shutil.which(str(path)) if not path.is_absolute() else str(path)
    if resolved is None or not os.access(resolved, os.X_OK):
        raise PoseBackendUnavailableError(
            f"pose backend {backend!r}: the Python interpreter {path} does not exist or is not "
            "executable",
            hint=hint,
        )
    return Path(resolved)


def run_worker(
    python: Path,
    request: WorkerRequest,
    folder: Path,
    *,
    timeout_s: float | None = None,
    progress: Progress | None = None,
) -> WorkerResponse:
    """Run one request through ``python runner.py`` and return its validated response.

    Stdout lines that are protocol events drive ``progress`` and the log; other lines (the
    backend's own chatter) go to the log at debug level.

    Raises
    ------
    WorkerProtocolError
        The worker wrote no response, or one outside the protocol, or a newer version.
    PoseInferenceError
        The worker ran past ``timeout_s`` (it is killed).
    """
    request_path = folder / "request.json"
    response_path = folder / "response.json"
    request_path.write_text(request.model_dump_json(), encoding="utf-8")
    command = [str(python), "-u", str(RUNNER), str(request_path), str(response_path)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=folder,
    )
    stderr_lines: list[str] = []
    drain = threading.Thread(target=_drain, args=(process.stderr, stderr_lines.append), daemon=True)
    drain.start()
    timer = threading.Timer(timeout_s, process.kill) if timeout_s else None
    if timer is not None:
        timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            _event(line, progress)
        code = process.wait()
    finally:
        if timer is not None:
            timer.cancel()
        drain.join(timeout=5.0)
    if timeout_s and code < 0:
        raise PoseInferenceError(
            f"{request.backend} worker ran past its {timeout_s:g} s limit and was stopped",
            hint="raise timeout_s, or check that the backend uses the GPU",
        )
    return _read_response(response_path, code, "".join(stderr_lines[-40:]))


def _drain(stream: Any, sink: Callable[[str], None]) -> None:
    for line in stream:
        sink(line)


def _event(line: str, progress: Progress | None) -> None:
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    if not isinstance(event, dict) or "event" not in event:
        log.debug("worker: %s", line.rstrip())
        return
    if event["event"] == "progress" and progress is not None:
        progress(int(event.get("frames_done", 0)), event.get("frames_total"))
    elif event["event"] == "log":
        log.info("worker: %s", event.get("message", ""))


def _read_response(path: Path, code: int, stderr: str) -> WorkerResponse:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkerProtocolError(
            f"the pose worker exited with status {code} without writing a response; its "
            f"stderr ends with:\n{stderr.strip() or '(nothing)'}",
            path=path,
            hint="check that the environment's python runs (Python >= 3.8) and is not a "
            "wrapper that swallows arguments",
        ) from None
    except (OSError, ValueError) as exc:
        raise WorkerProtocolError(
            f"the pose worker's response is not JSON: {exc}", path=path
        ) from exc
    if not isinstance(raw, dict) or raw.get("protocol") != PROTOCOL:
        raise WorkerProtocolError(
            f"the pose worker answered another protocol (expected {PROTOCOL!r})", path=path
        )
    if not isinstance(raw.get("version"), int) or raw["version"] > PROTOCOL_VERSION:
        raise WorkerProtocolError(
            f"the pose worker speaks protocol version {raw.get('version')!r}; this w2t-bkin "
            f"speaks {PROTOCOL_VERSION}",
            path=path,
            hint="use the runner shipped with this w2t-bkin (w2t_bkin/pose/worker/runner.py)",
        )
    try:
        return WorkerResponse.model_validate(raw)
    except ValidationError as exc:
        raise WorkerProtocolError(
            f"the pose worker's response does not match the protocol: {exc}", path=path
        ) from exc


def _read_output(
    outputs: list[WorkerOutput], video_path: Path
) -> tuple[PoseData, int, np.ndarray, tuple[int, int]]:
    from w2t_bkin.sources.pose import read_pose
    from w2t_bkin.sources.video import probe_video

    probe = probe_video(video_path)
    chosen = sorted(outputs, key=lambda o: _READ_ORDER.index(o.format))[0]
    source = "sleap" if chosen.format in ("slp", "sleap_analysis_h5") else "dlc"
    pose = read_pose(chosen.path, source, n_video_frames=probe.n_frames)
    if probe.frame_pts_s is not None and probe.frame_pts_s.shape[0] == pose.n_frames:
        times_s = probe.frame_pts_s.astype(np.float64)
    else:
        times_s = np.arange(pose.n_frames, dtype=np.float64) / probe.rate_hz
    return pose, probe.n_frames, times_s, (probe.width, probe.height)


def _predictions(
    estimator: WorkerEstimator,
    pose: PoseData,
    video_path: Path,
    times_s: np.ndarray,
    size: tuple[int, int],
    load_s: float,
    wall_s: float,
) -> PosePredictions:
    xy = pose.positions[..., :2].astype(np.float32)
    finite = np.asarray(np.isfinite(xy).all(axis=-1))  # (frames, individuals, keypoints)
    detected: np.ndarray = np.asarray(finite.any(axis=-1))
    # Min/max over detected keypoints only; all-NaN slices would warn in nanmin.
    low = np.where(finite[..., None], xy, np.inf).min(axis=2)
    high = np.where(finite[..., None], xy, -np.inf).max(axis=2)
    boxes = np.concatenate([low, high], axis=-1).astype(np.float32)
    boxes[~detected] = np.nan
    info = estimator.info
    version = pose.source_software_version or info.backend_version
    return PosePredictions(
        keypoints_px=xy,
        scores=pose.confidence.astype(np.float32),
        boxes_px=boxes,
        detected=detected,
        frame_times_s=times_s,
        keypoint_names=pose.keypoint_names,
        skeleton_edges=pose.skeleton_edges,
        individual_names=pose.individual_names,
        backend=estimator.backend,
        backend_version=version,
        model=str(estimator.model),
        model_sha256=None,
        video_path=video_path,
        frame_size_px=size,
        metrics=PerformanceMetrics(
            frame_latency_s=np.full(pose.n_frames, np.nan, dtype=np.float32),
            model_load_s=load_s,
            wall_s=wall_s,
            device=info.device,
            versions={**info.versions, "python": estimator.worker_python or "unknown"},
        ),
    )
