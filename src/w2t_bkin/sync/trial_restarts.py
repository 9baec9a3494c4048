"""Bpod clock restarts (step 5 of :mod:`w2t_bkin.sync.trials`).

A later Bpod file is placed on the session clock only by its ``Info`` start time: each part
between restarts gets its own fitted offset, and a part that no pulse placed raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from w2t_bkin.errors import SyncError
from w2t_bkin.sync.clock import ClockModel
from w2t_bkin.sync.trial_labels import _listed


@dataclass(frozen=True)
class ClockRestart:
    """A point where the Bpod clock restarted and was placed on the session clock only coarsely.

    Attributes
    ----------
    bpod_time_s
        Start of the restarted part on the merged Bpod clock (its first trial start): every time
        at or after it, up to the next restart, belongs to this part.
    uncertainty_s
        Largest error of the coarse placement relative to any other part (``Info`` start times
        have 1 s resolution).
    source
        What restarted (e.g. the Bpod file name), for messages.
    """

    bpod_time_s: float
    uncertainty_s: float
    source: str


def _check_runs_placed(
    restarts: Sequence[ClockRestart], clock: ClockModel, times_s: np.ndarray, trial_idx: np.ndarray
) -> None:
    """Raise when trials lie in a restarted part whose offset no pulse fixed."""
    if not restarts:
        return
    finite = np.flatnonzero(np.isfinite(times_s))
    unplaced = finite[~clock.run_fitted[clock.run_of(times_s[finite])]]
    if not unplaced.size:
        return
    run = int(clock.run_of(times_s[unplaced[0]]))
    rows = unplaced[clock.run_of(times_s[unplaced]) == run]
    restart = restarts[run - 1] if run > 0 else None
    where = (
        f"after the Bpod clock restart of {restart.source} (Bpod time {restart.bpod_time_s:.3f} s)"
        if restart is not None
        else f"before the first Bpod clock restart ({restarts[0].source})"
    )
    raise SyncError(
        f"{rows.size} trials {where} have no sync onset matched to a TTL pulse (trials "
        f"{_listed(trial_idx[rows])}), so that part of the session can be placed only to within "
        f"±{_window_s(restarts, 0, max(run, 1)):g} s by the Bpod Info start times",
        hint="check that the TTL recording covers this Bpod file and that its trials emit the "
        "sync pulse, or process the file as a separate session",
    )


def _restart_notes(restarts: Sequence[ClockRestart], clock: ClockModel) -> tuple[str, ...]:
    return tuple(
        f"{restart.source}: clock restart placed {step * 1e3:+.3f} ms from its Info start time"
        for restart, step in zip(restarts, clock.step_s, strict=False)
    )


def _in_run(exc: SyncError, restarts: Sequence[ClockRestart], run: int) -> SyncError:
    """``exc`` with the restarted part it happened in named (unchanged without restarts)."""
    if run == 0 or not restarts:
        return exc
    restart = restarts[run - 1]
    return SyncError(
        f"Bpod part after the clock restart of {restart.source}: {exc.message}",
        hint=exc.hint,
    )


def _window_s(restarts: Sequence[ClockRestart], run_a: int, run_b: int) -> float:
    """Largest placement error between two runs (0 for the same run).

    Run ``k`` is the part from ``restarts[k - 1]`` on; run 0 starts with the session.
    """
    if run_a == run_b:
        return 0.0
    return max(restarts[r - 1].uncertainty_s for r in (run_a, run_b) if r > 0)
