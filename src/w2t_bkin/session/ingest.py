"""Ingestion phase: read every camera's pose outputs (chunk-matched, frame-checked)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from w2t_bkin.io_utils import spill_array
from w2t_bkin.model.bpod import BpodSession
from w2t_bkin.model.pose import PoseData
from w2t_bkin.session.context import SessionContext
from w2t_bkin.session.pose import load_camera_pose, resolve_pose_models
from w2t_bkin.session.verify import VerifiedInputs

log = logging.getLogger(__name__)


SPILL_MIN_BYTES = 16 << 20
"""A camera's pose arrays at least this large wait on disk from ingestion to assembly."""


@dataclass(frozen=True)
class IngestedInputs:
    """What ingestion read. ``pose_missing_fraction``: per camera, ``(n_individuals,
    n_keypoints) float64``, the fraction of frames without a position (for the QC report).

    Large pose arrays are file-backed (:func:`~w2t_bkin.io_utils.spill_array`): one camera's
    tracks are in memory while they are read, then wait on disk, so the cameras never all
    hold memory at once (a 1-hour camera at 150 Hz with 18 keypoints: 117 MB).
    """

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
            if camera_id not in self.pose_missing_fraction:
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
        block = positions[start : start + block_frames]
        # one coordinate at a time: ``isnan(block).any(axis=-1)`` reduces over an axis of 2,
        # which numpy does 4-5x slower than these element-wise ORs
        mask = np.isnan(block[..., 0])
        for axis_idx in range(1, block.shape[-1]):
            mask |= np.isnan(block[..., axis_idx])
        missing += np.count_nonzero(mask, axis=0)
    return missing / n_frames


def ingest(ctx: SessionContext, verified: VerifiedInputs) -> IngestedInputs:
    """Ingestion: read pose outputs per camera (chunk-matched, frame-checked).

    The Bpod files are read in verification, where their state names are checked.
    """
    pose: dict[str, PoseData] = {}
    missing: dict[str, np.ndarray] = {}
    models = resolve_pose_models(ctx.metadata.pose, ctx.workspace.models)
    for camera_id, pose_meta in ctx.metadata.pose.cameras.items():
        paths = verified.files.pose.get(camera_id, [])
        if not paths:
            continue
        loaded = load_camera_pose(
            camera_id,
            paths,
            pose_meta,
            ctx.metadata.pose,
            verified.videos.get(camera_id),
            policy=ctx.config.verification.pose_frame_policy,
            model=models.get(pose_meta.model_id) if pose_meta.model_id else None,
        )
        missing[camera_id] = missing_position_fraction(loaded.positions)
        pose[camera_id] = _spilled(loaded, ctx.processed_dir)
        del loaded  # the in-memory arrays go before the next camera is read
    return IngestedInputs(verified, pose, verified.bpod, missing)


def _spilled(pose: PoseData, folder: Path) -> PoseData:
    """``pose`` with its positions and confidence on disk when they are large."""
    if pose.positions.nbytes + pose.confidence.nbytes < SPILL_MIN_BYTES:
        return pose
    return dataclasses.replace(
        pose,
        positions=spill_array(pose.positions, folder),
        confidence=spill_array(pose.confidence, folder),
    )
