"""Offset proposals and the matching of Bpod sync onsets to TTL pulses.

Steps 1-4 and 6 of :mod:`w2t_bkin.sync.trials`: candidate offsets from (onset, pulse) pairs,
growth over the session, the unambiguous choice among the grown candidates and their shifts by
whole trials, the final matching, and the check that the drift is constant.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from w2t_bkin.errors import SyncError
from w2t_bkin.sync.clock import ClockKind, ClockModel, fit_clock
from w2t_bkin.sync.trial_labels import _too_few_error
from w2t_bkin.sync.trial_restarts import ClockRestart, _in_run, _window_s

log = logging.getLogger(__name__)

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
#: Linear and piecewise models that differ by more than this on matched onsets: drift not constant.
_DRIFT_CHANGE_LIMIT_S = 0.5e-3
#: Most matched pairs the drift check fits (spread over the session).
_CHECK_SAMPLE = 32768
#: A matched fraction below this makes the linear model suspect enough to try a piecewise one.
_DRIFT_CHECK_FRACTION = 0.9


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
        return _window_s(self.restarts, run_a, run_b)


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
            first_error = first_error or _in_run(exc, search.restarts, k)
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
            raise _in_run(exc, search.restarts, k) from None
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
