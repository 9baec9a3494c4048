"""Streamed timestamp checks: negative steps, gaps and zero steps, counted chunk by chunk.

The three upstream rules, with their thresholds as parameters: more than
``max_negative_count`` steps below ``-negative_step_s``; any step above ``max_gap_s`` (or above
two sample periods, when that is longer: upstream's fixed 2 ms flags every step of a stream
sampled below 500 Hz); zero
steps in at least ``max_zero_fraction`` of all steps. A failed rule sets the job's
``skip_times`` (consumers reset times to regular sampling). Times are read in chunks of
``chunk_samples`` with a one-sample overlap, so a one-hour 30 kHz vector (10^8 values) never
sits in memory, and a step across a chunk boundary is counted once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from w2t_bkin.ephys.jobs import TimestampCheck
from w2t_bkin.errors import IngestError

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

__all__ = [
    "TimestampRules",
    "check_recording_segment",
    "check_time_chunks",
    "iter_chunks",
]


@dataclass(frozen=True)
class TimestampRules:
    """Thresholds of the three rules (see the module docstring)."""

    max_negative_count: int = 10
    negative_step_s: float = 2e-4
    max_gap_s: float = 2e-3
    max_zero_fraction: float = 0.02
    chunk_samples: int = 1_000_000


def iter_chunks(
    read: Callable[[int, int], np.ndarray], n_samples: int, chunk_samples: int
) -> Iterator[np.ndarray]:
    """Chunks ``read(start, stop)`` covering ``[0, n_samples)``, each overlapping the previous
    by one sample so that every step lies inside exactly one chunk."""
    chunk_samples = max(2, chunk_samples)  # one sample of overlap needs two per chunk
    start = 0
    while start < n_samples:
        stop = min(n_samples, start + chunk_samples)
        yield np.asarray(read(start, stop), dtype=np.float64)
        if stop >= n_samples:
            return
        start = stop - 1


def check_time_chunks(
    chunks: Iterator[np.ndarray],
    rules: TimestampRules,
    *,
    band: Literal["ap", "lfp"],
    segment: int,
    source: Literal["timestamps.npy", "time_vector"],
    rate_hz: float | None = None,
) -> TimestampCheck:
    """Apply the rules to times given as overlapping chunks (see :func:`iter_chunks`).

    Parameters
    ----------
    chunks
        ``(n_k,) float64`` arrays of seconds; chunk ``k+1`` starts with the last value of ``k``.
    rate_hz
        Nominal sampling rate: a gap is a step above ``max(max_gap_s, 2 / rate_hz)``.

    Returns
    -------
    TimestampCheck
        Counts, extreme steps, first gap time and the failed rules.
    """
    gap_s = max(rules.max_gap_s, 2.0 / rate_hz) if rate_hz else rules.max_gap_s
    n_samples = n_negative = n_zero = n_gaps = 0
    max_step = min_step = None
    first_gap = None
    first = True
    for chunk in chunks:
        n_samples += chunk.size if first else chunk.size - 1
        first = False
        if chunk.size < 2:
            continue
        steps = np.diff(chunk)
        n_negative += int(np.count_nonzero(steps < -rules.negative_step_s))
        n_zero += int(np.count_nonzero(steps == 0))
        gaps = np.flatnonzero(steps > gap_s)
        if gaps.size and first_gap is None:
            first_gap = float(chunk[gaps[0]])
        n_gaps += int(gaps.size)
        hi, lo = float(steps.max()), float(steps.min())
        max_step = hi if max_step is None else max(max_step, hi)
        min_step = lo if min_step is None else min(min_step, lo)
    failed = []
    if n_negative > rules.max_negative_count:
        failed.append("negative_steps")
    if n_gaps:
        failed.append("gap")
    n_steps = max(n_samples - 1, 0)
    if n_steps and n_zero / n_steps >= rules.max_zero_fraction:
        failed.append("zero_steps")
    return TimestampCheck(
        band=band,
        segment=segment,
        source=source,
        n_samples=n_samples,
        n_negative_steps=n_negative,
        n_zero_steps=n_zero,
        n_gaps=n_gaps,
        max_step_s=max_step,
        min_step_s=min_step,
        first_gap_s=first_gap,
        failed_rules=tuple(failed),
    )


def check_recording_segment(
    recording: BaseRecording,
    segment: int,
    rules: TimestampRules,
    *,
    band: Literal["ap", "lfp"],
    timestamps_file: Path | None = None,
) -> TimestampCheck:
    """Check one segment's times: a side ``timestamps.npy`` (memory-mapped), else the
    recording's own time vector (read by slices), else regular times (nothing to check)."""
    n_samples = recording.get_num_samples(segment)
    rate_hz = float(recording.get_sampling_frequency())
    if timestamps_file is not None and timestamps_file.is_file():
        try:
            times = np.load(timestamps_file, mmap_mode="r")  # never unpickles
        except (ValueError, OSError) as exc:
            raise IngestError(
                f"{timestamps_file}: not a readable timestamps .npy file: {exc}",
                path=timestamps_file,
                hint="copy the recording folder again, or pass --skip-timestamps-check",
            ) from None

        def read_file(start: int, stop: int) -> np.ndarray:
            return np.asarray(times[start:stop])

        check = check_time_chunks(
            iter_chunks(read_file, int(times.shape[0]), rules.chunk_samples),
            rules,
            band=band,
            segment=segment,
            source="timestamps.npy",
            rate_hz=rate_hz,
        )
        if check.n_samples != n_samples:  # the times do not describe these samples
            failed = (*check.failed_rules, "length")
            return check.model_copy(update={"failed_rules": failed})
        return check
    if recording.has_time_vector(segment):

        def read_vector(start: int, stop: int) -> np.ndarray:
            return recording.get_times(segment, start_frame=start, end_frame=stop)

        return check_time_chunks(
            iter_chunks(read_vector, n_samples, rules.chunk_samples),
            rules,
            band=band,
            segment=segment,
            source="time_vector",
            rate_hz=rate_hz,
        )
    return TimestampCheck(band=band, segment=segment, source="regular", n_samples=n_samples)
