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
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from w2t_bkin.errors import DataQualityWarning, SyncError
from w2t_bkin.sync.clock import ClockKind, ClockModel, fit_clock

log = logging.getLogger(__name__)

TrialLabel = Literal["matched", "interpolated", "extrapolated", "unaligned"]
#: ``synchronization.clock_model``: a fixed model, or 'auto' (linear unless drift changes).
ModelChoice = Literal["linear", "piecewise", "auto"]

_BOOT_SYNCS = 16
_BOOT_PULSES = 128
_BOOT_BLOCKS = 16
_SCORE_SYNCS = 64
#: Largest drift assumed when choosing the first window (prediction error < tolerance / 2).
_MAX_DRIFT = 200e-6
_MAX_FINAL_ITER = 6
#: Most onsets matched per growth step before the final, session-wide step.
_GROW_SAMPLE = 8192
#: Distinct candidate offsets grown over the whole session before one is chosen.
_MAX_CANDIDATES = 6
#: Most alignments shifted by whole pulses tried while walking to the best shift.
_MAX_SHIFTS = 128
#: Cost of an onset without a pulse, in squared residual scales (a 5-sigma residual costs as much).
_UNMATCHED_COST = 25.0
#: How much cheaper the chosen alignment must be than any rival: more than one unmatched onset.
_AMBIGUITY_MARGIN = 1.5 * _UNMATCHED_COST
#: Residual scale floor (DAQ-sample level), so that noiseless data do not look infinitely sure.
_RESIDUAL_FLOOR_S = 1e-6
#: A lower fraction of sync onsets with a pulse is reported (raised under the 'fail' policy).
_LOW_MATCHED_FRACTION = 0.8
#: Fewer matched onsets than this fraction fail under every policy (a wrong offset can match a few).
_UNTRUSTED_FRACTION = 0.5
#: Linear and piecewise models that differ by more than this on matched onsets: drift not constant.
_DRIFT_CHANGE_LIMIT_S = 0.5e-3
#: Most matched pairs the drift check fits (spread over the session).
_CHECK_SAMPLE = 32768
#: A matched fraction below this makes the linear model suspect enough to try a piecewise one.
_DRIFT_CHECK_FRACTION = 0.9


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
    label
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
    label: np.ndarray
    residuals_s: np.ndarray
    spurious_pulse_idx: np.ndarray
    missing_pulse_trial_idx: np.ndarray
    unaligned_trial_idx: np.ndarray
    n_pulses: int
    tolerance_s: float
    messages: tuple[str, ...]

    @property
    def n_trials(self) -> int:
        return int(self.label.size)

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
    _check_runs_placed(search, clock, placed_times, trial_idx)

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
    messages = result.messages + tuple(notes) + _restart_notes(search, clock)
    if low:
        warnings.warn(low, DataQualityWarning, stacklevel=2)
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
        label=_labels(visited, has),
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


# -- steps --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Search:
    """What every step needs: the sorted pulses and the matching settings."""

    pulses: np.ndarray
    tolerance_s: float
    min_matched: int
    segment_s: float
    restarts: Sequence[ClockRestart]

    @property
    def steps(self) -> np.ndarray:
        """``(n_restarts,) float64`` restart times, checked to be strictly increasing."""
        times = np.array([r.bpod_time_s for r in self.restarts], dtype=np.float64)
        if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
            raise SyncError(
                f"clock restarts must be finite Bpod times in increasing order, got "
                f"{times.tolist()}",
                hint="list each restarted Bpod file once, in recording order",
            )
        return times

    def window_s(self, run_a: int, run_b: int) -> float:
        """Largest placement error between two runs (0 for the same run)."""
        if run_a == run_b:
            return 0.0
        return max(self.restarts[r - 1].uncertainty_s for r in (run_a, run_b) if r > 0)


@dataclass(frozen=True, eq=False)
class _Candidate:
    offset_s: float
    anchor_s: float
    score: float


@dataclass(frozen=True, eq=False)
class _Grown:
    """A candidate grown over the whole run, evaluated on ``rows``."""

    clock: ClockModel
    match: np.ndarray  # (n_src,) pulse per onset, -1 none or not evaluated
    rows: np.ndarray  # evaluated onsets
    residuals_s: np.ndarray  # (n,) of the matched evaluated onsets

    @property
    def n(self) -> int:
        return int(self.residuals_s.size)


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


def _nearest(pred: np.ndarray, pulses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest pulse to each prediction and the absolute distance."""
    j = np.searchsorted(pulses, pred)
    left = np.clip(j - 1, 0, pulses.size - 1)
    right = np.clip(j, 0, pulses.size - 1)
    d_left = np.abs(pred - pulses[left])
    d_right = np.abs(pulses[right] - pred)
    use_right = d_right < d_left
    return np.where(use_right, right, left), np.where(use_right, d_right, d_left)


def _match(pred: np.ndarray, pulses: np.ndarray, tolerance_s: float) -> np.ndarray:
    """``(n,) int64`` pulse of each prediction within tolerance (-1 none), each pulse used once."""
    j, d = _nearest(pred, pulses)
    ok = np.flatnonzero(d <= tolerance_s)
    out = np.full(pred.size, -1, dtype=np.int64)
    jo = j[ok]
    if np.any(jo[1:] < jo[:-1]):  # predictions out of time order: group claims by pulse
        order = np.argsort(jo, kind="stable")
        ok, jo = ok[order], jo[order]
    # when two onsets claim one pulse, the nearer one keeps it (claims are rare and adjacent)
    dup = np.flatnonzero(jo[1:] == jo[:-1])
    while dup.size:
        loser = np.where(d[ok[dup]] <= d[ok[dup + 1]], dup + 1, dup)
        keep = np.ones(ok.size, dtype=bool)
        keep[loser] = False
        ok, jo = ok[keep], jo[keep]
        dup = np.flatnonzero(jo[1:] == jo[:-1])
    out[ok] = jo
    return out


def _align_runs(
    search: _Search, src: np.ndarray, run: np.ndarray, kind: ClockKind
) -> tuple[ClockModel, np.ndarray]:
    """Align one run on its own, then each other run seeded by it, then fit all jointly.

    The anchor is the run with most onsets that matches at least ``min_matched`` of them on
    its own (a run whose pulses were not recorded can only match by chance).
    """
    runs, counts = np.unique(run, return_counts=True)
    order = [int(k) for k in runs[np.argsort(-counts, kind="stable")]]
    match = np.full(src.size, -1, dtype=np.int64)
    tried: list[tuple[int, ClockModel, np.ndarray]] = []
    first_error: SyncError | None = None
    for k in order:
        try:
            clock_k, match_k = _align_run(search, src[run == k], kind, None)
        except SyncError as exc:
            first_error = first_error or _in_run(exc, search, k)
            continue
        tried.append((k, clock_k, match_k))
        if np.count_nonzero(match_k >= 0) >= search.min_matched:
            break
    if not tried:
        assert first_error is not None
        raise first_error
    anchor, anchor_clock, anchor_match = max(tried, key=lambda t: int(np.count_nonzero(t[2] >= 0)))
    match[run == anchor] = anchor_match
    order.remove(anchor)
    for k in order:
        rows = run == k
        seed = (anchor_clock, search.window_s(anchor, k))
        try:
            _, match[rows] = _align_run(search, src[rows], kind, seed)
        except SyncError as exc:
            raise _in_run(exc, search, k) from None
    if not search.restarts:
        return anchor_clock, match
    # one Bpod crystal: shared drift, one offset per run
    clock = _refit(search, src, match, anchor_clock, kind, search.steps)
    return _finalise(search, src, clock, match, kind, search.steps)


def _align_run(
    search: _Search,
    src: np.ndarray,
    kind: ClockKind,
    seed: tuple[ClockModel, float] | None,
) -> tuple[ClockModel, np.ndarray]:
    """Candidates, growth, an unambiguous choice and the final matching of one run."""
    order = np.argsort(src, kind="stable")
    if np.any(order != np.arange(src.size)):
        clock, sorted_match = _align_run(search, src[order], kind, seed)
        match = np.empty_like(sorted_match)
        match[order] = sorted_match
        return clock, match
    # from here on the onsets are sorted: growth windows are found by bisection
    tol = search.tolerance_s
    candidates = _candidates(search, src, seed)
    if seed is not None and (not candidates or candidates[0].score < 0.5):
        raise SyncError(
            f"none of its {src.size} sync onsets has a TTL pulse within ±{seed[1]:g} s of where "
            "the Bpod Info start time places it, so its clock offset cannot be fitted",
            hint="check that the TTL recording covers this Bpod file and that its trials emit "
            "the sync pulse, or process the file as a separate session",
        )
    needed = 1 if seed is not None else min(2, search.min_matched)
    if not candidates or candidates[0].score < needed - 0.5:
        best = int(np.ceil(candidates[0].score)) if candidates else 0
        raise _too_few_error(
            best, search.min_matched, src.size, search.pulses.size, tol, "bootstrap"
        )
    strong = [c for c in candidates if c.score >= 0.5 * candidates[0].score]
    grown = [_grow(search, src, c, kind) for c in strong[:_MAX_CANDIDATES]]
    grown += _shifted(search, src, kind, grown, seed)
    # any offset inside a seeded window is a plausible placement; elsewhere a rival must have
    # as many matches as a real alignment needs
    viable = 1 if seed is not None else max(2, search.min_matched)
    chosen = _choose(grown, viable)
    log.debug(
        "clock offset %.6f s chosen from %d candidates (%d of %d evaluated onsets matched)",
        chosen.clock.offset_s,
        len(grown),
        chosen.n,
        chosen.rows.size,
    )
    return _finalise(search, src, chosen.clock, chosen.match, kind, None)


def _candidates(
    search: _Search, src: np.ndarray, seed: tuple[ClockModel, float] | None
) -> list[_Candidate]:
    """Distinct offsets proposed by (onset, pulse) pairs, strongest first."""
    pulses, tol = search.pulses, search.tolerance_s
    order = np.argsort(src, kind="stable")
    boot_src = src[order[:_BOOT_SYNCS]]
    score_src = src[order[:_SCORE_SYNCS]]
    if seed is None:
        offset, anchor, score = _block_offsets(boot_src, score_src, pulses, tol, from_end=False)
        if score.max() < 0.5 * score_src.size:
            # No pulse for the first onsets (the DAQ or the sync cable started late): the last
            # onsets against the last pulses propose the offset instead.
            end_boot = src[order[-_BOOT_SYNCS:]]
            end_score = src[order[-_SCORE_SYNCS:]]
            end = _block_offsets(end_boot, end_score, pulses, tol, from_end=True)
            offset, anchor, score = (
                np.concatenate(pair) for pair in zip((offset, anchor, score), end, strict=True)
            )
    else:
        # restarted run: pulses within the placement uncertainty of the seed's prediction
        clock, window = seed
        pred = clock(boot_src)
        lo = np.searchsorted(pulses, pred - window - tol)
        hi = np.searchsorted(pulses, pred + window + tol, side="right")
        n = hi - lo
        pulse = np.repeat(lo, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        anchor = np.repeat(boot_src, n)
        offset = pulses[pulse] - anchor
        score = _scores(offset, score_src, pulses, tol)
    # the same alignment anchored at different onsets differs by the drift between them
    same_s = max(2.0 * tol, _MAX_DRIFT * float(np.ptp(boot_src)))
    picked: list[_Candidate] = []
    for i in np.argsort(-score, kind="stable"):
        if len(picked) == _MAX_CANDIDATES:
            break
        if all(abs(offset[i] - c.offset_s) > same_s for c in picked):
            picked.append(_Candidate(float(offset[i]), float(anchor[i]), float(score[i])))
    return picked


def _block_offsets(
    boot_src: np.ndarray, score_src: np.ndarray, pulses: np.ndarray, tol: float, *, from_end: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets pairing ``boot_src`` onsets with blocks of pulses from one end of the recording.

    Blocks of ``_BOOT_PULSES`` pulses, from the first (or last) pulse inwards, until one block
    proposes an offset that matches half of ``score_src``: many pulses may precede the first
    trial (or follow the last). Returns ``(offset_s, anchor_s, score)``, each ``(n,) float64``.
    """
    offsets, anchors, scores = [], [], []
    for first in range(0, min(pulses.size, _BOOT_PULSES * _BOOT_BLOCKS), _BOOT_PULSES):
        if from_end:
            block = pulses[max(pulses.size - first - _BOOT_PULSES, 0) : pulses.size - first]
        else:
            block = pulses[first : first + _BOOT_PULSES]
        offsets.append((block[None, :] - boot_src[:, None]).ravel())
        anchors.append(np.repeat(boot_src, block.size))
        scores.append(_scores(offsets[-1], score_src, pulses, tol))
        if scores[-1].max() >= 0.5 * score_src.size:
            break
    return np.concatenate(offsets), np.concatenate(anchors), np.concatenate(scores)


def _scores(
    offsets: np.ndarray, score_src: np.ndarray, pulses: np.ndarray, tol: float
) -> np.ndarray:
    """Onsets of ``score_src`` within ``tol`` of a pulse under each offset; ties: the tighter."""
    _, dist = _nearest((score_src[None, :] + offsets[:, None]).ravel(), pulses)
    dist = dist.reshape(offsets.size, score_src.size)
    within = dist <= tol
    closeness = np.where(within, dist, 0.0).sum(axis=1)
    return within.sum(axis=1) - 0.5 * closeness / (tol * score_src.size)


def _grow(search: _Search, src: np.ndarray, candidate: _Candidate, kind: ClockKind) -> _Grown:
    """Extend matching outwards from the candidate's anchor, refitting as the window grows.

    ``src`` must be sorted.
    The last step evaluates a spread subsample of at most ``_GROW_SAMPLE`` onsets (the same
    rows for every candidate), so that candidates are compared on equal terms and cheaply.
    """
    tol, anchor = search.tolerance_s, candidate.anchor_s
    clock = ClockModel.from_offset_drift(candidate.offset_s)
    span = float(max(anchor - src[0], src[-1] - anchor))
    window = tol / (2 * _MAX_DRIFT)
    while True:
        last = window >= span
        lo, hi = (0, src.size) if last else np.searchsorted(src, [anchor - window, anchor + window])
        # a spread subsample defines the model as well as every onset would
        sel = np.arange(lo, hi, max(-(-(hi - lo) // _GROW_SAMPLE), 1))
        window_src = src[sel]
        match = _match(clock(window_src), search.pulses, tol)
        clock = _refit(search, window_src, match, clock, kind, None)
        if last:
            full = np.full(src.size, -1, dtype=np.int64)
            full[sel] = match
            ok = match >= 0
            residuals = clock(window_src[ok]) - search.pulses[match[ok]]
            return _Grown(clock, full, sel, residuals)
        # a linear fit over [-W, W] extrapolates to 4W far within tolerance; a piecewise model
        # only trusts its end segment
        window = 4 * window if kind == "linear" else min(2 * window, window + search.segment_s)


def _shifted(
    search: _Search,
    src: np.ndarray,
    kind: ClockKind,
    grown: list[_Grown],
    seed: tuple[ClockModel, float] | None,
) -> list[_Grown]:
    """The cheapest candidate's alignment shifted by whole trials, searched for a better one.

    With near-periodic trials every shift by k pulses matches almost as well as the truth, so
    the bootstrap may start anywhere. When a shift by one trial matches at least half as many
    onsets, shifts of ±1, ±2, ±4, ... trials are tried around the cheapest alignment until none
    is cheaper. The shifts by one trial around the end point are always returned: they are the
    closest rivals :func:`_choose` must beat.
    """
    pulses = search.pulses
    start = grown[int(np.argmin(_costs(grown)))]
    matched = np.flatnonzero(start.match >= 0)
    if not matched.size:
        return []
    row = int(matched[matched.size // 2])
    pulse = int(start.match[row])
    evaluated: dict[int, _Grown] = {0: start}

    def at(d: int, force: bool = False) -> None:
        # shifted by d: this pulse belongs to the onset d rows earlier (onsets are never lost,
        # pulses may be, so shifting on the onset side reaches every shift)
        i = row - d
        if d in evaluated or not 0 <= i < src.size:
            return
        if len(evaluated) > _MAX_SHIFTS and not force:
            return
        offset = float(pulses[pulse] - src[i])
        if seed is not None and abs(offset - float(seed[0].delta(src[i]))) > seed[1] + (
            search.tolerance_s
        ):
            return  # outside the placement the seed allows
        evaluated[d] = _grow(search, src, _Candidate(offset, float(src[i]), 0.0), kind)

    at(1, force=True)
    at(-1, force=True)
    near = [evaluated[d].n for d in (1, -1) if d in evaluated]
    here = 0
    if near and max(near) >= 0.5 * start.n:  # (near-)periodic: walk to the cheapest shift
        while True:
            for power in range(int(np.log2(src.size)) + 1):
                at(here + 2**power)
                at(here - 2**power)
            keys = list(evaluated)
            cheapest = keys[int(np.argmin(_costs([evaluated[d] for d in keys])))]
            if cheapest == here:
                break
            here = cheapest
        at(here + 1, force=True)
        at(here - 1, force=True)
    return [g for d, g in evaluated.items() if d != 0]


def _costs(grown: Sequence[_Grown]) -> np.ndarray:
    """Cost of each candidate on its evaluated onsets, on the residual scale of the best-matched.

    ``sum(min(r² / s², T)) + T * unmatched``: a residual of ``sqrt(T)`` scales costs as much as
    an onset without a pulse.
    """
    ref = max(grown, key=lambda g: g.n)
    scale2 = max(float(np.mean(ref.residuals_s**2)) if ref.n else 0.0, _RESIDUAL_FLOOR_S**2)
    return np.array(
        [
            float(np.minimum(g.residuals_s**2 / scale2, _UNMATCHED_COST).sum())
            + (g.rows.size - g.n) * _UNMATCHED_COST
            for g in grown
        ]
    )


def _choose(grown: list[_Grown], viable: int) -> _Grown:
    """The cheapest grown candidate, or a SyncError when a rival explains the pulses as well."""
    distinct: list[_Grown] = []
    for g in sorted(grown, key=lambda g: -g.n):
        if not any(_same_alignment(g, d) for d in distinct):
            distinct.append(g)
    costs = _costs(distinct)
    best = int(np.argmin(costs))
    for i, g in enumerate(distinct):
        if i != best and g.n >= viable and costs[i] - costs[best] < _AMBIGUITY_MARGIN:
            raise _ambiguous_error(distinct[best], g)
    return distinct[best]


def _same_alignment(a: _Grown, b: _Grown) -> bool:
    """Two candidates that converged to (mostly) the same onset-to-pulse pairs."""
    agree = int(np.count_nonzero((a.match >= 0) & (a.match == b.match)))
    return agree > 0 and agree >= 0.5 * min(a.n, b.n)


def _finalise(
    search: _Search,
    src: np.ndarray,
    clock: ClockModel,
    match: np.ndarray,
    kind: ClockKind,
    steps: np.ndarray | None,
) -> tuple[ClockModel, np.ndarray]:
    """Re-match every onset through the model and refit until the matches are stable."""
    for _ in range(_MAX_FINAL_ITER):
        new = _match(clock(src), search.pulses, search.tolerance_s)
        if np.array_equal(new, match):
            break
        clock = _refit(search, src, new, clock, kind, steps)
        match = new
    return clock, match


def _refit(
    search: _Search,
    src: np.ndarray,
    match: np.ndarray,
    clock: ClockModel,
    kind: ClockKind,
    steps: np.ndarray | None,
) -> ClockModel:
    """The model fitted robustly on the matched pairs (``clock`` when too few to fit).

    Pairs the fit rejects are not matches: they are set to -1 in ``match``, in place.
    """
    ok = np.flatnonzero(match >= 0)
    # with steps, even one pair places its run (and marks the others unplaced)
    if ok.size < (1 if steps is not None else 2):
        return clock
    clock = fit_clock(
        src[ok],
        search.pulses[match[ok]],
        model=kind,
        segment_s=search.segment_s,
        outlier_threshold_s=search.tolerance_s,
        step_at_s=steps,
    )
    match[ok[~clock.inlier]] = -1
    return clock


def _check_drift(
    search: _Search,
    src: np.ndarray,
    run: np.ndarray,
    clock: ClockModel,
    match: np.ndarray,
    model: ModelChoice,
) -> tuple[ClockModel, np.ndarray, str | None]:
    """Keep the linear alignment unless the drift is shown not to be constant.

    A piecewise fit of the linear matches is cheap; only when it departs from the linear model,
    or few onsets matched, is a full piecewise alignment run and compared.
    """
    steps = search.steps if search.restarts else None
    ok = match >= 0
    x = src[ok]
    if x.size < 4 or np.ptp(x) <= search.segment_s:
        return clock, match, None  # one segment: piecewise is linear
    # a spread subsample shows a departure of 0.5 ms as well as every pair would
    sample = np.flatnonzero(ok)[:: max(-(-x.size // _CHECK_SAMPLE), 1)]
    x = src[sample]
    quick = fit_clock(
        x,
        search.pulses[match[sample]],
        model="piecewise",
        segment_s=search.segment_s,
        outlier_threshold_s=search.tolerance_s,
        step_at_s=steps,
    )
    departs = np.max(np.abs(quick.delta(x) - clock.delta(x))) > _drift_limit_s(quick)
    if not departs and np.count_nonzero(ok) >= _DRIFT_CHECK_FRACTION * src.size:
        return clock, match, None
    try:
        pw_clock, pw_match = _align_runs(search, src, run, "piecewise")
    except SyncError:
        return clock, match, None  # the check cannot do better than the linear alignment
    either = ok | (pw_match >= 0)
    gap_s = float(np.max(np.abs(pw_clock(src[either]) - clock(src[either]))))
    n_linear, n_piecewise = int(ok.sum()), int(np.count_nonzero(pw_match >= 0))
    gained = n_piecewise - n_linear >= max(2, 0.005 * src.size)
    if not (gained or gap_s > _drift_limit_s(pw_clock)):
        return clock, match, None
    finding = (
        f"the Bpod clock drift is not constant: a linear clock model matches {n_linear} of "
        f"{src.size} sync onsets and differs by up to {gap_s * 1e3:.2f} ms from a "
        f"piecewise-linear model (segments of {search.segment_s:g} s) that matches {n_piecewise}"
    )
    if model == "linear":
        raise SyncError(
            finding,
            hint="set synchronization.clock_model = 'auto' (or 'piecewise') to follow the drift",
        )
    return pw_clock, pw_match, f"{finding}; the piecewise-linear model is used"


def _drift_limit_s(clock: ClockModel) -> float:
    """Model difference that counts as a drift change: above 0.5 ms and above the pulse noise."""
    return max(_DRIFT_CHANGE_LIMIT_S, 6.0 * clock.rms_s)


def _check_runs_placed(
    search: _Search, clock: ClockModel, times_s: np.ndarray, trial_idx: np.ndarray
) -> None:
    """Raise when trials lie in a restarted part whose offset no pulse fixed."""
    if not search.restarts:
        return
    finite = np.flatnonzero(np.isfinite(times_s))
    unplaced = finite[~clock.run_fitted[clock.run_of(times_s[finite])]]
    if not unplaced.size:
        return
    run = int(clock.run_of(times_s[unplaced[0]]))
    rows = unplaced[clock.run_of(times_s[unplaced]) == run]
    restart = search.restarts[run - 1] if run > 0 else None
    where = (
        f"after the Bpod clock restart of {restart.source} (Bpod time {restart.bpod_time_s:.3f} s)"
        if restart is not None
        else f"before the first Bpod clock restart ({search.restarts[0].source})"
    )
    raise SyncError(
        f"{rows.size} trials {where} have no sync onset matched to a TTL pulse (trials "
        f"{_listed(trial_idx[rows])}), so that part of the session can be placed only to within "
        f"±{search.window_s(0, max(run, 1)):g} s by the Bpod Info start times",
        hint="check that the TTL recording covers this Bpod file and that its trials emit the "
        "sync pulse, or process the file as a separate session",
    )


def _restart_notes(search: _Search, clock: ClockModel) -> tuple[str, ...]:
    return tuple(
        f"{restart.source}: clock restart placed {step * 1e3:+.3f} ms from its Info start time"
        for restart, step in zip(search.restarts, clock.step_s, strict=False)
    )


def _low_matched_fraction(n_matched: int, n_visited: int) -> str | None:
    if n_matched >= _LOW_MATCHED_FRACTION * n_visited:
        return None
    return (
        f"only {n_matched} of {n_visited} Bpod sync onsets matched a TTL pulse "
        f"({100.0 * n_matched / n_visited:.0f}%, expected at least "
        f"{100 * _LOW_MATCHED_FRACTION:.0f}%); the other trials are placed by the clock model "
        "without a pulse of their own"
    )


_LOW_MATCHED_HINT = (
    "check that the TTL channel recorded the whole Bpod session and that sync_signal in "
    "[[bpod.sync.trial_types]] is the state that emits the pulse; set "
    "synchronization.unaligned_trial_policy = 'flag' to accept the session with a warning"
)


def _labels(visited: np.ndarray, matched: np.ndarray) -> np.ndarray:
    label = np.full(visited.size, "unaligned", dtype="<U12")
    rows = np.flatnonzero(matched)
    label[visited] = "extrapolated"
    if rows.size:
        inside = np.zeros(visited.size, dtype=bool)
        inside[rows[0] : rows[-1] + 1] = True
        label[visited & inside] = "interpolated"
    label[matched] = "matched"
    return label


def _listed(values: np.ndarray, limit: int = 20) -> str:
    shown = ", ".join(str(int(v)) for v in values[:limit])
    return shown + (f" and {values.size - limit} more" if values.size > limit else "")


def _in_run(exc: SyncError, search: _Search, run: int) -> SyncError:
    """``exc`` with the restarted part it happened in named (unchanged without restarts)."""
    if run == 0 or not search.restarts:
        return exc
    restart = search.restarts[run - 1]
    return SyncError(
        f"Bpod part after the clock restart of {restart.source}: {exc.message}",
        hint=exc.hint,
    )


def _too_few_error(
    n_matched: int, min_matched: int, n_visited: int, n_pulses: int, tol: float, stage: str
) -> SyncError:
    where = f" ({stage})" if stage else ""
    return SyncError(
        f"only {n_matched} Bpod sync onsets matched a TTL pulse within {tol * 1e3:g} ms"
        f"{where}; at least {min_matched} are needed ({n_visited} trials with a sync onset, "
        f"{n_pulses} pulses)",
        hint=(
            "check that [[bpod.sync.trial_types]] sync_ttl names the TTL channel wired to "
            "Bpod, that sync_signal is the state whose onset emits the pulse, and consider a "
            "larger synchronization.trial_match_tolerance_s"
        ),
    )


def _ambiguous_error(best: _Grown, rival: _Grown) -> SyncError:
    def rms_ms(g: _Grown) -> float:
        return float(np.sqrt(np.mean(g.residuals_s**2))) * 1e3 if g.n else float("nan")

    return SyncError(
        f"the Bpod clock offset is ambiguous: offsets {best.clock.offset_s:.6f} s "
        f"({best.n} of {best.rows.size} sync onsets matched, residual rms {rms_ms(best):.3f} ms) "
        f"and {rival.clock.offset_s:.6f} s ({rival.n} matched, rms {rms_ms(rival):.3f} ms) fit "
        "the pulses equally well: the intervals between sync pulses are too regular to tell "
        "which pulse belongs to which trial",
        hint=(
            "use a sync signal whose inter-trial intervals vary (e.g. a jittered ITI), record "
            "the sync channel without missing or extra pulses, or make sure no pulses from "
            "other runs are on it"
        ),
    )


def _unaligned_error(trials: np.ndarray, n_trials: int) -> SyncError:
    return SyncError(
        f"{trials.size} of {n_trials} trials have no sync onset (sync state not visited): "
        f"trials {_listed(trials)}",
        hint=(
            "set synchronization.unaligned_trial_policy = 'flag' to map them through the "
            "fitted clock and label them 'unaligned', or check sync_signal in "
            "[[bpod.sync.trial_types]]"
        ),
    )


def _describe(result: TrialAlignment) -> tuple[str, ...]:
    names = ("matched", "interpolated", "extrapolated", "unaligned")
    counts = {name: int(np.count_nonzero(result.label == name)) for name in names}
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
