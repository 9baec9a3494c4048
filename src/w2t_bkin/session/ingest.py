"""Ingestion phase: read every camera's pose outputs (chunk-matched, frame-checked)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from w2t_bkin.model.bpod import BpodSession
from w2t_bkin.model.pose import PoseData
from w2t_bkin.session.context import SessionContext
from w2t_bkin.session.pose import load_camera_pose, resolve_pose_models
from w2t_bkin.session.verify import VerifiedInputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestedInputs:
    verified: VerifiedInputs
    pose: dict[str, PoseData]
    bpod: BpodSession | None


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
