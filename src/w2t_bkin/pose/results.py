"""Pose predictions of one video and their compact ``.npz`` file format.

A predictions file is a NumPy ``.npz`` archive (zip, deflate) holding only plain numeric arrays
and one JSON header stored as UTF-8 bytes, so it loads with ``allow_pickle=False``. The header
carries :data:`FORMAT` and :data:`SCHEMA_VERSION`; :func:`read_predictions` refuses a file of
another format or of a newer schema, and checks every array's shape and dtype against the header.
1,000 frames of 33 keypoints take about 0.4 MB (float32, compressed), against the 9 MB of JSON
NeuroPose wrote.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from w2t_bkin.io_utils import atomic_write_bytes
from w2t_bkin.model.pose import PoseData
from w2t_bkin.pose.errors import PoseResultsError

__all__ = [
    "FORMAT",
    "SCHEMA_VERSION",
    "PerformanceMetrics",
    "PosePredictions",
    "read_predictions",
    "write_predictions",
]

FORMAT = "w2t-bkin.pose-predictions"
"""The ``format`` field of the header: tells our files from any other ``.npz``."""

SCHEMA_VERSION = 1
"""Version of the file layout; a reader refuses files with a larger one."""

_HEADER_KEY = "header_json"


@dataclass(frozen=True, eq=False)
class PerformanceMetrics:
    """How fast and how heavy one run of an estimator over one video was.

    Attributes
    ----------
    frame_latency_s
        ``(n_frames,) float32``: seconds the estimator spent on each frame (inference only,
        decoding excluded; decoding runs in a thread in parallel).
    model_load_s
        Seconds spent loading the model for this run (0 when it was loaded before).
    wall_s
        Seconds from opening the video to the last prediction.
    decode_s
        Seconds the decoding thread spent decoding and converting frames (overlaps inference).
    peak_rss_bytes
        Peak resident memory of the process at the end of the run (``getrusage``; it includes
        whatever the process did before).
    device
        Where inference ran: ``"cpu"``, ``"cuda:0"``, ...
    versions
        Package versions that produced the predictions (``{"mediapipe": "1.2.3", ...}``).
    """

    frame_latency_s: np.ndarray
    model_load_s: float = 0.0
    wall_s: float = 0.0
    decode_s: float = 0.0
    peak_rss_bytes: int = 0
    device: str = "cpu"
    versions: Mapping[str, str] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        """Number of frames measured."""
        return int(self.frame_latency_s.shape[0])

    def latency_quantiles_s(self) -> dict[str, float]:
        """Mean, p50, p95 and p99 of the per-frame latency in seconds (NaN without frames)."""
        if self.n_frames == 0:
            return {name: float("nan") for name in ("mean", "p50", "p95", "p99")}
        latency = self.frame_latency_s.astype(np.float64)
        p50, p95, p99 = np.percentile(latency, [50, 95, 99])
        return {
            "mean": float(latency.mean()),
            "p50": float(p50),
            "p95": float(p95),
            "p99": float(p99),
        }

    @property
    def throughput_fps(self) -> float:
        """Frames per second over the wall time (decoding included); NaN when unmeasured."""
        return self.n_frames / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def inference_fps(self) -> float:
        """Frames per second of inference alone (sum of per-frame latencies)."""
        total_s = float(self.frame_latency_s.sum(dtype=np.float64))
        return self.n_frames / total_s if total_s > 0 else float("nan")


@dataclass(frozen=True, eq=False)
class PosePredictions:
    """Poses an estimator found in every frame of one video.

    Attributes
    ----------
    keypoints_px
        ``(n_frames, n_individuals, n_keypoints, 2) float32``: x, y in pixels of the decoded
        frame (origin top-left); NaN where an individual was not detected.
    scores
        ``(n_frames, n_individuals, n_keypoints) float32``: the backend's per-keypoint
        confidence (MediaPipe: visibility); NaN where not detected.
    boxes_px
        ``(n_frames, n_individuals, 4) float32``: x_min, y_min, x_max, y_max in pixels of the
        detected keypoints; NaN where not detected.
    detected
        ``(n_frames, n_individuals) bool``: the individual was found in the frame.
    frame_times_s
        ``(n_frames,) float64``: presentation time of each frame in the video, seconds.
    keypoint_names
        ``n_keypoints`` names, in the order of the keypoint axis.
    skeleton_edges
        Pairs of indices into ``keypoint_names``.
    individual_names
        ``n_individuals`` names.
    backend
        Registry name of the estimator (``"mediapipe"``, ``"synthetic"``, ...).
    backend_version
        Version of the package that ran the model.
    model
        Model identity: a file path or a model id.
    model_sha256
        SHA-256 of the model file (``None`` when the model is not a file).
    video_path
        The video the predictions are of.
    frame_size_px
        ``(width, height)`` of the decoded frames.
    metrics
        How the run performed.
    keypoints_3d
        ``(n_frames, n_individuals, n_keypoints, 3) float32`` or ``None``: 3-D positions where
        the model gives them (MediaPipe world landmarks: metres, origin at the hips' centre).
    keypoints_3d_units
        Units of ``keypoints_3d`` (``"m"``); ``None`` without 3-D keypoints.
    """

    keypoints_px: np.ndarray
    scores: np.ndarray
    boxes_px: np.ndarray
    detected: np.ndarray
    frame_times_s: np.ndarray
    keypoint_names: tuple[str, ...]
    skeleton_edges: tuple[tuple[int, int], ...]
    individual_names: tuple[str, ...]
    backend: str
    backend_version: str
    model: str
    model_sha256: str | None
    video_path: Path
    frame_size_px: tuple[int, int]
    metrics: PerformanceMetrics
    keypoints_3d: np.ndarray | None = None
    keypoints_3d_units: str | None = None

    def __post_init__(self) -> None:
        problems = _shape_problems(self)
        if problems:
            raise ValueError("inconsistent PosePredictions: " + "; ".join(problems))

    @property
    def n_frames(self) -> int:
        """Number of frames of the video."""
        return int(self.keypoints_px.shape[0])

    @property
    def n_individuals(self) -> int:
        """Length of the individual axis."""
        return int(self.keypoints_px.shape[1])

    @property
    def n_keypoints(self) -> int:
        """Length of the keypoint axis."""
        return int(self.keypoints_px.shape[2])

    @property
    def detection_rate(self) -> float:
        """Fraction of frames in which at least one individual was detected (NaN without frames)."""
        if self.n_frames == 0:
            return float("nan")
        return float(self.detected.any(axis=1).mean())

    def to_pose_data(self) -> PoseData:
        """These predictions as :class:`~w2t_bkin.model.pose.PoseData` (2-D pixel positions),
        the model every pose reader returns and the NWB writer takes.
        """
        return PoseData(
            positions=self.keypoints_px,
            confidence=self.scores,
            keypoint_names=self.keypoint_names,
            individual_names=self.individual_names,
            source_software=_SOFTWARE.get(self.backend, self.backend),
            source_file=self.video_path,
            skeleton_edges=self.skeleton_edges,
            source_software_version=self.backend_version,
            scorer=self.model,
            model_description=f"{self.backend} model {self.model}"
            + (f" (sha256 {self.model_sha256})" if self.model_sha256 else ""),
        )


_SOFTWARE = {"mediapipe": "MediaPipe", "synthetic": "w2t-bkin synthetic"}


def _shape_problems(p: PosePredictions) -> list[str]:
    """Every disagreement between the arrays' shapes and dtypes and the names."""
    problems: list[str] = []
    kp = p.keypoints_px
    if kp.ndim != 4 or kp.shape[3] != 2:
        return [f"keypoints_px must be (n_frames, n_individuals, n_keypoints, 2), not {kp.shape}"]
    n_frames, n_ind, n_kp = kp.shape[:3]
    expected: dict[str, tuple[np.ndarray | None, tuple[int, ...], type]] = {
        "keypoints_px": (kp, (n_frames, n_ind, n_kp, 2), np.float32),
        "scores": (p.scores, (n_frames, n_ind, n_kp), np.float32),
        "boxes_px": (p.boxes_px, (n_frames, n_ind, 4), np.float32),
        "detected": (p.detected, (n_frames, n_ind), np.bool_),
        "frame_times_s": (p.frame_times_s, (n_frames,), np.float64),
        "keypoints_3d": (p.keypoints_3d, (n_frames, n_ind, n_kp, 3), np.float32),
        "frame_latency_s": (p.metrics.frame_latency_s, (n_frames,), np.float32),
    }
    for name, (array, shape, dtype) in expected.items():
        if array is None:
            continue
        if array.shape != shape:
            problems.append(f"{name} has shape {array.shape}, expected {shape}")
        if array.dtype != dtype:
            problems.append(f"{name} has dtype {array.dtype}, expected {np.dtype(dtype)}")
    if len(p.keypoint_names) != n_kp:
        problems.append(f"{len(p.keypoint_names)} keypoint names for {n_kp} keypoints")
    if len(p.individual_names) != n_ind:
        problems.append(f"{len(p.individual_names)} individual names for {n_ind} individuals")
    bad_edges = [e for e in p.skeleton_edges if not all(0 <= i < n_kp for i in e)]
    if bad_edges:
        problems.append(f"skeleton edges {bad_edges} index keypoints outside 0..{n_kp - 1}")
    if (p.keypoints_3d is None) != (p.keypoints_3d_units is None):
        problems.append("keypoints_3d and keypoints_3d_units must be given together")
    return problems


def write_predictions(predictions: PosePredictions, path: str | Path) -> Path:
    """Write ``predictions`` to ``path`` as a compressed ``.npz`` (atomically).

    Parameters
    ----------
    predictions
        What to write.
    path
        Destination; ``.npz`` is the expected suffix (NumPy appends none here).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    OutputError
        The file cannot be written; an older file at ``path`` is left unchanged.
    """
    arrays: dict[str, np.ndarray] = {
        "keypoints_px": predictions.keypoints_px,
        "scores": predictions.scores,
        "boxes_px": predictions.boxes_px,
        "detected": predictions.detected,
        "frame_times_s": predictions.frame_times_s,
        "frame_latency_s": predictions.metrics.frame_latency_s,
    }
    if predictions.keypoints_3d is not None:
        arrays["keypoints_3d"] = predictions.keypoints_3d
    header = _header(predictions, arrays)
    arrays[_HEADER_KEY] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]  # numpy stubs: allow_pickle
    return atomic_write_bytes(path, buffer.getvalue())


def _header(p: PosePredictions, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    m = p.metrics
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "arrays": {name: [list(a.shape), a.dtype.str] for name, a in arrays.items()},
        "keypoint_names": list(p.keypoint_names),
        "skeleton_edges": [list(edge) for edge in p.skeleton_edges],
        "individual_names": list(p.individual_names),
        "backend": p.backend,
        "backend_version": p.backend_version,
        "model": p.model,
        "model_sha256": p.model_sha256,
        "video_path": str(p.video_path),
        "frame_size_px": list(p.frame_size_px),
        "keypoints_3d_units": p.keypoints_3d_units,
        "metrics": {
            "model_load_s": m.model_load_s,
            "wall_s": m.wall_s,
            "decode_s": m.decode_s,
            "peak_rss_bytes": m.peak_rss_bytes,
            "device": m.device,
            "versions": dict(m.versions),
        },
    }


def read_predictions(path: str | Path) -> PosePredictions:
    """Read and validate a predictions file written by :func:`write_predictions`.

    Raises
    ------
    PoseResultsError
        The file is missing or unreadable, is not a predictions file (another ``.npz``, a
        truncated or corrupt archive), has a newer schema version than this w2t-bkin reads,
        or its arrays disagree with its header.
    """
    path = Path(path)
    arrays, header = _load(path)
    _check_header(path, header)
    declared = header["arrays"]
    for name, (shape, dtype) in declared.items():
        array = arrays.get(name)
        if array is None or list(array.shape) != shape or array.dtype.str != dtype:
            found = "missing" if array is None else f"{list(array.shape)} {array.dtype.str}"
            raise _corrupt(path, f"array '{name}' is {found}, the header says {shape} {dtype}")
    try:
        m = header["metrics"]
        metrics = PerformanceMetrics(
            frame_latency_s=arrays["frame_latency_s"],
            model_load_s=float(m["model_load_s"]),
            wall_s=float(m["wall_s"]),
            decode_s=float(m["decode_s"]),
            peak_rss_bytes=int(m["peak_rss_bytes"]),
            device=str(m["device"]),
            versions={str(k): str(v) for k, v in m["versions"].items()},
        )
        width, height = header["frame_size_px"]
        return PosePredictions(
            keypoints_px=arrays["keypoints_px"],
            scores=arrays["scores"],
            boxes_px=arrays["boxes_px"],
            detected=arrays["detected"],
            frame_times_s=arrays["frame_times_s"],
            keypoint_names=tuple(str(n) for n in header["keypoint_names"]),
            skeleton_edges=tuple((int(a), int(b)) for a, b in header["skeleton_edges"]),
            individual_names=tuple(str(n) for n in header["individual_names"]),
            backend=str(header["backend"]),
            backend_version=str(header["backend_version"]),
            model=str(header["model"]),
            model_sha256=header["model_sha256"],
            video_path=Path(header["video_path"]),
            frame_size_px=(int(width), int(height)),
            metrics=metrics,
            keypoints_3d=arrays.get("keypoints_3d"),
            keypoints_3d_units=header["keypoints_3d_units"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _corrupt(path, f"the header or arrays are inconsistent: {exc}") from exc


def _load(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """All arrays of the archive and its decoded header."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise _corrupt(path, "it is a single .npy array, not an .npz archive")
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError as exc:
        raise PoseResultsError(
            "pose predictions file not found",
            path=path,
            hint="check the path; `w2t-bkin pose process VIDEO --output FILE` writes one",
        ) from exc
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        # np.load raises ValueError for pickled (object) arrays and for non-NumPy files.
        raise _corrupt(path, f"it cannot be read as an .npz archive ({exc})") from exc
    raw = arrays.pop(_HEADER_KEY, None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise PoseResultsError(
            f"not a w2t-bkin pose predictions file: it has no '{_HEADER_KEY}' header",
            path=path,
            hint="pass a file written by `w2t-bkin pose process` (or write_predictions)",
        )
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(path, f"its header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise _corrupt(path, f"its header is a JSON {type(header).__name__}, not an object")
    return arrays, header


def _check_header(path: Path, header: dict[str, Any]) -> None:
    if header.get("format") != FORMAT:
        raise PoseResultsError(
            f"not a w2t-bkin pose predictions file: format is {header.get('format')!r}, "
            f"expected {FORMAT!r}",
            path=path,
            hint="pass a file written by `w2t-bkin pose process` (or write_predictions)",
        )
    version = header.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _corrupt(path, f"schema_version is {version!r}, expected an integer")
    if version < 1:
        raise _corrupt(path, f"schema_version is {version}, expected 1..{SCHEMA_VERSION}")
    if version > SCHEMA_VERSION:
        raise PoseResultsError(
            f"pose predictions schema version {version} is newer than the version this "
            f"w2t-bkin reads ({SCHEMA_VERSION})",
            path=path,
            hint="upgrade w2t-bkin (pip install -U w2t-bkin) to read it",
        )
    if not isinstance(header.get("arrays"), dict):
        raise _corrupt(path, "its header lists no arrays")


def _corrupt(path: Path, detail: str) -> PoseResultsError:
    return PoseResultsError(
        f"corrupt pose predictions file: {detail}",
        path=path,
        hint="recompute it with `w2t-bkin pose process` (the video is unchanged)",
    )
