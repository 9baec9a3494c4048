"""Pose tracks as one array data model: :class:`PoseData` and :class:`PoseSkeleton`.

Every pose reader (:mod:`w2t_bkin.sources.pose`: DeepLabCut, SLEAP, Lightning Pose) returns
:class:`PoseData`; the model knows no file format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PoseData", "PoseSkeleton"]


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
        Version string when the file (or the metadata model) records one; never guessed.
    scorer
        DLC/Lightning Pose scorer (the DLC one names network, project and snapshot), SLEAP model
        paths from the file's provenance; ``None`` when the file names none.
    source_file
        The file these tracks were read from.
    model_description
        What else is known of the model: the DLC ``_meta.pickle`` network and snapshot, the
        SLEAP predictor, the metadata model (id, path, DLC project); ``None`` when nothing.
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
    model_description: str | None = None

    @property
    def n_frames(self) -> int:
        """Length of the frame axis of ``positions``."""
        return int(self.positions.shape[0])

    @property
    def n_individuals(self) -> int:
        """Length of the individual axis of ``positions``."""
        return int(self.positions.shape[1])

    @property
    def n_keypoints(self) -> int:
        """Length of the keypoint axis of ``positions``."""
        return int(self.positions.shape[2])


@dataclass(frozen=True)
class PoseSkeleton:
    """Keypoint names and the edges between them, by name.

    Attributes
    ----------
    nodes
        Keypoint names.
    edges
        ``(source, target)`` name pairs; every name is in ``nodes``.
    """

    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str], ...] = ()
