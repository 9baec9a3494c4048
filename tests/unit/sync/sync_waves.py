"""Synthetic sync waves with ground truth: one square wave's edges on a reference clock and on
a probe clock with a known offset and drift, each quantised to its stream's samples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REF_RATE_HZ = 25_000.0  # a NIDQ rate
PROBE_RATE_HZ = 30_000.0  # an imec AP rate


@dataclass(frozen=True)
class SyncWave:
    """Edges of one 1 Hz sync wave seen by two streams, and the true probe -> reference map."""

    probe_s: np.ndarray
    reference_s: np.ndarray
    offset_s: float
    drift_ppm: float

    def to_reference(self, probe_s: np.ndarray) -> np.ndarray:
        return self.offset_s + (1.0 + self.drift_ppm * 1e-6) * probe_s


def sync_wave(
    duration_s: float,
    *,
    offset_s: float,
    drift_ppm: float,
    period_s: float = 1.0,
    phase_s: float = 0.4321,
    probe_window_s: tuple[float, float] | None = None,
) -> SyncWave:
    """Rising edges on both clocks, each quantised to the first sample that sees the line high.

    The true map is ``reference = offset_s + (1 + drift_ppm * 1e-6) * probe``. The probe records
    only edges inside ``probe_window_s`` (reference seconds; default the whole run).
    """
    reference_true = phase_s + period_s * np.arange(int(duration_s / period_s))
    reference = np.ceil(reference_true * REF_RATE_HZ) / REF_RATE_HZ
    probe_true = (reference_true - offset_s) / (1.0 + drift_ppm * 1e-6)
    probe = np.ceil(probe_true * PROBE_RATE_HZ) / PROBE_RATE_HZ
    if probe_window_s is not None:
        lo, hi = probe_window_s
        probe = probe[(reference_true >= lo) & (reference_true <= hi)]
    return SyncWave(probe, reference, offset_s, drift_ppm)
