"""Frame sampling for labelling and review: pure frame selection plus PNG export (``export``).

:mod:`.select` chooses frames (uniform in time, k-means pose diversity, clips around events and
feature thresholds, per-sequence quotas, seeded); :mod:`.export` decodes them from the videos
with PyAV by seeking and writes images plus a manifest. ``export`` is imported on use (PyAV).
"""

from w2t_bkin.features.sampling.errors import FrameExportError, SamplingError
from w2t_bkin.features.sampling.select import (
    ClipSpec,
    FrameSelection,
    SamplingSpec,
    SequenceTrack,
    ThresholdSpec,
    apply_quota,
    combine,
    pose_features,
    sample_event_clips,
    sample_kmeans,
    sample_uniform,
    select_frames,
    sequence_seed,
    threshold_onsets,
)

__all__ = [
    "ClipSpec",
    "FrameExportError",
    "FrameSelection",
    "SamplingError",
    "SamplingSpec",
    "SequenceTrack",
    "ThresholdSpec",
    "apply_quota",
    "combine",
    "pose_features",
    "sample_event_clips",
    "sample_kmeans",
    "sample_uniform",
    "select_frames",
    "sequence_seed",
    "threshold_onsets",
]
