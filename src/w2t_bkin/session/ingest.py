"""Ingestion phase: read every camera's pose outputs (chunk-matched, frame-checked)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np

from w2t_bkin.model.bpod import BpodSession
from w2t_bkin.model.pose import PoseData
from w2t_bkin.session.context import SessionContext
from w2t_bkin.session.pose import load_camera_pose, resolve_pose_models
from w2t_bkin.session.verify import VerifiedInputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestedInputs:
    """What ingestion read. ``pose_missing_fraction`` is filled by
    :meth:`release_pose_positions` (per camera, ``(n_individuals, n_keypoints) float64``)."""

    verified: VerifiedInputs
    pose: dict[str, PoseData]
    bpod: BpodSession | None
    pose_missing_fraction: dict[str, np.ndarray] = field(default_factory=dict)

    def release_pose_positions(self) -> None:
        """Free the pose positions once the NWB file holds them (assembly is done).

        Positions are the largest arrays of a session (two 1-h cameras: ~160 MB) and after
        assembly only the QC report reads them, for the fraction of frames without a position:
        that is computed now and kept in :attr:`pose_missing_fraction`. Each camera's
        :class:`PoseData` keeps its shape (``n_frames`` and the rest hold) but its positions
        become a read-only all-NaN view that holds no memory; confidence stays.
        """
        for camera_id, pose in list(self.pose.items()):
            self.pose_missing_fraction[camera_id] = missing_position_fraction(pose.positions)
            placeholder = np.broadcast_to(np.float32(np.nan), pose.positions.shape)
            self.pose[camera_id] = dataclasses.replace(pose, positions=placeholder)


def missing_position_fraction(positions: np.ndarray, block_frames: int = 1 << 16) -> np.ndarray:
    """``(n_individuals, n_keypoints) float64``: fraction of frames without a position.

    ``positions`` is ``(n_frames, n_individuals, n_keypoints, n_space)``; counted a block of
    frames at a time (no full-size mask).
    """
    n_frames = positions.shape[0]
    if n_frames == 0:
        return np.full(positions.shape[1:3], np.nan)
    missing = np.zeros(positions.shape[1:3], dtype=np.int64)
    for start in range(0, n_frames, block_frames):
        missing += np.isnan(positions[start : start + block_frames]).any(axis=-1).sum(axis=0)
    return missing / n_frames


def ingest(ctx: SessionContext, verified: VerifiedInputs) -> IngestedInputs:
    """Ingestion: read pose outputs per camera (chunk-matched, frame-checked).

    The Bpod files are read in verification, where their state names are checked.
    """
    pose: dict[str, PoseData] = {}
    models = resolve_pose_models(ctx.metadata.pose, ctx.workspace.models)
    for camera_id, pose_meta in ctx.metadata.pose.cameras.items():
        paths = verified.files.pose.get(camera_id, [])
        if not paths:
            continue
        pose[camera_id] = load_camera_pose(
            camera_id,
            paths,
            pose_meta,
            ctx.metadata.pose,
            verified.videos.get(camera_id),
            policy=ctx.config.verification.pose_frame_policy,
            model=models.get(pose_meta.model_id) if pose_meta.model_id else None,
        )
    return IngestedInputs(verified, pose, verified.bpod)
