"""The pose inputs of one camera: matched to video chunks, read, checked (generation of missing
outputs is :mod:`w2t_bkin.session.generate`).

Also resolves ``[pose.models.<id>]`` entries (:func:`resolve_pose_models`): a model whose
``path`` is a DeepLabCut project ``config.yaml`` (or a folder holding one) gives the camera its
skeleton when no ``skeleton_id`` does, and every model is named in the NWB PoseEstimation.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from w2t_bkin.errors import (
    IngestError,
    MetadataError,
    VerificationError,
    warn_data_quality,
)
from w2t_bkin.metadata import PoseCameraMeta, PoseMeta, PoseModelMeta
from w2t_bkin.model.video import CameraVideos
from w2t_bkin.sources.pose import DLCProject, PoseData, read_dlc_project
from w2t_bkin.sources.pose.dlc import dlc_project_config_of
from w2t_bkin.sources.pose.io import read_pose
from w2t_bkin.sources.pose.ops import (
    apply_skeleton,
    check_pose_frames,
    match_pose_to_videos,
    pose_video_stem,
    rename_keypoints,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoseModel:
    """A ``[pose.models.<id>]`` entry resolved against the workspace.

    Attributes
    ----------
    model_id
        The metadata id.
    source
        ``dlc``, ``sleap`` or ``lightning_pose``.
    path
        The resolved model file or folder; ``None`` when the entry has no ``path``.
    dlc_project
        The DeepLabCut project configuration the path is (or holds), else ``None``.
    software_version
        ``software_version`` from metadata.
    """

    model_id: str
    source: str
    path: Path | None = None
    dlc_project: DLCProject | None = None
    software_version: str | None = None

    def describe(self) -> str:
        """E.g. ``model 'top' (/models/openfield/config.yaml; DeepLabCut project ...)``."""
        details = [str(self.path)] if self.path is not None else []
        if self.dlc_project is not None:
            details.append(self.dlc_project.describe())
        return f"model {self.model_id!r}" + (f" ({'; '.join(details)})" if details else "")


def resolve_pose_models(pose_root: PoseMeta, models_dir: Path) -> dict[str, PoseModel]:
    """Every ``[pose.models]`` entry, its path checked and any DLC project config read.

    Parameters
    ----------
    pose_root
        The ``[pose]`` metadata.
    models_dir
        The workspace ``models/`` folder; relative model paths are taken from it.

    Raises
    ------
    MetadataError
        A model path does not exist, or names a DeepLabCut config that cannot be read.
    """
    return {
        model_id: resolve_pose_model(model_id, meta, models_dir)
        for model_id, meta in pose_root.models.items()
    }


def resolve_pose_model(model_id: str, meta: PoseModelMeta, models_dir: Path) -> PoseModel:
    """One ``[pose.models.<id>]`` entry (see :func:`resolve_pose_models`).

    ``path`` may be a ``config.yaml``/``.yml`` file (read as a DeepLabCut project for ``dlc``
    and ``lightning_pose`` models), a folder (its ``config.yaml`` is read when it is a
    DeepLabCut project config; Lightning Pose's own config is not), or any other file, which is
    only recorded.
    """
    key = f"pose.models.{model_id}.path"
    if meta.path is None:
        return PoseModel(model_id, meta.source, software_version=meta.software_version)
    path = Path(meta.path).expanduser()
    path = path if path.is_absolute() else models_dir / path
    if not path.exists():
        raise MetadataError(
            f"{key} = {meta.path!r}: {path} does not exist",
            hint=f"model paths are relative to the workspace models folder ({models_dir}) or "
            "absolute; fix the path, or remove the key",
        )
    config = dlc_project_config_of(path, meta.source)
    project = None
    if config is not None:
        try:
            project = read_dlc_project(config)
        except IngestError as exc:
            raise MetadataError(f"{key}: {exc.message}", path=config, hint=exc.hint) from exc
    return PoseModel(model_id, meta.source, path, project, meta.software_version)


def load_camera_pose(
    camera_id: str,
    paths: list[Path],
    pose_meta: PoseCameraMeta,
    pose_root: PoseMeta,
    videos: CameraVideos | None,
    *,
    policy: str = "fail",
    model: PoseModel | None = None,
) -> PoseData:
    """One ``PoseData`` covering every frame of the camera, in chunk order.

    With videos, each pose file is matched to its chunk by file stem and must have the chunk's
    frame count (``policy`` 'fail' raises, 'warn' pads/truncates with NaN and warns). Without
    videos (archived elsewhere) the files are taken in name order. Either way each video must
    have exactly one pose file: two outputs of one video (``_el.h5`` and ``_el_filtered.h5``)
    are an error, never a silent choice.

    Then, in order: the ``model``'s DeepLabCut skeleton (by the file's keypoint names), the
    ``mapping_id`` renaming, the ``skeleton_id`` skeleton (which replaces any other), and the
    model's description and version.

    Raises
    ------
    VerificationError
        A chunk without a pose file, a video with several, a frame-count mismatch (policy
        'fail'), chunks that disagree on keypoints or individuals, or a skeleton naming a
        keypoint the files do not have.
    """
    if videos is not None:
        by_video = pose_files_by_video(
            camera_id, paths, pose_meta, [chunk.path for chunk in videos.chunks]
        )
        parts = []
        for chunk in videos.chunks:
            pose_path = by_video[chunk.path]
            # A SLEAP CSV lists only frames with instances: size it to its chunk.
            csv_frames = chunk.n_frames if pose_path.suffix.lower() == ".csv" else None
            pose = read_pose(pose_path, pose_meta.source, n_video_frames=csv_frames)
            parts.append(_fit_frames(pose, chunk.n_frames, chunk.path, policy))
    else:
        pose_files_by_video(camera_id, paths, pose_meta, [])
        parts = [read_pose(path, pose_meta.source) for path in paths]
    pose = concatenate_pose(parts)
    if model is not None and model.dlc_project is not None and pose_meta.skeleton_id is None:
        pose = _apply_dlc_project(pose, model, model.dlc_project)
    if pose_meta.mapping_id is not None:
        pose = rename_keypoints(pose, pose_root.mappings[pose_meta.mapping_id])
    if pose_meta.skeleton_id is not None:
        skeleton = pose_root.skeletons[pose_meta.skeleton_id]
        pose = apply_skeleton(
            pose, skeleton.nodes, [(edge.source, edge.target) for edge in skeleton.edges]
        )
    return pose if model is None else describe_model(pose, model, camera_id)


def pose_files_by_video(
    camera_id: str, paths: list[Path], pose_meta: PoseCameraMeta, video_paths: list[Path]
) -> dict[Path, Path]:
    """``{video: pose file}`` by file names alone, before any pose file is read.

    With ``video_paths`` (the camera's chunks) every chunk needs exactly one pose file and every
    pose file one chunk; without (videos archived elsewhere) each implied video stem needs
    exactly one pose file, keyed by ``Path(stem)``.

    Raises
    ------
    VerificationError
        A pose file matching no video or two, a video with several pose files, or a chunk
        without one.
    """
    if not video_paths:
        return _one_per_video(camera_id, {p: Path(pose_video_stem(p)) for p in paths}, pose_meta)
    by_video = _one_per_video(camera_id, match_pose_to_videos(paths, video_paths), pose_meta)
    for video in video_paths:
        if video not in by_video:
            raise VerificationError(
                f"camera {camera_id!r}: no pose file for video chunk {video.name}",
                hint="add the pose output of this chunk to pose.cameras paths",
            )
    return by_video


def _one_per_video(
    camera_id: str, matches: dict[Path, Path], pose_meta: PoseCameraMeta
) -> dict[Path, Path]:
    """``{video: pose file}``; raises when a video has several pose files."""
    by_video: dict[Path, list[Path]] = defaultdict(list)
    for pose_path, video in matches.items():
        by_video[video].append(pose_path)
    several = {video: sorted(files) for video, files in by_video.items() if len(files) > 1}
    if several:
        listed = "\n  ".join(
            f"{video.name}: {', '.join(p.name for p in files)}" for video, files in several.items()
        )
        raise VerificationError(
            f"camera {camera_id!r}: several pose files for one video (which one is meant is "
            f"not guessed):\n  {listed}",
            hint=f"narrow pose.cameras.{camera_id}.paths (now {pose_meta.paths}) to one file "
            "per video, e.g. '*_filtered.h5' for the filtered outputs only",
        )
    return {video: files[0] for video, files in by_video.items()}


def _apply_dlc_project(pose: PoseData, model: PoseModel, project: DLCProject) -> PoseData:
    missing = [name for name in project.skeleton.nodes if name not in pose.keypoint_names]
    if missing:
        raise VerificationError(
            f"pose.models.{model.model_id}: the DeepLabCut config {project.config_path} lists "
            f"bodyparts {missing} that {pose.source_file.name} does not have (it has "
            f"{list(pose.keypoint_names)})",
            hint="point the model at the project that produced these files, or declare the "
            "skeleton with skeleton_id",
        )
    return apply_skeleton(pose, project.skeleton.nodes, project.skeleton.edges)


def describe_model(pose: PoseData, model: PoseModel, camera_id: str = "") -> PoseData:
    """``pose`` with the model named in ``model_description`` and its version filled in.

    The files' own version wins over metadata's ``software_version``; when both exist and
    differ a :class:`DataQualityWarning` says so. A file without a scorer gets the model id.
    """
    version = pose.source_software_version
    if model.software_version is not None and version is None:
        version = model.software_version
    elif model.software_version is not None and model.software_version != version:
        warn_data_quality(
            f"camera {camera_id!r}: {pose.source_file.name} records {pose.source_software} "
            f"{version}, but pose.models.{model.model_id}.software_version is "
            f"{model.software_version!r}; the file's version is kept",
            stacklevel=2,
        )
    described = "; ".join(d for d in (model.describe(), pose.model_description) if d)
    return replace(
        pose,
        source_software_version=version,
        scorer=pose.scorer if pose.scorer is not None else model.model_id,
        model_description=described,
    )


def _fit_frames(pose: PoseData, n_frames: int, video: Path, policy: str) -> PoseData:
    if pose.n_frames == n_frames:
        return pose
    if policy == "fail":
        check_pose_frames(pose, n_frames, video)
    warn_data_quality(
        f"{pose.source_file.name}: {pose.n_frames} pose frames for the {n_frames} frames of "
        f"video {video.name}; missing frames are NaN, extra frames dropped",
        stacklevel=2,
    )
    positions = np.full((n_frames, *pose.positions.shape[1:]), np.nan, dtype=np.float32)
    confidence = np.full((n_frames, *pose.confidence.shape[1:]), np.nan, dtype=np.float32)
    keep = min(n_frames, pose.n_frames)
    positions[:keep] = pose.positions[:keep]
    confidence[:keep] = pose.confidence[:keep]
    return replace(pose, positions=positions, confidence=confidence)


def concatenate_pose(parts: list[PoseData]) -> PoseData:
    """Chunks of one camera along the frame axis; names and skeletons must agree."""
    first = parts[0]
    for part in parts[1:]:
        if part.keypoint_names != first.keypoint_names:
            raise VerificationError(
                f"{part.source_file.name}: keypoints {list(part.keypoint_names)} differ from "
                f"{first.source_file.name}: {list(first.keypoint_names)}",
                hint="all chunks of a camera must come from the same pose model",
            )
        if part.individual_names != first.individual_names:
            raise VerificationError(
                f"{part.source_file.name}: individuals differ from {first.source_file.name}",
                hint="all chunks of a camera must track the same individuals",
            )
    if len(parts) == 1:
        return first
    return replace(
        first,
        positions=np.concatenate([p.positions for p in parts]),
        confidence=np.concatenate([p.confidence for p in parts]),
    )
