"""Bpod trials onto the reference (DAQ) clock through per-trial sync pulses.

Each trial's sync state, when visited, emits one TTL pulse that the DAQ records. The Bpod clock
is offset from the DAQ clock by an unknown amount (Bpod may start minutes after the DAQ) and
drifts (tens of ppm). Pulses can be lost, spurious pulses occur (also before the first trial),
and trials may not visit their sync state.

Algorithm (no greedy pointer: one missing or extra pulse cannot shift later trials)
------------------------------------------------------------------------------------
1. Candidates, searching BOTH sides: every pair (first ``_BOOT_SYNCS`` sync onsets × pulses from
   the start, in blocks of ``_BOOT_PULSES``) proposes an offset, scored by how many of the first
   ``_SCORE_SYNCS`` onsets land within ``tolerance_s`` of some pulse (``np.searchsorted``,
   vectorised over all candidates). The strongest distinct offsets are kept.
2. Grow each candidate over the whole session: onsets in a window around its anchor are matched
   to their nearest pulse through the current clock model, the model is refitted on the
   matches, and the window grows (doubling; by at most ``segment_s`` for the piecewise model so
   that a drift change cannot outrun the extrapolation).
3. Choose, never guess: on the same spread of onsets every grown candidate costs
   ``sum(min(r² / s², T)) + T * unmatched`` (``s``: residual scale of the best-matched candidate,
   ``T = _UNMATCHED_COST``). With near-periodic trials every shift by whole trials fits almost
   as well, so the cheapest alignment is also shifted by ±1, ±2, ±4, ... trials while that
   lowers the cost. The cheapest wins only if every other candidate with enough matches (the
   shifts by one trial included) costs at least ``_AMBIGUITY_MARGIN`` more; otherwise the data
   cannot tell the offsets apart and a :class:`~w2t_bkin.errors.SyncError` says so.
4. Final: all onsets are matched through the model, the model is refitted robustly (pairs off by
   more than ``tolerance_s`` are rejected) and both are repeated until stable. A pulse is given
   to at most one trial (the nearest prediction).
5. Clock restarts (a later Bpod file placed on the session clock only by its ``Info`` start
   time, 1 s resolution): each run between restarts is aligned on its own, its candidates
   limited to ``±uncertainty_s`` around the first run's prediction, then one model is fitted
   jointly: shared drift, one fitted offset step per restart. A run with no matched pulse
   cannot be placed and raises.
6. Model check (``model`` 'auto' or 'linear'): a piecewise-linear fit of the linear model's
   matches that departs from it by more than ``_DRIFT_CHANGE_LIMIT_S``, or a low matched
   fraction, triggers a piecewise-linear alignment. When it matches more trials or departs
   that much, the drift is not constant: 'auto' uses it, 'linear' raises.

Every Bpod time (trial start/stop, states, events) maps through the same :class:`ClockModel`,
so no trial is ever left on the Bpod clock. Fewer than ``_LOW_MATCHED_FRACTION`` (80%) of the
sync onsets matched raises under the 'fail' policy and warns (``DataQualityWarning``) otherwise;
fewer than ``_UNTRUSTED_FRACTION`` (50%) raises under every policy, because a wrong offset can
match a few onsets by coincidence. Offsets are proposed from the first onsets and pulses, and
also from the last ones when the first onsets have no pulse (the DAQ started late).

Modules
-------
This module holds the result, the driver and its findings. The steps:
:mod:`~w2t_bkin.sync.trial_search` (offset proposals, growth, choice, matching, drift check),
:mod:`~w2t_bkin.sync.trial_restarts` (clock restarts) and :mod:`~w2t_bkin.sync.trial_labels`
(labels, messages and errors).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from w2t_bkin.errors import SyncError, warn_data_quality
from w2t_bkin.sync.clock import ClockModel
from w2t_bkin.sync.trial_labels import (
    _LOW_MATCHED_HINT,
    _labels,
    _low_matched_fraction,
    _too_few_error,
    _unaligned_error,
)
from w2t_bkin.sync.trial_restarts import ClockRestart, _check_runs_placed, _restart_notes
from w2t_bkin.sync.trial_search import ModelChoice, _align_runs, _check_drift, _Search

__all__ = [
    "ClockRestart",
    "ModelChoice",
    "TrialAlignment",
    "TrialLabel",
    "align_trials",
    "with_clock",
]

log = logging.getLogger(__name__)

TrialLabel = Literal["matched", "interpolated", "extrapolated", "unaligned"]
#: Fewer matched onsets than this fraction fail under every policy (a wrong offset can match a few).
_UNTRUSTED_FRACTION = 0.5


@dataclass(frozen=True, eq=False)
class TrialAlignment:
    """Bpod → reference clock model and per-trial matching.

    Attributes
    ----------
    clock
        Bpod clock → reference clock, fitted on matched (onset, pulse) pairs.
    bpod_trial_idx
        ``(n_trials,) int64``: trial numbers the rows refer to (``arange`` unless given).
    bpod_sync_times_s
        ``(n_trials,) float64``: sync onsets on the Bpod clock (NaN: not visited).
    sync_times_s
        ``(n_trials,) float64``: sync onsets mapped onto the reference clock (NaN: not visited).
    trial_start_times_s
        ``(n_trials,) float64`` trial starts on the reference clock, or ``None`` when trial
        starts were not given.
    matched_pulse_idx
        ``(n_trials,) int64``: index of each trial's pulse in the input pulses, -1 if none.
    alignment_label
        ``(n_trials,)`` str: ``matched`` (own pulse), ``interpolated`` (no pulse, between matched
        trials), ``extrapolated`` (no pulse, before the first or after the last match) or
        ``unaligned`` (no sync onset; its times still map through ``clock``).
    residuals_s
        ``(n_trials,) float64``: ``clock(onset) - pulse`` for matched trials, NaN otherwise.
    spurious_pulse_idx
        ``(n_spurious,) int64``: pulses not matched to any trial.
    missing_pulse_trial_idx
        ``(n_missing,) int64``: rows with a sync onset but no pulse.
    unaligned_trial_idx
        ``(n_unaligned,) int64``: rows without a sync onset.
    n_pulses
        Number of input pulses.
    tolerance_s
        Matching tolerance used.
    messages
        Human-readable findings.
    """

    clock: ClockModel
    bpod_trial_idx: np.ndarray
    bpod_sync_times_s: np.ndarray
    sync_times_s: np.ndarray
    trial_start_times_s: np.ndarray | None
    matched_pulse_idx: np.ndarray
    alignment_label: np.ndarray
    residuals_s: np.ndarray
    spurious_pulse_idx: np.ndarray
    missing_pulse_trial_idx: np.ndarray
    unaligned_trial_idx: np.ndarray
    n_pulses: int
    tolerance_s: float
    messages: tuple[str, ...]

    @property
    def n_trials(self) -> int:
        return int(self.alignment_label.size)

    @property
    def n_matched(self) -> int:
        return int(np.count_nonzero(self.matched_pulse_idx >= 0))

    @property
    def residual_rms_s(self) -> float:
        r = self.residuals_s[np.isfinite(self.residuals_s)]
        return float(np.sqrt(np.mean(r * r))) if r.size else float("nan")

    @property
    def residual_max_s(self) -> float:
        r = self.residuals_s[np.isfinite(self.residuals_s)]
        return float(np.max(np.abs(r))) if r.size else float("nan")

    def to_reference(self, times_bpod_s: np.ndarray | float) -> np.ndarray:
        """Map any Bpod-clock times (any shape) onto the reference clock."""
        return self.clock(times_bpod_s)


def align_trials(
    bpod_sync_times_s: np.ndarray,
    pulse_times_s: np.ndarray,
    *,
    bpod_trial_idx: np.ndarray | None = None,
    trial_start_s: np.ndarray | None = None,
    tolerance_s: float = 0.005,
    min_matched: int = 3,
    model: ModelChoice = "auto",
    segment_s: float = 300.0,
    unaligned_policy: Literal["flag", "fail"] = "flag",
    restarts: Sequence[ClockRestart] = (),
) -> TrialAlignment:
    """Match per-trial Bpod sync onsets to TTL pulses and fit the Bpod → reference clock.

    Parameters
    ----------
    bpod_sync_times_s
        ``(n_trials,) float64`` sync-state onset of each trial on the Bpod clock, NaN where
        the trial has no sync event.
    pulse_times_s
        ``(n_pulses,) float64`` sync-channel pulses on the reference clock.
    bpod_trial_idx
        ``(n_trials,) int64`` trial numbers of the rows (e.g. only trials of the types wired
        to this TTL channel); used in messages and kept in the result.
    trial_start_s
        ``(n_trials,) float64`` trial starts on the Bpod clock; when given, the result holds
        them on the reference clock (this is how unaligned trials are placed).
    tolerance_s
        ``synchronization.trial_match_tolerance_s``: largest |prediction - pulse| of a match.
    min_matched
        ``synchronization.min_matched_trials``: fewest matches needed to fit the clock.
    model
        ``synchronization.clock_model``: 'linear', 'piecewise', or 'auto' (linear unless the
        drift is found not to be constant, then piecewise; 'linear' raises in that case).
    segment_s
        ``synchronization.piecewise_segment_s``.
    unaligned_policy
        ``synchronization.unaligned_trial_policy``: 'flag' labels trials without a sync
        onset ``unaligned`` and warns when few onsets matched; 'fail' raises in both cases.
    restarts
        Points where the Bpod clock restarted (later Bpod files placed by ``Info`` start times),
        in time order. Each part gets its own fitted offset; the drift is shared.

    Returns
    -------
    TrialAlignment

    Raises
    ------
    SyncError
        Fewer than ``min_matched`` matches; an ambiguous offset (near-periodic trials); a
        restarted part without any matched pulse; a drift change under ``model='linear'``;
        unaligned trials or a low matched fraction under the 'fail' policy.
    """
    sync = np.asarray(bpod_sync_times_s, dtype=np.float64).ravel()
    trial_idx = _trial_numbers(bpod_trial_idx, sync.size)
    starts = None if trial_start_s is None else _per_trial(trial_start_s, sync.size)
    pulses, pulse_order = _sorted_pulses(pulse_times_s)
    if model not in ("linear", "piecewise", "auto"):
        raise SyncError(
            f"unknown clock model {model!r}",
            hint="synchronization.clock_model is 'auto', 'linear' or 'piecewise'",
        )
    visited = np.isfinite(sync)
    unaligned = np.flatnonzero(~visited).astype(np.int64)
    if unaligned.size and unaligned_policy == "fail":
        raise _unaligned_error(trial_idx[unaligned], sync.size)
    n_visited = int(visited.sum())
    min_matched = max(int(min_matched), 1)
    if min(n_visited, pulses.size) < min_matched:
        raise _too_few_error(0, min_matched, n_visited, pulses.size, tolerance_s, "")

    search = _Search(pulses, float(tolerance_s), int(min_matched), float(segment_s), restarts)
    rows = np.flatnonzero(visited)
    src = sync[rows]
    run = np.searchsorted(search.steps, src, side="right")
    clock, match = _align_runs(search, src, run, "piecewise" if model == "piecewise" else "linear")
    notes: list[str] = []
    if model != "piecewise":
        clock, match, note = _check_drift(search, src, run, clock, match, model)
        notes += [note] if note else []
    n_matched = int(np.count_nonzero(match >= 0))
    if n_matched < min_matched:
        raise _too_few_error(n_matched, min_matched, n_visited, pulses.size, tolerance_s, "")
    placed_times = sync if starts is None else np.where(visited, sync, starts)
    _check_runs_placed(search.restarts, clock, placed_times, trial_idx)

    matches = (rows, match)
    result = _result(
        sync, trial_idx, starts, matches, pulse_times_s, pulse_order, clock, tolerance_s
    )
    if n_matched < _UNTRUSTED_FRACTION * n_visited:
        # so few matches can be a coincidence of a wrong offset: no policy accepts them
        raise SyncError(
            f"only {n_matched} of {n_visited} Bpod sync onsets matched a TTL pulse "
            f"(under {100 * _UNTRUSTED_FRACTION:.0f}%): the alignment cannot be trusted",
            hint="check that the TTL channel recorded the Bpod session (at least half of it), "
            "that sync_signal in [[bpod.sync.trial_types]] is the state that emits the pulse, "
            "and synchronization.trial_match_tolerance_s",
        )
    low = _low_matched_fraction(n_matched, n_visited)
    if low and unaligned_policy == "fail":
        raise SyncError(low, hint=_LOW_MATCHED_HINT)
    messages = result.messages + tuple(notes) + _restart_notes(search.restarts, clock)
    if low:
        warn_data_quality(low, stacklevel=2)
        messages += (low,)
    for message in messages:
        log.info("%s", message)
    return replace(result, messages=messages)


def with_clock(
    alignment: TrialAlignment,
    clock: ClockModel,
    pulse_times_s: np.ndarray,
    trial_start_s: np.ndarray | None,
) -> TrialAlignment:
    """The same matches seen through ``clock`` (e.g. one Bpod clock fitted on several channels).

    Parameters
    ----------
    alignment
        A result of :func:`align_trials`.
    clock
        The Bpod → reference model to report (its times, residuals, offset and drift).
    pulse_times_s
        ``(n_pulses,) float64``: the pulses given to :func:`align_trials`, in the same order.
    trial_start_s
        ``(n_trials,) float64`` Bpod trial starts of the rows, or None.

    Returns
    -------
    TrialAlignment
        Times and residuals recomputed, labels and matches unchanged, messages redescribed.
    """
    pulses = np.asarray(pulse_times_s, dtype=np.float64).ravel()
    sync_ref = clock(alignment.bpod_sync_times_s)
    has = alignment.matched_pulse_idx >= 0
    residuals = np.full(sync_ref.size, np.nan)
    residuals[has] = sync_ref[has] - pulses[alignment.matched_pulse_idx[has]]
    starts = None if trial_start_s is None else clock(np.asarray(trial_start_s, dtype=np.float64))
    result = replace(
        alignment,
        clock=clock,
        sync_times_s=sync_ref,
        trial_start_times_s=starts,
        residuals_s=residuals,
    )
    return replace(result, messages=_describe(result))


def _result(
    sync: np.ndarray,
    trial_idx: np.ndarray,
    starts: np.ndarray | None,
    matches: tuple[np.ndarray, np.ndarray],
    pulse_times_s: np.ndarray,
    pulse_order: np.ndarray,
    clock: ClockModel,
    tolerance_s: float,
) -> TrialAlignment:
    """The alignment of every row from ``(visited rows, their sorted-pulse matches)``."""
    rows, match = matches
    visited = np.isfinite(sync)
    matched_pulse = np.full(sync.size, -1, dtype=np.int64)
    matched_pulse[rows] = match
    has = matched_pulse >= 0
    used = np.zeros(pulse_order.size, dtype=bool)
    used[matched_pulse[has]] = True
    # report pulse indices in the caller's order
    matched_pulse[has] = pulse_order[matched_pulse[has]]
    result = TrialAlignment(
        clock=clock,
        bpod_trial_idx=trial_idx,
        bpod_sync_times_s=sync,
        sync_times_s=np.zeros(0),
        trial_start_times_s=None,
        matched_pulse_idx=matched_pulse,
        alignment_label=_labels(visited, has),
        residuals_s=np.zeros(0),
        spurious_pulse_idx=np.sort(pulse_order[~used]).astype(np.int64),
        missing_pulse_trial_idx=np.flatnonzero(visited & ~has).astype(np.int64),
        unaligned_trial_idx=np.flatnonzero(~visited).astype(np.int64),
        n_pulses=int(pulse_order.size),
        tolerance_s=float(tolerance_s),
        messages=(),
    )
    pulses = np.asarray(pulse_times_s, dtype=np.float64).ravel()
    return with_clock(result, clock, pulses, starts)


def _trial_numbers(bpod_trial_idx: np.ndarray | None, n: int) -> np.ndarray:
    if bpod_trial_idx is None:
        return np.arange(n, dtype=np.int64)
    idx = np.asarray(bpod_trial_idx, dtype=np.int64).ravel()
    if idx.size != n:
        raise SyncError(
            f"bpod_trial_idx has {idx.size} entries for {n} sync onsets",
            hint="pass one trial number per sync onset",
        )
    return idx


def _per_trial(values: np.ndarray, n: int) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64).ravel()
    if out.size != n:
        raise SyncError(
            f"trial_start_s has {out.size} entries for {n} sync onsets",
            hint="pass one trial start per sync onset",
        )
    return out


def _sorted_pulses(pulse_times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pulses = np.asarray(pulse_times_s, dtype=np.float64).ravel()
    if not np.all(np.isfinite(pulses)):
        raise SyncError(
            "sync pulse times must be finite",
            hint="read pulses with w2t_bkin.sources.ttl, which rejects unparseable values",
        )
    if pulses.size > 1 and np.any(np.diff(pulses) < 0):
        order = np.argsort(pulses, kind="stable")
        return pulses[order], order.astype(np.int64)
    return pulses, np.arange(pulses.size, dtype=np.int64)


def _describe(result: TrialAlignment) -> tuple[str, ...]:
    names = ("matched", "interpolated", "extrapolated", "unaligned")
    counts = {name: int(np.count_nonzero(result.alignment_label == name)) for name in names}
    counts = {name: n for name, n in counts.items() if n}
    model = "piecewise-linear" if result.clock.kind == "piecewise" else "linear"
    out = [
        f"{result.n_matched} of {result.n_trials} trials matched a pulse "
        f"({', '.join(f'{v} {k}' for k, v in counts.items())}); {model} Bpod clock offset "
        f"{result.clock.offset_s:.6f} s, drift {result.clock.drift_ppm:.2f} ppm, residual rms "
        f"{result.residual_rms_s * 1e3:.3f} ms, max {result.residual_max_s * 1e3:.3f} ms"
    ]
    if result.spurious_pulse_idx.size:
        out.append(f"{result.spurious_pulse_idx.size} pulses matched no trial")
    if result.missing_pulse_trial_idx.size:
        out.append(f"{result.missing_pulse_trial_idx.size} trials with a sync onset had no pulse")
    if result.unaligned_trial_idx.size:
        out.append(
            f"{result.unaligned_trial_idx.size} trials had no sync onset and were mapped through "
            "the clock model (label 'unaligned')"
        )
    return tuple(out)


#: Helpers that moved to the ``trial_*`` modules: tests and callers still import them from here.
_MOVED = {
    "_BOOT_SYNCS": "w2t_bkin.sync.trial_search",
    "_BOOT_PULSES": "w2t_bkin.sync.trial_search",
    "_BOOT_BLOCKS": "w2t_bkin.sync.trial_search",
    "_SCORE_SYNCS": "w2t_bkin.sync.trial_search",
    "_MAX_DRIFT": "w2t_bkin.sync.trial_search",
    "_MAX_FINAL_ITER": "w2t_bkin.sync.trial_search",
    "_GROW_SAMPLE": "w2t_bkin.sync.trial_search",
    "_MAX_CANDIDATES": "w2t_bkin.sync.trial_search",
    "_MAX_SHIFTS": "w2t_bkin.sync.trial_search",
    "_UNMATCHED_COST": "w2t_bkin.sync.trial_search",
    "_AMBIGUITY_MARGIN": "w2t_bkin.sync.trial_search",
    "_RESIDUAL_FLOOR_S": "w2t_bkin.sync.trial_search",
    "_DRIFT_CHANGE_LIMIT_S": "w2t_bkin.sync.trial_search",
    "_CHECK_SAMPLE": "w2t_bkin.sync.trial_search",
    "_DRIFT_CHECK_FRACTION": "w2t_bkin.sync.trial_search",
    "_Candidate": "w2t_bkin.sync.trial_search",
    "_Grown": "w2t_bkin.sync.trial_search",
    "_align_run": "w2t_bkin.sync.trial_search",
    "_candidates": "w2t_bkin.sync.trial_search",
    "_block_offsets": "w2t_bkin.sync.trial_search",
    "_scores": "w2t_bkin.sync.trial_search",
    "_nearest": "w2t_bkin.sync.trial_search",
    "_match": "w2t_bkin.sync.trial_search",
    "_grow": "w2t_bkin.sync.trial_search",
    "_shifted": "w2t_bkin.sync.trial_search",
    "_costs": "w2t_bkin.sync.trial_search",
    "_choose": "w2t_bkin.sync.trial_search",
    "_same_alignment": "w2t_bkin.sync.trial_search",
    "_finalise": "w2t_bkin.sync.trial_search",
    "_refit": "w2t_bkin.sync.trial_search",
    "_drift_limit_s": "w2t_bkin.sync.trial_search",
    "_ambiguous_error": "w2t_bkin.sync.trial_search",
    "_LOW_MATCHED_FRACTION": "w2t_bkin.sync.trial_labels",
    "_listed": "w2t_bkin.sync.trial_labels",
    "_in_run": "w2t_bkin.sync.trial_restarts",
}


def __getattr__(name: str) -> Any:
    """Resolve a helper that moved to a submodule (see ``_MOVED``)."""
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
