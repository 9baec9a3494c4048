"""Pose-estimation outputs (DeepLabCut, SLEAP, Lightning Pose) as one array data model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class PoseData:
    """Pose tracks of one video (or one camera chunk).

    Attributes
    ----------
    positions
        ``(n_frames, n_individuals, n_keypoints, n_space) float32`` in pixels, ``n_space`` 2 or 3;
        NaN where a keypoint was not detected.
    confidence
        ``(n_frames, n_individuals, n_keypoints) float32``; NaN where the source has no score
        (e.g. DeepLabCut labelled-data files).
    keypoint_names
        ``n_keypoints`` names, in the order of the keypoint axis.
    individual_names
        ``n_individuals`` names (``("individual_0",)`` style for single-animal data without one).
    skeleton_edges
        Pairs of indices into ``keypoint_names``.
    source_software
        ``"DeepLabCut"``, ``"SLEAP"`` or ``"Lightning Pose"``.
    source_software_version
        Version string when the file records one.
    scorer
        DLC scorer / SLEAP model description when known.
    source_file
        The file these tracks were read from.
    """

    positions: np.ndarray
    confidence: np.ndarray
    keypoint_names: tuple[str, ...]
    individual_names: tuple[str, ...]
    source_software: str
    source_file: Path
    skeleton_edges: tuple[tuple[int, int], ...] = ()
    source_software_version: str | None = None
    scorer: str | None = None

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])
