"""Movement analysis on arrays (pure): exact DTW, joint angles, repetition segmentation.

Everything here takes and returns NumPy arrays and knows no file format; numba (the
``analysis`` extra) is imported only when a DTW is computed.

- :mod:`~w2t_bkin.analysis.dtw`: exact DTW (numba), its variants on poses, all-pairs matrices.
- :mod:`~w2t_bkin.analysis.angles`: joint angles of keypoint triplets.
- :mod:`~w2t_bkin.analysis.invariance`: root-relative, body-length scale, Procrustes after DTW.
- :mod:`~w2t_bkin.analysis.segment`: repetition segmentation, valley to valley.
"""

from __future__ import annotations

from w2t_bkin.analysis.angles import joint_angles

# ``dtw`` (the function) is not re-exported: it would hide the ``dtw`` module.
from w2t_bkin.analysis.dtw import (
    DTWResult,
    dtw_distance_matrix,
    dtw_pose_distance_matrix,
    dtw_poses,
    sakoe_chiba_band,
)
from w2t_bkin.analysis.errors import AnalysisError
from w2t_bkin.analysis.invariance import (
    ProcrustesDTWResult,
    RigidTransform,
    dtw_procrustes,
    fit_procrustes,
    root_relative,
    scale_by_length,
)
from w2t_bkin.analysis.segment import (
    Segmentation,
    SegmentationConfig,
    SignalSpec,
    extract_signal,
    segment_poses,
    segment_signal,
    slice_segments,
)

__all__ = [
    "AnalysisError",
    "DTWResult",
    "ProcrustesDTWResult",
    "RigidTransform",
    "Segmentation",
    "SegmentationConfig",
    "SignalSpec",
    "dtw_distance_matrix",
    "dtw_pose_distance_matrix",
    "dtw_poses",
    "dtw_procrustes",
    "extract_signal",
    "fit_procrustes",
    "joint_angles",
    "root_relative",
    "sakoe_chiba_band",
    "scale_by_length",
    "segment_poses",
    "segment_signal",
    "slice_segments",
]
