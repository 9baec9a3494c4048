"""Pose generation phase: a camera's pose computed from its videos when the metadata asks for it.

A camera is generated when its ``[pose.cameras.<id>]`` declares no ``paths`` and its
``model_id`` names a ``[pose.models.<id>]`` with a ``backend``. Each video chunk is run through
the backend (:func:`w2t_bkin.pose.process.process_video`) and its output written, as the
backend's native file, to ``data/interim/<subject>/<session>/<artifacts or "pose">/<camera>/``:
``<video stem>.<backend>.pose.npz`` for mediapipe and synthetic, DeepLabCut's ``.h5`` or SLEAP's
``.slp`` for the worker backends. A manifest ``<video stem>.<backend>.pose.json`` records the
cache key (video content digest, model fingerprint, backend and its version, options): a rerun
with the same key reuses the files and runs nothing. The phase then hands the files to
ingestion as that camera's pose files, so they are read, frame-checked and synchronized like
any other pose output.

Every declared model is checked here too (paths exist, DeepLabCut configs read).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from w2t_bkin._version import __version__
from w2t_bkin.errors import VerificationError
from w2t_bkin.io_utils import atomic_write_json
from w2t_bkin.metadata import PoseModelMeta
from w2t_bkin.model.video import VideoProbe
from w2t_bkin.pose.estimators import PoseEstimator, make_estimator
from w2t_bkin.pose.process import process_video
from w2t_bkin.pose.results import SCHEMA_VERSION, write_predictions
from w2t_bkin.runtime.fingerprint import DigestCache, file_digest, json_digest
from w2t_bkin.session.context import SessionContext
from w2t_bkin.session.fingerprint import workspace_digest_cache
from w2t_bkin.session.pose import PoseModel, resolve_pose_models
from w2t_bkin.session.verify import VerifiedInputs

log = logging.getLogger(__name__)

__all__ = ["GeneratedChunk", "cameras_to_generate", "generate_pose"]

_CACHE_VERSION = 1  # bump when the key's content changes meaning
_NATIVE_ORDER = ("dlc_h5", "slp", "sleap_analysis_h5", "dlc_csv")  # what ingestion reads first


@dataclass(frozen=True)
class GeneratedChunk:
    """The generated output of one video chunk.

    Attributes
    ----------
    video
        The chunk.
    output
        The file ingestion reads.
    cache_hit
        The output was reused: nothing ran.
    """

    video: Path
    output: Path
    cache_hit: bool


def cameras_to_generate(ctx: SessionContext, verified: VerifiedInputs) -> dict[str, str]:
    """``{camera id: model id}`` of the cameras whose pose this phase generates."""
    pose = ctx.metadata.pose
    chosen: dict[str, str] = {}
    for camera_id, camera in pose.cameras.items():
        model = pose.models.get(camera.model_id) if camera.model_id else None
        if model is None or model.backend is None or camera.paths:
            continue
        if verified.files.pose.get(camera_id):
            continue
        chosen[camera_id] = str(camera.model_id)
    return chosen


def generate_pose(ctx: SessionContext, verified: VerifiedInputs) -> VerifiedInputs:
    """Pose generation: check every declared model, generate the cameras that ask for it.

    Returns
    -------
    VerifiedInputs
        ``verified`` with the generated files as the pose files of their cameras.

    Raises
    ------
    VerificationError
        A camera to generate has no videos.
    PoseBackendUnavailableError, PoseModelError, PoseInferenceError
        The backend is not installed, its model is missing, or it failed.
    """
    models = resolve_pose_models(ctx.metadata.pose, ctx.workspace.models)
    cameras = cameras_to_generate(ctx, verified)
    for model in models.values():
        used = sorted(c for c, m in cameras.items() if m == model.model_id)
        log.info(
            "pose %s; %s",
            model.describe(),
            f"generating cameras {used}" if used else "using existing outputs",
        )
    if not cameras:
        return verified
    digests = workspace_digest_cache(ctx.workspace.cache)
    pose_files = dict(verified.files.pose)
    for camera_id, model_id in cameras.items():
        videos = verified.videos.get(camera_id)
        if videos is None or not videos.chunks:
            raise VerificationError(
                f"camera {camera_id!r}: its pose is to be generated (pose.models.{model_id} has "
                "a backend and the camera declares no paths), but it has no video",
                hint=f"declare the camera's videos, or existing outputs in "
                f"pose.cameras.{camera_id}.paths",
            )
        meta = ctx.metadata.pose.models[model_id]
        folder = _output_folder(ctx, meta, camera_id)
        generator = _CameraGenerator(models[model_id], meta, folder, digests)
        try:
            chunks = [generator.chunk(probe) for probe in videos.chunks]
        finally:
            generator.close()
        hits = sum(chunk.cache_hit for chunk in chunks)
        log.info(
            "camera %r: pose of %d video(s) generated, %d reused from %s",
            camera_id,
            len(chunks) - hits,
            hits,
            folder,
        )
        pose_files[camera_id] = [chunk.output for chunk in chunks]
    return replace(verified, files=replace(verified.files, pose=pose_files))


def _output_folder(ctx: SessionContext, meta: PoseModelMeta, camera_id: str) -> Path:
    interim = ctx.workspace.interim / ctx.subject / ctx.session
    return interim / (meta.artifacts or "pose") / camera_id


class _CameraGenerator:
    """Runs one camera's chunks through its model, reusing cached outputs."""

    def __init__(self, model: PoseModel, meta: PoseModelMeta, folder: Path, digests: DigestCache):
        assert meta.backend is not None
        self.backend: str = meta.backend
        self.model = model
        self.meta = meta
        self.folder = folder
        self.digests = digests
        self._estimator: PoseEstimator | None = None
        self._identity: dict[str, Any] | None = None

    def estimator(self) -> PoseEstimator:
        """The backend's estimator, made and loaded on first use."""
        if self._estimator is None:
            options = dict(self.meta.options)
            if self.backend in ("deeplabcut", "sleap"):
                options["output_dir"] = self.folder
            self._estimator = make_estimator(self.backend, self.model.path, **options)
            self._estimator.load()
        return self._estimator

    def identity(self) -> dict[str, Any]:
        """Backend, version, model fingerprint and options: the model side of the cache key."""
        if self._identity is None:
            info = self.estimator().info
            self._identity = {
                "backend": self.backend,
                "backend_version": info.backend_version,
                "model": self._model_fingerprint(info.model_sha256 or info.model),
                "options": self.meta.options,
                "predictions_schema": SCHEMA_VERSION,
                "w2t_bkin": __version__ if self.backend == "synthetic" else None,
            }
        return self._identity

    def _model_fingerprint(self, fallback: str) -> str:
        path = self.model.path
        if path is None or not path.exists():
            return fallback  # a built-in model: its SHA-256 or its id
        if path.is_file():
            return file_digest(path, self.digests)
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return json_digest(
            [[str(p.relative_to(path)), file_digest(p, self.digests)] for p in files]
        )

    def chunk(self, probe: VideoProbe) -> GeneratedChunk:
        """The output of one chunk: reused when its manifest's key matches, else computed."""
        video = probe.path
        manifest_path = self.folder / f"{video.stem}.{self.backend}.pose.json"
        video_digest = file_digest(video, self.digests)
        key = json_digest(
            {"cache": _CACHE_VERSION, "video_sha256": video_digest, **self.identity()}
        )
        cached = _cached_output(manifest_path, key)
        if cached is not None:
            log.info("%s: pose reused from %s (cache key %s)", video.name, cached.name, key[:12])
            return GeneratedChunk(video, cached, cache_hit=True)
        _remove_previous(manifest_path)
        output = self._run(video, probe.n_frames)
        atomic_write_json(
            manifest_path,
            {
                "cache_key": key,
                "video": str(video),
                "video_sha256": video_digest,
                "output": output.name,
                **self.identity(),
            },
        )
        return GeneratedChunk(video, output, cache_hit=False)

    def _run(self, video: Path, n_frames: int) -> Path:
        estimator = self.estimator()

        def report(done: int, total: int | None) -> None:
            if done and done % 1000 == 0:
                log.info("%s: %d / %s frames", video.name, done, total or n_frames)

        predictions = process_video(video, estimator, progress=report)
        if self.backend in ("deeplabcut", "sleap"):
            outputs = list(getattr(estimator, "last_outputs", []))
            native = sorted(outputs, key=lambda o: _NATIVE_ORDER.index(o.format))
            return Path(native[0].path)
        return write_predictions(predictions, self.folder / f"{video.stem}.{self.backend}.pose.npz")

    def close(self) -> None:
        if self._estimator is not None:
            self._estimator.close()


def _cached_output(manifest_path: Path, key: str) -> Path | None:
    """The output the manifest names when its key is ``key`` and the file exists."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("cache_key") != key:
        return None
    output = manifest_path.parent / str(manifest.get("output", ""))
    return output if output.is_file() and output != manifest_path.parent else None


def _remove_previous(manifest_path: Path) -> None:
    """Delete a stale output and its manifest: DeepLabCut skips videos whose output exists."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(manifest, dict) and manifest.get("output"):
        (manifest_path.parent / str(manifest["output"])).unlink(missing_ok=True)
    manifest_path.unlink(missing_ok=True)
