"""What the SLEAP readers share: the :class:`PoseData` they build and untracked slots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from w2t_bkin.model.pose import PoseData
from w2t_bkin.sources.pose._checks import check_nan

SOURCE_SOFTWARE = "SLEAP"


def untracked_slots(track: np.ndarray, frame_idx: np.ndarray, n_tracks: int) -> np.ndarray:
    """Individual slot of each instance: its track, or the next free untracked slot."""
    slot = track.copy()
    untracked = np.flatnonzero(track < 0)
    if len(untracked):
        frames = frame_idx[untracked]
        order = np.argsort(frames, kind="stable")
        sorted_frames = frames[order]
        group_start = np.searchsorted(sorted_frames, sorted_frames, side="left")
        rank = np.arange(len(order)) - group_start
        slot[untracked[order]] = n_tracks + rank
    return slot


def sleap_pose(
    path: Path,
    positions: np.ndarray,
    confidence: np.ndarray,
    keypoint_names: tuple[str, ...],
    individual_names: tuple[str, ...],
    skeleton_edges: tuple[tuple[int, int], ...] = (),
    provenance: dict[str, Any] | None = None,
) -> PoseData:
    """The :class:`PoseData` of every SLEAP format, after the all-NaN keypoint check.

    ``positions`` ``(n_frames, n_individuals, n_keypoints, 2) float32``, ``confidence``
    ``(n_frames, n_individuals, n_keypoints) float32``.
    """
    check_nan(path, positions, individual_names, keypoint_names, per_individual=False)
    return PoseData(
        positions=positions,
        confidence=confidence,
        keypoint_names=keypoint_names,
        individual_names=individual_names,
        source_software=SOURCE_SOFTWARE,
        source_file=path,
        skeleton_edges=skeleton_edges,
        **_provenance_fields(provenance or {}),
    )


def _provenance_fields(provenance: dict[str, Any]) -> dict[str, str | None]:
    """``source_software_version``, ``scorer`` and ``model_description`` of a provenance dict.

    SLEAP >= 1.3 writes ``sleap_version``, ``model_paths`` and ``predictor``; SLEAP 1.0-1.2
    ``sleap.version`` and one ``model.<head>.path`` per model.
    """
    version = provenance.get("sleap_version") or provenance.get("sleap.version")
    predictor = provenance.get("predictor")
    return {
        "source_software_version": str(version) if version else None,
        "scorer": _model_paths(provenance),
        "model_description": f"SLEAP {predictor}" if predictor else None,
    }


def _model_paths(provenance: dict[str, Any]) -> str | None:
    models = [str(v) for k, v in sorted(provenance.items()) if k.startswith("model.") and v]
    if not models and isinstance(provenance.get("model_paths"), list):
        models = [str(v) for v in provenance["model_paths"]]
    return "; ".join(models) if models else None
