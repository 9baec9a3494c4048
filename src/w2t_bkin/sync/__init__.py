"""Clock synchronization onto the acquisition (DAQ/TTL) reference clock. Pure NumPy, no I/O.

* :func:`fit_clock` / :class:`ClockModel`: robust linear or piecewise-linear clock mapping.
* :func:`align_frames` / :class:`FrameAlignment`: per-frame timestamps from camera pulses, with
  camera drops, lost pulses and spurious pulses told apart and localised.
* :func:`align_trials` / :class:`TrialAlignment`: Bpod trials onto the reference clock through
  per-trial sync pulses, without greedy pulse consumption.
* :class:`StreamStats` (from :mod:`w2t_bkin.model.stats`) and the ``stats_*`` builders: per-stream
  figures for ``alignment_stats.json`` and the QC report.
"""

from w2t_bkin.sync.clock import ClockModel, fit_clock
from w2t_bkin.sync.frames import (
    FrameAlignment,
    align_frames,
    frame_times_from_rate,
    frame_times_from_video,
)
from w2t_bkin.sync.stats import (
    StreamStats,
    stats_for_camera,
    stats_for_untimed_camera,
    stats_from_frames,
    stats_from_trials,
)
from w2t_bkin.sync.trials import TrialAlignment, align_trials

__all__ = [
    "ClockModel",
    "FrameAlignment",
    "StreamStats",
    "TrialAlignment",
    "align_frames",
    "align_trials",
    "fit_clock",
    "frame_times_from_rate",
    "frame_times_from_video",
    "stats_for_camera",
    "stats_for_untimed_camera",
    "stats_from_frames",
    "stats_from_trials",
]
