"""Bpod trials onto the reference (DAQ) clock through per-trial sync pulses.

Each trial's sync state, when visited, emits one TTL pulse that the DAQ records. The Bpod clock
is offset from the DAQ clock by an unknown amount (Bpod may start minutes after the DAQ) and
drifts (tens of ppm). Pulses can be lost, spurious pulses occur (also before the first trial),
and trials may not visit their sync state.

Algorithm (no greedy pointer: one missing or extra pulse cannot shift later trials)
------------------------------------------------------------------------------------
1. Bootstrap, searching BOTH sides: every pair (first ``_BOOT_SYNCS`` sync onsets × first
   ``_BOOT_PULSES`` pulses) proposes an offset; each offset is scored by how many of the first
   ``_SCORE_SYNCS`` onsets land within ``tolerance_s`` of some pulse (``np.searchsorted``,
   vectorised over all candidates).
2. Grow: around the anchor of the best offset, onsets in a window are matched to their nearest
   pulse through the current clock model, the model is refitted on the matches, and the
   window grows (doubling; by at most ``segment_s`` for the piecewise model so that a drift
   change cannot outrun the extrapolation).
3. Final: all onsets are matched through the model, the model is refitted robustly (pairs off
   by more than ``tolerance_s`` are rejected) and both are repeated until stable. A pulse is
   given to at most one trial (the nearest prediction).

Every Bpod time (trial start/stop, states, events) maps through the same :class:`ClockModel`,
so no trial is ever left on the Bpod clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from w2t_bkin.errors import SyncError
from w2t_bkin.sync.clock import ClockKind, ClockModel, fit_clock

log = logging.getLogger(__name__)

TrialLabel = Literal["matched", "interpolated", "extrapolated", "unaligned"]

_BOOT_SYNCS = 16
_BOOT_PULSES = 128
_BOOT_BLOCKS = 16
_SCORE_SYNCS = 64
#: Largest drift assumed when choosing the first window (prediction error < tolerance / 2).
_MAX_DRIFT = 200e-6
_MAX_FINAL_ITER = 6
#: Most onsets matched per growth step before the final, session-wide step.
_GROW_SAMPLE = 8192


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
    model: ClockKind = "linear",
    segment_s: float = 300.0,
    unaligned_policy: Literal["flag", "fail"] = "flag",
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
    model, segment_s
        ``synchronization.clock_model`` and ``synchronization.piecewise_segment_s``.
    unaligned_policy
        ``synchronization.unaligned_trial_policy``: 'flag' labels trials without a sync
        onset ``unaligned``; 'fail' raises.

    Returns
    -------
    TrialAlignment

    Raises
    ------
    SyncError
        Fewer than ``min_matched`` matches, or unaligned trials under the 'fail' policy.
    """
    sync = np.asarray(bpod_sync_times_s, dtype=np.float64).ravel()
    trial_idx = _trial_numbers(bpod_trial_idx, sync.size)
    pulses, pulse_order = _sorted_pulses(pulse_times_s)
    visited = np.isfinite(sync)
    unaligned = np.flatnonzero(~visited).astype(np.int64)
    if unaligned.size and unaligned_policy == "fail":
        raise _unaligned_error(trial_idx[unaligned], sync.size)
    n_visited = int(visited.sum())
    if min(n_visited, pulses.size) < min_matched:
        raise _too_few_error(0, min_matched, n_visited, pulses.size, tolerance_s, "")

    rows = np.flatnonzero(visited)
    src = sync[rows]
    clock, anchor = _bootstrap(src, pulses, tolerance_s, min_matched, n_visited)
    clock, match = _grow(src, pulses, clock, anchor, tolerance_s, model, segment_s)
    clock, match = _finalise(src, pulses, clock, match, tolerance_s, model, segment_s)
    n_matched = int(np.count_nonzero(match >= 0))
    if n_matched < min_matched:
        raise _too_few_error(n_matched, min_matched, n_visited, pulses.size, tolerance_s, "")

    matched_pulse = np.full(sync.size, -1, dtype=np.int64)
    matched_pulse[rows] = match
    sync_ref = clock(sync)
    residuals = np.full(sync.size, np.nan)
    has = matched_pulse >= 0
    residuals[has] = sync_ref[has] - pulses[matched_pulse[has]]
    label = _labels(visited, has)
    used = np.zeros(pulses.size, dtype=bool)
    used[matched_pulse[has]] = True
    # report pulse indices in the caller's order
    matched_pulse[has] = pulse_order[matched_pulse[has]]
    spurious = np.sort(pulse_order[~used]).astype(np.int64)
    missing = np.flatnonzero(visited & ~has).astype(np.int64)
    starts = None
    if trial_start_s is not None:
        starts = clock(np.asarray(trial_start_s, dtype=np.float64).ravel())
    result = TrialAlignment(
        clock=clock,
        bpod_trial_idx=trial_idx,
        bpod_sync_times_s=sync,
        sync_times_s=sync_ref,
        trial_start_times_s=starts,
        matched_pulse_idx=matched_pulse,
        label=label,
        residuals_s=residuals,
        spurious_pulse_idx=spurious,
        missing_pulse_trial_idx=missing,
        unaligned_trial_idx=unaligned,
        n_pulses=int(pulses.size),
        tolerance_s=float(tolerance_s),
        messages=(),
    )
    messages = _describe(result)
    for message in messages:
        log.info("%s", message)
    return replace(result, messages=messages)


# -- steps --------------------------------------------------------------------------------------


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


def _bootstrap(
    src: np.ndarray, pulses: np.ndarray, tolerance_s: float, min_matched: int, n_visited: int
) -> tuple[ClockModel, float]:
    """Offset-only model from the best (onset, pulse) pair, and the anchor onset."""
    order = np.argsort(src, kind="stable")
    boot_src = src[order[:_BOOT_SYNCS]]
    score_src = src[order[:_SCORE_SYNCS]]
    best_score, best_offset, best_anchor = -1.0, 0.0, 0.0
    # pulse blocks from the start: many pulses may precede the first trial (other recordings)
    for first in range(0, min(pulses.size, _BOOT_PULSES * _BOOT_BLOCKS), _BOOT_PULSES):
        block = pulses[first : first + _BOOT_PULSES]
        cand = (block[None, :] - boot_src[:, None]).ravel()
        anchor = np.repeat(boot_src, block.size)
        _, dist = _nearest((score_src[None, :] + cand[:, None]).ravel(), pulses)
        within = dist.reshape(cand.size, score_src.size) <= tolerance_s
        closeness = np.where(within, dist.reshape(within.shape), 0.0).sum(axis=1)
        # ties (several anchors of one alignment): prefer the tighter one
        score = within.sum(axis=1) - 0.5 * closeness / (tolerance_s * score_src.size)
        i = int(np.argmax(score))
        if score[i] > best_score:
            best_score, best_offset, best_anchor = float(score[i]), float(cand[i]), float(anchor[i])
        if best_score >= 0.5 * score_src.size:
            break
    n_best = int(np.ceil(best_score))
    if n_best < min(2, min_matched):
        raise _too_few_error(n_best, min_matched, n_visited, pulses.size, tolerance_s, "bootstrap")
    log.debug("bootstrap offset %.6f s, %d of %d onsets", best_offset, n_best, score_src.size)
    return ClockModel.from_offset_drift(best_offset), best_anchor


def _grow(
    src: np.ndarray,
    pulses: np.ndarray,
    clock: ClockModel,
    anchor: float,
    tolerance_s: float,
    model: ClockKind,
    segment_s: float,
) -> tuple[ClockModel, np.ndarray]:
    """Extend matching outwards from the anchor, refitting the model as the window grows.

    Returns the model fitted on the last (session-wide) matches and those matches, with the
    pairs the fit rejected removed.
    """
    span = float(max(anchor - src.min(), src.max() - anchor))
    window = tolerance_s / (2 * _MAX_DRIFT)
    while True:
        sel = np.flatnonzero(np.abs(src - anchor) <= window)
        if window < span and sel.size > _GROW_SAMPLE:
            # a spread subsample defines the model as well as every onset would
            sel = sel[:: -(-sel.size // _GROW_SAMPLE)]
        window_src = src[sel]
        match = _match(clock(window_src), pulses, tolerance_s)
        clock = _refit(window_src, pulses, match, clock, tolerance_s, model, segment_s)
        if window >= span:
            full = np.full(src.size, -1, dtype=np.int64)
            full[sel] = match
            return clock, full
        # a linear fit over [-W, W] extrapolates to 4W far within tolerance; a piecewise model
        # only trusts its end segment
        window = 4 * window if model == "linear" else min(2 * window, window + segment_s)


def _finalise(
    src: np.ndarray,
    pulses: np.ndarray,
    clock: ClockModel,
    match: np.ndarray,
    tolerance_s: float,
    model: ClockKind,
    segment_s: float,
) -> tuple[ClockModel, np.ndarray]:
    """Re-match every onset through the model and refit until the matches are stable."""
    for _ in range(_MAX_FINAL_ITER):
        new = _match(clock(src), pulses, tolerance_s)
        if np.array_equal(new, match):
            break
        clock = _refit(src, pulses, new, clock, tolerance_s, model, segment_s)
        match = new
    return clock, match


def _refit(
    src: np.ndarray,
    pulses: np.ndarray,
    match: np.ndarray,
    clock: ClockModel,
    tolerance_s: float,
    model: ClockKind,
    segment_s: float,
) -> ClockModel:
    """The model fitted robustly on the matched pairs (``clock`` when fewer than two).

    Pairs the fit rejects are not matches: they are set to -1 in ``match``, in place.
    """
    ok = np.flatnonzero(match >= 0)
    if ok.size < 2:
        return clock
    clock = fit_clock(
        src[ok],
        pulses[match[ok]],
        model=model,
        segment_s=segment_s,
        outlier_threshold_s=tolerance_s,
    )
    match[ok[~clock.inlier]] = -1
    return clock


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


def _unaligned_error(trials: np.ndarray, n_trials: int) -> SyncError:
    shown = ", ".join(str(int(t)) for t in trials[:20])
    more = f" and {trials.size - 20} more" if trials.size > 20 else ""
    return SyncError(
        f"{trials.size} of {n_trials} trials have no sync onset (sync state not visited): "
        f"trials {shown}{more}",
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
    out = [
        f"{result.n_matched} of {result.n_trials} trials matched a pulse "
        f"({', '.join(f'{v} {k}' for k, v in counts.items())}); Bpod clock offset "
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
