"""Pulse cleaning, and frames onto pulses without pts or a frame counter.

The grid period, spurious pulses (step 2 in :mod:`w2t_bkin.sync.frames`), frame slots from the
counts alone (lost pulses told from camera drops by the empty pulse slots), frame times from
the pulses with interpolation where a pulse is missing (step 6), and the gaps that dropped
frames leave.
"""

from __future__ import annotations

import numpy as np

from w2t_bkin.errors import SyncError, warn_data_quality
from w2t_bkin.sync.frame_grid import _Slots, _Who, _within_chunk

#: A pulse this far (in periods) from the grid of its neighbours is off-grid.
_OFF_GRID = 0.2
#: Pulses on each side that define the local grid phase.
_PHASE_HALF_WINDOW = 8
#: Pulse intervals longer than this many periods may restart the grid phase.
_PAUSE_PERIODS = 4.0
#: Pulses used at each end to extrapolate frames beyond the first/last pulse.
_EXTRAPOLATION_POINTS = 10


def _period(measured: float, nominal_rate_hz: float | None, who: _Who) -> tuple[float, list[str]]:
    """The grid period: nominal unless the median pulse interval ``measured`` is 5% off it."""
    if nominal_rate_hz is None:
        return measured, []
    nominal = 1.0 / nominal_rate_hz
    if abs(measured / nominal - 1.0) > 0.05:
        note = (
            f"{who}: median pulse interval {measured * 1e3:.4g} ms differs from the nominal rate "
            f"{nominal_rate_hz:g} Hz ({nominal * 1e3:.4g} ms) by more than 5%; using the "
            "measured interval"
        )
        warn_data_quality(note, stacklevel=3)
        return measured, [note]
    return nominal, []


def _phase_dev(times_s: np.ndarray, period_s: float) -> np.ndarray:
    """Distance (in periods, 0..0.5) of each pulse from the local frame grid.

    The grid phase at each pulse is the circular mean of the phases of the pulses around it
    (``_PHASE_HALF_WINDOW`` on each side), so slow drift and a few glitches do not move it.
    Windows do not cross long pauses, where a restarted camera may take a new phase.
    """
    cycles = (times_s - times_s[0]) / period_s
    z = np.exp(2j * np.pi * cycles)
    n = times_s.size
    pause = np.flatnonzero(np.diff(times_s) > _PAUSE_PERIODS * period_s) + 1
    seg_start = np.zeros(n, dtype=np.int64)
    seg_start[pause] = pause
    seg_start = np.maximum.accumulate(seg_start)
    seg_end = np.full(n, n, dtype=np.int64)
    seg_end[pause - 1] = pause
    seg_end = np.minimum.accumulate(seg_end[::-1])[::-1]
    i = np.arange(n)
    lo = np.maximum(i - _PHASE_HALF_WINDOW, seg_start)
    hi = np.minimum(i + _PHASE_HALF_WINDOW + 1, seg_end)
    csum = np.concatenate([[0j], np.cumsum(z)])
    local = csum[hi] - csum[lo]
    diff = np.angle(z * np.conj(local)) / (2 * np.pi)
    return np.abs(diff)


def _phase_dev_from(times_s: np.ndarray, period_s: float, reference: np.ndarray) -> np.ndarray:
    """Distance (in periods, 0..0.5) of each pulse from the grid of the ``reference`` pulses.

    As :func:`_phase_dev`, but the local grid phase at each pulse is the circular mean over the
    ``_PHASE_HALF_WINDOW`` reference pulses on each side of it (``reference``: ``(n,) bool``,
    at least one True), so pulses left out of the reference cannot pull the grid. Windows are
    counted in reference pulses and may cross pauses.
    """
    z = np.exp(2j * np.pi * (times_s - times_s[0]) / period_s)
    ref_idx = np.flatnonzero(reference)
    csum = np.concatenate([[0j], np.cumsum(z[ref_idx])])
    before = np.searchsorted(ref_idx, np.arange(times_s.size))  # reference pulses before each
    lo = np.maximum(before - _PHASE_HALF_WINDOW, 0)
    hi = np.minimum(before + _PHASE_HALF_WINDOW + 1, ref_idx.size)
    local = csum[hi] - csum[lo]
    return np.abs(np.angle(z * np.conj(local)) / (2 * np.pi))


def _find_spurious(t: np.ndarray, period: float, factor: float) -> np.ndarray:
    """``(n,) bool``: pulses that do not belong to the frame grid.

    First pulses off the local grid by more than ``_OFF_GRID`` periods; then, of two pulses
    closer than ``factor`` periods, the one further from the grid, until no two are that close
    (a burst of k glitches, e.g. contact bounce, takes k passes: one pulse per burst each).
    """
    removed = np.zeros(t.size, dtype=bool)
    for _ in range(3):  # the grid estimate gets cleaner once gross glitches are gone
        idx = np.flatnonzero(~removed)
        off = _phase_dev(t[idx], period) > _OFF_GRID
        if not off.any():
            break
        removed[idx[off]] = True
    while True:  # every pass removes at least one pulse, so it ends
        idx = np.flatnonzero(~removed)
        tk = t[idx]
        short = np.flatnonzero(np.diff(tk) < factor * period)
        if short.size == 0:
            break
        lead = np.ones(short.size, dtype=bool)
        lead[1:] = np.diff(short) > 1  # one pair per run of adjacent short intervals per pass
        a = short[lead]
        # The grid from the pulses in no short interval: in a burst, the glitches around a
        # real pulse would otherwise outnumber the frame pulses that define the grid.
        clean = np.ones(tk.size, dtype=bool)
        clean[short] = clean[short + 1] = False
        dev = _phase_dev_from(tk, period, clean) if clean.any() else _phase_dev(tk, period)
        drop = np.where(dev[a] > dev[a + 1], a, a + 1)
        removed[idx[drop]] = True
    return removed


def _slots_from_counts(n_frames: int, pulse_slot: np.ndarray) -> _Slots:
    """Frame slots from the counts alone (no informative pts)."""
    n_kept = pulse_slot.size
    if n_kept == n_frames:
        return _Slots(pulse_slot.copy(), "one_to_one")
    if n_kept > n_frames:
        return _Slots(
            pulse_slot[:n_frames].copy(),
            "",
            f"{n_kept - n_frames} more pulses than frames after removing spurious pulses, and "
            "nothing says which pulses have no saved frame",
            fatal=True,
        )
    holes = np.setdiff1d(np.arange(pulse_slot[-1] + 1), pulse_slot)
    n_lost = n_frames - n_kept
    if holes.size == n_lost:
        return _Slots(np.arange(pulse_slot[-1] + 1, dtype=np.int64), "gaps")
    extra = max(n_lost - holes.size, 0)
    tail = pulse_slot[-1] + 1 + np.arange(extra)
    frame_slot = np.union1d(np.union1d(pulse_slot, holes[:n_lost]), tail)
    return _Slots(
        frame_slot.astype(np.int64),
        "",
        f"{n_lost} more frames than pulses but {holes.size} empty pulse slots: cannot tell "
        "camera drops from lost pulses",
    )


def _assign(
    frame_slot: np.ndarray,
    pulse_slot: np.ndarray,
    kept: np.ndarray,
    kept_idx: np.ndarray,
    camera_time_s: np.ndarray | None,
    who: _Who,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = np.clip(np.searchsorted(pulse_slot, frame_slot), 0, pulse_slot.size - 1)
    has = pulse_slot[pos] == frame_slot
    if np.count_nonzero(has) < 2:
        raise SyncError(
            f"{who}: only {np.count_nonzero(has)} of {frame_slot.size} frames could be matched "
            "to a pulse",
            hint="check that the TTL channel belongs to this camera (camera ttl_id)",
        )
    times = np.full(frame_slot.size, np.nan)
    times[has] = kept[pos[has]]
    frame_pulse = np.where(has, kept_idx[pos], -1).astype(np.int64)
    if not has.all():
        x = camera_time_s if camera_time_s is not None else frame_slot.astype(np.float64)
        times[~has] = _interpolate(x, has, times)
    return times, has, frame_pulse


def _interpolate(x: np.ndarray, has: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Times of frames without a pulse from neighbouring pulses (linear in ``x``)."""
    xs, ts = x[has], times[has]
    xq = x[~has]
    out = np.interp(xq, xs, ts)
    n = min(_EXTRAPOLATION_POINTS, xs.size)
    for end, sel in ((slice(0, n), xq < xs[0]), (slice(xs.size - n, xs.size), xq > xs[-1])):
        if sel.any():
            # local line through the pulses nearest that end of the recording
            pivot = xs[end][0]
            slope, icpt = np.polyfit(xs[end] - pivot, ts[end], 1)
            out[sel] = icpt + slope * (xq[sel] - pivot)
    return out


def _drops(
    frame_slot: np.ndarray, chunks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dropped positions, the gaps inside chunks, and the gaps between chunks."""
    step = np.diff(frame_slot)
    gap = step > 1
    within = _within_chunk(chunks, frame_slot.size)
    after = np.flatnonzero(gap & within).astype(np.int64)
    per_gap = (step[after] - 1).astype(np.int64)
    chunk_after = np.flatnonzero(gap & ~within).astype(np.int64)
    chunk_periods = (step[chunk_after] - 1).astype(np.int64)
    total = int(per_gap.sum())
    # the would-be positions inside each gap, without a Python loop
    starts = frame_slot[after] + 1
    offsets = np.arange(total) - np.repeat(np.cumsum(per_gap) - per_gap, per_gap)
    dropped = (np.repeat(starts, per_gap) + offsets).astype(np.int64)
    return dropped, after, per_gap, chunk_after, chunk_periods
