"""Spike times on the session clock: a probe's clock fit, read back from ``alignment_stats.json``.

A session that has a SpikeGLX probe's sync line as a TTL channel records the fit of the probe
clock onto the session's reference clock in ``alignment_stats.json`` (``"clocks"``, one row per
probe, written by the synchronization phase). A sorter's spike trains are sample indices of
that probe's stream; :func:`probe_samples_to_session_s` puts them on the session clock, the
clock of every other time in the session's NWB file::

    clock = read_probe_clock("processed/m1/s1/alignment_stats.json", "imec0_sync")
    spike_times_s = probe_samples_to_session_s(clock, spike_sample_idx, 30000.0, first_sample)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from w2t_bkin.errors import IngestError
from w2t_bkin.sync.clock import ClockModel

__all__ = ["ProbeClockRecord", "probe_samples_to_session_s", "read_probe_clock"]


class ProbeClockRecord(BaseModel):
    """The part of an ``alignment_stats.json`` ``clocks`` row that defines the mapping."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    clock_id: str
    reference_id: str
    model: Literal["linear", "piecewise"]
    knots_s: list[float]
    delta_s: list[float]
    status: str

    def clock(self) -> ClockModel:
        """The probe-to-session clock model (evaluation only: no residuals)."""
        empty = np.zeros(0)
        return ClockModel(
            self.model,
            np.asarray(self.knots_s, dtype=np.float64),
            np.asarray(self.delta_s, dtype=np.float64),
            empty,
            empty.astype(bool),
        )


def read_probe_clock(alignment_stats: str | Path, clock_id: str) -> ClockModel:
    """The clock model of probe sync channel ``clock_id`` recorded in ``alignment_stats.json``.

    Raises
    ------
    IngestError
        The file is unreadable, has no such clock, or its row is malformed; the message lists
        the clocks the file has.
    """
    path = Path(alignment_stats)
    try:
        import json

        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IngestError(
            f"{path}: cannot read the alignment statistics ({exc})",
            path=path,
            hint="pass the alignment_stats.json of a processed session (w2t-bkin run)",
        ) from None
    rows = data.get("clocks", []) if isinstance(data, dict) else []
    known = [str(row.get("clock_id")) for row in rows if isinstance(row, dict)]
    for row in rows:
        if isinstance(row, dict) and row.get("clock_id") == clock_id:
            try:
                return ProbeClockRecord.model_validate(row).clock()
            except ValidationError as exc:
                raise IngestError(
                    f"{path}: clock {clock_id!r}: {exc.errors()[0]['msg']} "
                    f"(field {'.'.join(str(p) for p in exc.errors()[0]['loc'])})",
                    path=path,
                    hint="process the session again to rewrite alignment_stats.json",
                ) from None
    raise IngestError(
        f"{path}: no probe clock {clock_id!r}; the file has "
        f"{', '.join(repr(k) for k in known) or 'none (no probe was fitted to the reference)'}",
        path=path,
        hint="pass the TTL id of the probe's sync channel (the [[TTLs]] entry on line 6 of the "
        "imec file)",
    )


def probe_samples_to_session_s(
    clock: ClockModel, sample_idx: np.ndarray, rate_hz: float, first_sample: int = 0
) -> np.ndarray:
    """Session seconds of sample indices of a probe stream.

    Parameters
    ----------
    clock
        The probe's clock model (:func:`read_probe_clock`).
    sample_idx
        ``(n,) int64`` sample indices within the stream's file (a sorter's spike trains).
    rate_hz
        The stream's sample rate (SpikeGLX ``imSampRate``; the same one the sync edges were
        timed with).
    first_sample
        The file's ``firstSample``: its first sample's count since the run started.

    Returns
    -------
    numpy.ndarray
        ``(n,) float64`` seconds on the session (reference) clock.
    """
    probe_s = (np.asarray(sample_idx, dtype=np.float64) + float(first_sample)) / rate_hz
    return np.asarray(clock(probe_s), dtype=np.float64)
