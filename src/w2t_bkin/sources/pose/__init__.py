"""Pose-estimation outputs (DeepLabCut, SLEAP, Lightning Pose) as one array data model.

Every reader returns :class:`PoseData` (defined in :mod:`w2t_bkin.model.pose`, re-exported
here) and registers itself with :func:`register_pose_reader`; :func:`read_pose` asks the
registry which reader reads a file. :func:`rename_keypoints`, :func:`apply_skeleton`,
:func:`match_pose_to_videos` and :func:`check_pose_frames` prepare the tracks for assembly.
"""

from __future__ import annotations

from w2t_bkin.model.pose import PoseData, PoseSkeleton
from w2t_bkin.sources.pose.dlc import (
    DLCProject,
    read_dlc_project,
    read_dlc_skeleton,
    read_dlc_table,
)
from w2t_bkin.sources.pose.io import detect_pose_source, read_pose
from w2t_bkin.sources.pose.lightning import read_lightning_pose
from w2t_bkin.sources.pose.ops import (
    apply_skeleton,
    check_pose_frames,
    match_pose_to_videos,
    rename_keypoints,
)
from w2t_bkin.sources.pose.registry import register_pose_reader
from w2t_bkin.sources.pose.sleap import (
    read_sleap_analysis_csv,
    read_sleap_analysis_h5,
    read_sleap_slp,
)

__all__ = [
    "DLCProject",
    "PoseData",
    "PoseSkeleton",
    "apply_skeleton",
    "check_pose_frames",
    "detect_pose_source",
    "match_pose_to_videos",
    "read_dlc_project",
    "read_dlc_skeleton",
    "read_dlc_table",
    "read_lightning_pose",
    "read_pose",
    "read_sleap_analysis_csv",
    "read_sleap_analysis_h5",
    "read_sleap_slp",
    "register_pose_reader",
    "rename_keypoints",
]
