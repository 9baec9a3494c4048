"""Pose inputs of one camera: match files to video chunks, read, check, rename, concatenate."""

from __future__ import annotations

import logging
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from w2t_bkin.errors import DataQualityWarning, VerificationError
from w2t_bkin.metadata import PoseCameraMeta, PoseMeta
from w2t_bkin.sources.pose import PoseData
from w2t_bkin.sources.pose.io import read_pose
from w2t_bkin.sources.pose.ops import (
    apply_skeleton,
    check_pose_frames,
    match_pose_to_videos,
    rename_keypoints,
)
from w2t_bkin.sources.video import CameraVideos

log = logging.getLogger(__name__)


def load_camera_pose(
    camera_id: str,
    paths: list[Path],
    pose_meta: PoseCameraMeta,
    pose_root: PoseMeta,
    videos: CameraVideos | None,
    *,
    policy: str = "fail",
) -> PoseData:
    """One ``PoseData`` covering every frame of the camera, in chunk order.

    With videos, each pose file is matched to its chunk by file stem and must have the chunk's
    frame count (``policy`` 'fail' raises, 'warn' pads/truncates with NaN and warns). Without
    videos (archived elsewhere) the files are taken in name order.
    """
    if videos is not None:
        matches = match_pose_to_videos(paths, [chunk.path for chunk in videos.chunks])
        by_video = {video: pose for pose, video in matches.items()}
        parts = []
        for chunk in videos.chunks:
            pose_path = by_video.get(chunk.path)
            if pose_path is None:
                raise VerificationError(
                    f"camera {camera_id!r}: no pose file for video chunk {chunk.path.name}",
                    hint="add the pose output of this chunk to pose.cameras paths",
                )
            pose = read_pose(pose_path, pose_meta.source)
            parts.append(_fit_frames(pose, chunk.n_frames, pose_path, policy))
    else:
        parts = [read_pose(path, pose_meta.source) for path in paths]
    pose = concatenate_pose(parts)
    if pose_meta.mapping_id is not None:
        pose = rename_keypoints(pose, pose_root.mappings[pose_meta.mapping_id])
    if pose_meta.skeleton_id is not None:
        skeleton = pose_root.skeletons[pose_meta.skeleton_id]
        pose = apply_skeleton(
            pose, skeleton.nodes, [(edge.source, edge.target) for edge in skeleton.edges]
        )
    return pose


def _fit_frames(pose: PoseData, n_frames: int, path: Path, policy: str) -> PoseData:
    if pose.n_frames == n_frames:
        return pose
    if policy == "fail":
        check_pose_frames(pose, n_frames, path)
    warnings.warn(
        f"{path.name}: {pose.n_frames} pose frames for {n_frames} video frames; "
        "missing frames are NaN, extra frames dropped",
        DataQualityWarning,
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
