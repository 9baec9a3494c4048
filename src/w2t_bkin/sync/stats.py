"""Per-stream alignment statistics for ``alignment_stats.json`` and the QC report."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from w2t_bkin.sync.frames import FrameAlignment
from w2t_bkin.sync.trials import TrialAlignment


@dataclass(frozen=True, eq=False)
class StreamStats:
    """How well one stream (a camera, or the trials of one TTL channel) was aligned.

    Attributes
    ----------
    stream_id
        Camera id or TTL channel id.
    kind
        ``"camera"`` or ``"trials"``.
    n_pulses
        Pulses on the stream's TTL channel.
    n_items
        Frames (camera) or trials (trials).
    n_matched
        Items with their own pulse.
    residual_rms_ms, residual_max_ms
        Residuals of the stream's clock model on matched items, in milliseconds (cameras:
        pulses against the fitted camera clock, i.e. pulse jitter; trials: mapped sync onset
        minus its pulse). NaN when nothing matched.
    drift_ppm, offset_s
        Drift and offset of the stream's clock against the reference clock.
    dropped_idx
        ``(n,) int64``: dropped frame positions (cameras); empty for trials.
    spurious_idx
        ``(n,) int64``: pulse indices removed as spurious / matched to no trial.
    missing_idx
        ``(n,) int64``: frames or trials whose pulse was lost.
    unassigned_idx
        ``(n,) int64``: on-grid pulses with no saved frame (cameras, e.g. triggers after the
        recording stopped); empty for trials (their unused pulses are in ``spurious_idx``).
    status
        Camera: the frame alignment status. Trials: ``"exact"`` when every trial with a sync
        onset matched a pulse, else ``"repaired"``.
    """

    stream_id: str
    kind: Literal["camera", "trials"]
    n_pulses: int
    n_items: int
    n_matched: int
    residual_rms_ms: float
    residual_max_ms: float
    drift_ppm: float
    offset_s: float
    dropped_idx: np.ndarray
    spurious_idx: np.ndarray
    missing_idx: np.ndarray
    status: str
    unassigned_idx: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict: index arrays as full lists, NaN as ``None``."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                out[name] = [int(v) for v in value]
            elif isinstance(value, float):
                out[name] = None if math.isnan(value) else value
            else:
                out[name] = value
        return out


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
