"""Per-stream alignment statistics for ``alignment_stats.json`` and the QC report.

:class:`~w2t_bkin.model.stats.StreamStats` lives in :mod:`w2t_bkin.model.stats` (re-exported
here); this module builds it from the alignments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from w2t_bkin.model.stats import StreamStats
from w2t_bkin.sync.frames import FrameAlignment
from w2t_bkin.sync.trials import TrialAlignment

__all__ = [
    "StreamStats",
    "stats_for_camera",
    "stats_for_untimed_camera",
    "stats_from_frames",
    "stats_from_trials",
]


def stats_from_frames(stream_id: str, alignment: FrameAlignment) -> StreamStats:
    """Statistics of one camera's frame alignment."""
    clock = alignment.clock
    return StreamStats(
        stream_id=stream_id,
        kind="camera",
        n_pulses=alignment.n_pulses,
        n_items=alignment.n_frames,
        n_matched=int(np.count_nonzero(alignment.frame_has_pulse)),
        residual_rms_ms=clock.rms_s * 1e3,
        residual_max_ms=clock.max_abs_s * 1e3,
        drift_ppm=clock.drift_ppm,
        offset_s=float(alignment.frame_times_s[0]),
        dropped_idx=alignment.dropped_frames.copy(),
        spurious_idx=alignment.spurious_pulse_idx.copy(),
        missing_idx=alignment.missing_pulse_frame_idx.copy(),
        status=alignment.status,
        unassigned_idx=alignment.unassigned_pulse_idx.copy(),
    )


def stats_from_trials(stream_id: str, alignment: TrialAlignment) -> StreamStats:
    """Statistics of the trials aligned through one TTL channel.

    Drift, offset and residuals are those of ``alignment.clock``: with several sync channels,
    pass the alignment seen through the one Bpod clock (:func:`~w2t_bkin.sync.trials.with_clock`).
    """
    return StreamStats(
        stream_id=stream_id,
        kind="trials",
        n_pulses=alignment.n_pulses,
        n_items=alignment.n_trials,
        n_matched=alignment.n_matched,
        residual_rms_ms=alignment.residual_rms_s * 1e3,
        residual_max_ms=alignment.residual_max_s * 1e3,
        drift_ppm=alignment.clock.drift_ppm,
        offset_s=alignment.clock.offset_s,
        dropped_idx=np.zeros(0, dtype=np.int64),
        spurious_idx=alignment.spurious_pulse_idx.copy(),
        missing_idx=alignment.missing_pulse_trial_idx.copy(),
        status="exact" if alignment.missing_pulse_trial_idx.size == 0 else "repaired",
        unassigned_idx=np.zeros(0, dtype=np.int64),
    )


def stats_for_camera(camera_id: str, alignment: FrameAlignment) -> StreamStats:
    """A TTL camera's ``alignment_stats.json`` row, with how its frames were timed.

    :func:`stats_from_frames` plus ``frame_pts`` (whether container timestamps placed the
    frames, and why not) and ``notes`` (the alignment's findings joined by ``"; "``).
    """
    return replace(
        stats_from_frames(camera_id, alignment),
        frame_pts="used" if alignment.pts_used else f"not used: {alignment.pts_note}",
        notes="; ".join(alignment.messages),
    )


def stats_for_untimed_camera(
    camera_id: str, n_frames: int, frame_clock: str, notes: Sequence[str]
) -> StreamStats:
    """The row of a camera declared without TTL: no pulses, no clock model, no index lists.

    Parameters
    ----------
    camera_id
        The camera.
    n_frames
        Frames in its video (all chunks).
    frame_clock
        The camera's ``frame_clock``: ``"video"`` (container timestamps used) or ``"rate"``.
    notes
        Findings of its timing, joined by ``"; "`` in the row.
    """
    return StreamStats(
        stream_id=camera_id,
        kind="camera",
        n_pulses=0,
        n_items=n_frames,
        n_matched=0,
        status=f"no TTL: frame_clock = {frame_clock}",
        frame_pts="used" if frame_clock == "video" else "not used: frame_clock = rate",
        notes="; ".join(notes),
    )
