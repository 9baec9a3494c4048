"""Per-frame timestamps of a camera from its TTL pulses on the reference (DAQ) clock.

Model
-----
Each frame the camera ACQUIRES emits one pulse that the DAQ records. Three faults are told apart:

(a) Camera drops (missed triggers, frames never acquired) leave a gap in BOTH the pulses and
    the video. Frame and pulse counts stay equal and the timestamps stay one-to-one; each
    inter-pulse gap of ``k`` periods is reported as ``k - 1`` dropped frames.
(b) Lost pulses (frame saved, pulse not recorded) leave a gap in the pulses only, so the video
    has more frames than there are pulses.
(c) Spurious pulses (glitches) fall off the frame grid: a pulse closer than
    ``spurious_factor * period`` to its neighbour, or one between two pulses that are a whole
    number of periods apart while it is not. They are removed first.

Algorithm
---------
1. The period is ``1 / nominal_rate_hz`` or the median inter-pulse interval.
2. Spurious pulses are removed. For two pulses that are too close, the one that fits the grid
   of the surrounding pulses worse is removed.
3. Every remaining pulse gets a *slot* on the nominal trigger train: slot 0 for the first pulse,
   then each interval advances by ``round(interval / period)`` slots (one unless the interval is
   longer than ``gap_factor`` periods).
4. Every frame gets a slot too. With container timestamps (``frame_pts_s``, camera clock) the same
   rule is applied to them (camera drops show up in the pts, lost pulses do not), and the shift
   between frame slots and pulse slots is the one that overlaps most. Without pts: equal counts
   mean one-to-one; with fewer pulses than frames, if the empty pulse slots are exactly as many
   as the missing pulses they are all lost pulses; anything else is ambiguous and ``policy``
   decides ('fail' raises :class:`~w2t_bkin.errors.SyncError`, 'warn' and 'repair' fill the
   earliest empty slots with the extra frames and leave trailing pulses unassigned).
5. A frame whose slot holds a pulse takes the pulse time. Other frames are interpolated
   between neighbouring pulses: in pts when given, otherwise in slots (never from the nominal
   rate alone), and flagged ``frame_has_pulse = False``.

Frame times are continuous across video chunks because the DAQ records every pulse;
``chunk_starting_frame`` only translates reported indices to ``(chunk, frame in chunk)``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from w2t_bkin.errors import DataQualityWarning, SyncError
from w2t_bkin.sync.clock import ClockModel, fit_clock

log = logging.getLogger(__name__)

FramePolicy = Literal["fail", "warn", "repair"]

#: A pulse this far (in periods) from the grid of its neighbours is off-grid.
_OFF_GRID = 0.2
#: Candidate shifts between frame and pulse slots tried at each end of the recording.
_SHIFT_WINDOW = 32
_MAX_SPURIOUS_PASSES = 20
#: Pulses on each side that define the local grid phase.
_PHASE_HALF_WINDOW = 8
#: Pulse intervals longer than this many periods may restart the grid phase.
_PAUSE_PERIODS = 4.0
#: Pulses used at each end to extrapolate frames beyond the first/last pulse.
_EXTRAPOLATION_POINTS = 10


@dataclass(frozen=True, eq=False)
class FrameAlignment:
    """Timestamps of one camera's frames and what was found on the way.

    Attributes
    ----------
    frame_times_s
        ``(n_frames,) float64``: time of every saved frame on the reference clock.
    frame_has_pulse
        ``(n_frames,) bool``: False where the frame's pulse was lost and its time interpolated.
    frame_pulse_idx
        ``(n_frames,) int64``: index into the input pulses of each frame's pulse, -1 if none.
    frame_slot
        ``(n_frames,) int64``: position of each frame in the nominal trigger train (frame 0 at 0).
    dropped_frames
        ``(n_dropped,) int64``: positions in the nominal train of frames the camera never
        acquired (would-be frame positions, same numbering as ``frame_slot``).
    dropped_after_frame_idx
        ``(n_gaps,) int64``: frames followed by a camera drop.
    dropped_per_gap
        ``(n_gaps,) int64``: number of frames dropped after each of those frames.
    missing_pulse_frame_idx
        ``(n_lost,) int64``: saved frames whose pulse was lost.
    spurious_pulse_idx
        ``(n_spurious,) int64``: input pulse indices removed as spurious.
    unassigned_pulse_idx
        ``(n_unassigned,) int64``: on-grid pulses with no saved frame (e.g. triggers after the
        recording stopped).
    n_frames, n_pulses
        Saved frames and input pulses.
    period_s
        Frame period on the reference clock used for the grid.
    policy_applied
        How frames were assigned to pulses: ``"one_to_one"`` (counts agree), ``"pts"``
        (container timestamps), ``"gaps"`` (empty slots explain the missing pulses exactly),
        ``"warn"`` or ``"repair"`` (ambiguous; resolved by the heuristic of that policy).
    status
        ``"exact"`` every frame has its own pulse; ``"repaired"`` some frames were
        interpolated, or an ambiguous case was repaired; ``"mismatch"`` ambiguous case under
        the 'warn' policy.
    clock
        Camera clock → reference clock fitted on frames with a pulse (source: pts when given,
        else slot times at the nominal rate or the measured period). Its residuals are the
        pulse jitter; its drift is the camera's drift when pts or a nominal rate are known.
    messages
        Human-readable findings.
    chunk_starting_frame
        ``(n_chunks,) int64``: first frame of each video chunk (``[0]`` for one file).
    """

    frame_times_s: np.ndarray
    frame_has_pulse: np.ndarray
    frame_pulse_idx: np.ndarray
    frame_slot: np.ndarray
    dropped_frames: np.ndarray
    dropped_after_frame_idx: np.ndarray
    dropped_per_gap: np.ndarray
    missing_pulse_frame_idx: np.ndarray
    spurious_pulse_idx: np.ndarray
    unassigned_pulse_idx: np.ndarray
    n_frames: int
    n_pulses: int
    period_s: float
    policy_applied: str
    status: Literal["exact", "repaired", "mismatch"]
    clock: ClockModel
    messages: tuple[str, ...]
    chunk_starting_frame: np.ndarray

    @property
    def n_dropped(self) -> int:
        return int(self.dropped_frames.size)

    @property
    def gaps(self) -> np.ndarray:
        """Structured ``(n_gaps,)`` array: ``after_frame_idx``, ``n_dropped``, ``gap_s``."""
        after = self.dropped_after_frame_idx
        table = np.zeros(
            after.size, dtype=[("after_frame_idx", "i8"), ("n_dropped", "i8"), ("gap_s", "f8")]
        )
        table["after_frame_idx"] = after
        table["n_dropped"] = self.dropped_per_gap
        table["gap_s"] = self.frame_times_s[after + 1] - self.frame_times_s[after]
        return table

    def locate(self, frame_idx: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """Chunk index and index within the chunk of camera-wide frame indices."""
        idx = np.asarray(frame_idx, dtype=np.int64)
        chunk = np.searchsorted(self.chunk_starting_frame, idx, side="right") - 1
        return chunk, idx - self.chunk_starting_frame[chunk]


def align_frames(
    n_frames: int,
    pulse_times_s: np.ndarray,
    *,
    nominal_rate_hz: float | None = None,
    frame_pts_s: np.ndarray | None = None,
    policy: FramePolicy = "fail",
    gap_factor: float = 1.5,
    spurious_factor: float = 0.5,
    chunk_starting_frame: np.ndarray | None = None,
) -> FrameAlignment:
    """Give every saved frame a reference-clock time from the camera's TTL pulses.

    Parameters
    ----------
    n_frames
        Frames in the video (all chunks together).
    pulse_times_s
        ``(n_pulses,) float64`` camera pulse times on the reference clock, sorted.
    nominal_rate_hz
        Camera frame rate; ``None`` estimates the period from the median pulse interval.
    frame_pts_s
        ``(n_frames,) float64`` container timestamps of the frames (camera clock, continuous
        across chunks), used to tell camera drops from lost pulses.
    policy
        ``verification.frame_pulse_policy`` for an ambiguous frame/pulse mismatch.
    gap_factor
        ``synchronization.pulse_gap_factor``: an interval longer than this many periods is a gap.
    spurious_factor
        ``synchronization.spurious_pulse_factor``: a pulse closer than this fraction of a
        period to its neighbour is a spurious-pulse candidate.
    chunk_starting_frame
        ``(n_chunks,) int64`` first frame of each video chunk (see ``CameraVideos``).

    Returns
    -------
    FrameAlignment

    Raises
    ------
    SyncError
        Fewer than two pulses, unsorted pulses, pts of the wrong length, or an ambiguous
        mismatch under ``policy="fail"``.
    """
    pulses = np.asarray(pulse_times_s, dtype=np.float64).ravel()
    chunks = _chunk_starts(chunk_starting_frame, n_frames)
    _check_inputs(n_frames, pulses, frame_pts_s, policy)
    measured = float(np.median(np.diff(pulses)))
    period, notes = _period(measured, nominal_rate_hz)
    # the phase grid needs the measured period: a nominal rate is not exact enough over a window
    spurious = _find_spurious(pulses, measured, spurious_factor)
    kept_idx = np.flatnonzero(~spurious)
    kept = pulses[kept_idx]
    pulse_slot = _slots(kept, period, gap_factor)

    pts = None if frame_pts_s is None else np.asarray(frame_pts_s, dtype=np.float64).ravel()
    frame_slot, how, problem = _frame_slots(n_frames, pulse_slot, pts, gap_factor, period)
    if problem:
        if policy == "fail":
            raise _mismatch_error(n_frames, pulses, kept, spurious, pulse_slot, problem)
        how = policy
    times, has, frame_pulse = _assign(frame_slot, pulse_slot, kept, kept_idx, pts)
    unassigned = kept_idx[~np.isin(pulse_slot, frame_slot)]
    frame_slot = frame_slot - frame_slot[0]
    dropped, after, per_gap = _drops(frame_slot)
    clock_src = (
        pts
        if pts is not None
        else frame_slot * (1.0 / nominal_rate_hz if nominal_rate_hz else period)
    )
    clock = fit_clock(clock_src[has], times[has])

    if problem:
        status: Literal["exact", "repaired", "mismatch"] = (
            "mismatch" if how == "warn" else "repaired"
        )
    else:
        status = "exact" if has.all() else "repaired"
    result = FrameAlignment(
        frame_times_s=times,
        frame_has_pulse=has,
        frame_pulse_idx=frame_pulse,
        frame_slot=frame_slot,
        dropped_frames=dropped,
        dropped_after_frame_idx=after,
        dropped_per_gap=per_gap,
        missing_pulse_frame_idx=np.flatnonzero(~has).astype(np.int64),
        spurious_pulse_idx=np.flatnonzero(spurious).astype(np.int64),
        unassigned_pulse_idx=unassigned.astype(np.int64),
        n_frames=int(n_frames),
        n_pulses=int(pulses.size),
        period_s=float(period),
        policy_applied=how,
        status=status,
        clock=clock,
        messages=(),
        chunk_starting_frame=chunks,
    )
    messages = tuple(notes) + _describe(result, problem)
    result = replace(result, messages=messages)
    for message in messages:
        log.info("%s", message)
    if status == "mismatch":
        warnings.warn("; ".join(messages), DataQualityWarning, stacklevel=2)
    return result


def frame_times_from_rate(n_frames: int, rate_hz: float, t_start_s: float = 0.0) -> np.ndarray:
    """``(n_frames,) float64`` times of a camera with a declared constant rate and start time.

    Only for cameras explicitly declared without TTL pulses: no drop can be detected.
    """
    if rate_hz <= 0:
        raise SyncError(
            f"frame rate must be positive, got {rate_hz} Hz", hint="set the camera's rate_hz"
        )
    return t_start_s + np.arange(n_frames, dtype=np.float64) / rate_hz


def frame_times_from_video(frame_pts_s: np.ndarray, clock: ClockModel | None = None) -> np.ndarray:
    """``(n_frames,) float64`` frame times from container timestamps through a clock model.

    For cameras explicitly declared to run on another clock: ``clock`` maps that clock onto the
    reference clock; ``None`` means the pts already are reference times.
    """
    pts = np.asarray(frame_pts_s, dtype=np.float64)
    return pts.copy() if clock is None else np.asarray(clock(pts), dtype=np.float64)


# -- steps --------------------------------------------------------------------------------------


def _check_inputs(n_frames: int, pulses: np.ndarray, pts: np.ndarray | None, policy: str) -> None:
    if policy not in ("fail", "warn", "repair"):
        raise SyncError(
            f"unknown frame/pulse policy {policy!r}",
            hint="verification.frame_pulse_policy is 'fail', 'warn' or 'repair'",
        )
    if n_frames < 2:
        raise SyncError(
            f"cannot time a video of {n_frames} frame(s) from pulses",
            hint="check the video probe; at least two frames are needed",
        )
    if pulses.size < 2:
        raise SyncError(
            f"camera TTL channel has {pulses.size} pulse(s) for {n_frames} frames",
            hint="check the camera's ttl_id and that the TTL file holds this camera's pulses",
        )
    if not np.all(np.isfinite(pulses)) or np.any(np.diff(pulses) < 0):
        raise SyncError(
            "camera pulse times must be finite and sorted",
            hint="read pulses with w2t_bkin.sources.ttl, which sorts and de-duplicates them",
        )
    if pts is not None and np.asarray(pts).size != n_frames:
        raise SyncError(
            f"frame_pts_s has {np.asarray(pts).size} timestamps for {n_frames} frames",
            hint="pass one container timestamp per frame, all chunks concatenated",
        )


def _chunk_starts(chunk_starting_frame: np.ndarray | None, n_frames: int) -> np.ndarray:
    if chunk_starting_frame is None:
        return np.zeros(1, dtype=np.int64)
    starts = np.asarray(chunk_starting_frame, dtype=np.int64).ravel()
    if starts.size == 0 or starts[0] != 0 or np.any(np.diff(starts) < 0) or starts[-1] > n_frames:
        raise SyncError(
            f"chunk_starting_frame {starts.tolist()[:10]} is not increasing from 0 "
            f"within {n_frames} frames",
            hint="use CameraVideos.starting_frame",
        )
    return starts


def _period(measured: float, nominal_rate_hz: float | None) -> tuple[float, list[str]]:
    """The grid period: nominal unless the median pulse interval ``measured`` is 5% off it."""
    if nominal_rate_hz is None:
        return measured, []
    nominal = 1.0 / nominal_rate_hz
    if abs(measured / nominal - 1.0) > 0.05:
        note = (
            f"median pulse interval {measured * 1e3:.4g} ms differs from the nominal rate "
            f"{nominal_rate_hz:g} Hz ({nominal * 1e3:.4g} ms) by more than 5%; using the "
            "measured interval"
        )
        warnings.warn(note, DataQualityWarning, stacklevel=3)
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


def _find_spurious(t: np.ndarray, period: float, factor: float) -> np.ndarray:
    """``(n,) bool``: pulses that do not belong to the frame grid.

    First pulses off the local grid by more than ``_OFF_GRID`` periods; then, of two pulses
    closer than ``factor`` periods, the one further from the grid.
    """
    removed = np.zeros(t.size, dtype=bool)
    for _ in range(3):  # the grid estimate gets cleaner once gross glitches are gone
        idx = np.flatnonzero(~removed)
        off = _phase_dev(t[idx], period) > _OFF_GRID
        if not off.any():
            break
        removed[idx[off]] = True
    for _ in range(_MAX_SPURIOUS_PASSES):
        idx = np.flatnonzero(~removed)
        tk = t[idx]
        short = np.flatnonzero(np.diff(tk) < factor * period)
        if short.size == 0:
            break
        lead = np.ones(short.size, dtype=bool)
        lead[1:] = np.diff(short) > 1  # one pair per run of adjacent short intervals per pass
        a = short[lead]
        dev = _phase_dev(tk, period)
        drop = np.where(dev[a] > dev[a + 1], a, a + 1)
        removed[idx[drop]] = True
    return removed


def _slots(times_s: np.ndarray, period_s: float, gap_factor: float) -> np.ndarray:
    """``(n,) int64`` position of each event on a nominal train of period ``period_s``."""
    ipi = np.diff(times_s)
    step = np.where(ipi > gap_factor * period_s, np.maximum(np.rint(ipi / period_s), 2), 1)
    return np.concatenate([[0], np.cumsum(step)]).astype(np.int64)


def _frame_slots(
    n_frames: int,
    pulse_slot: np.ndarray,
    pts: np.ndarray | None,
    gap_factor: float,
    period: float,
) -> tuple[np.ndarray, str, str]:
    """Slots of the frames, how they were decided, and a problem description ('' if none)."""
    n_kept = pulse_slot.size
    if pts is not None:
        period_cam = float(np.median(np.diff(pts)))
        frame_slot = _slots(pts, period_cam, gap_factor)
        shift, tie = _best_shift(frame_slot, pulse_slot)
        frame_slot = frame_slot + shift
        if tie:
            return (
                frame_slot,
                "pts",
                ("container timestamps match the pulses equally well at several frame shifts"),
            )
        return frame_slot, "pts", ""
    if n_kept == n_frames:
        return pulse_slot.copy(), "one_to_one", ""
    holes = np.setdiff1d(np.arange(pulse_slot[-1] + 1), pulse_slot)
    n_lost = n_frames - n_kept
    if n_lost > 0 and holes.size == n_lost:
        return np.arange(pulse_slot[-1] + 1, dtype=np.int64), "gaps", ""
    if n_lost > 0:
        extra = max(n_lost - holes.size, 0)
        tail = pulse_slot[-1] + 1 + np.arange(extra)
        frame_slot = np.union1d(np.union1d(pulse_slot, holes[:n_lost]), tail)
        problem = (
            f"{n_lost} more frames than pulses but {holes.size} empty pulse slots: "
            "cannot tell camera drops from lost pulses without container timestamps"
        )
    else:
        frame_slot = pulse_slot[:n_frames].copy()
        problem = f"{-n_lost} more pulses than frames after removing spurious pulses"
    return frame_slot.astype(np.int64), "", problem


def _best_shift(frame_slot: np.ndarray, pulse_slot: np.ndarray) -> tuple[int, bool]:
    """Shift of frame slots that puts the most frames on a pulse; and whether it is tied."""
    k = _SHIFT_WINDOW
    cand = np.unique(
        np.concatenate([pulse_slot[:k] - frame_slot[0], pulse_slot[-k:] - frame_slot[-1], [0]])
    )
    occupied = np.zeros(int(pulse_slot[-1]) + 1, dtype=bool)
    occupied[pulse_slot] = True
    counts = np.empty(cand.size, dtype=np.int64)
    for i, shift in enumerate(cand):  # a few dozen candidates, each vectorised
        pos = frame_slot + shift
        ok = (pos >= 0) & (pos < occupied.size)
        counts[i] = np.count_nonzero(occupied[pos[ok]])
    best = np.flatnonzero(counts == counts.max())
    choice = best[np.argmin(np.abs(cand[best]))]
    return int(cand[choice]), bool(best.size > 1)


def _assign(
    frame_slot: np.ndarray,
    pulse_slot: np.ndarray,
    kept: np.ndarray,
    kept_idx: np.ndarray,
    pts: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = np.clip(np.searchsorted(pulse_slot, frame_slot), 0, pulse_slot.size - 1)
    has = pulse_slot[pos] == frame_slot
    if np.count_nonzero(has) < 2:
        raise SyncError(
            f"only {np.count_nonzero(has)} of {frame_slot.size} frames could be matched to a pulse",
            hint="check that the TTL channel belongs to this camera (camera ttl_id)",
        )
    times = np.full(frame_slot.size, np.nan)
    times[has] = kept[pos[has]]
    frame_pulse = np.where(has, kept_idx[pos], -1).astype(np.int64)
    if not has.all():
        x = pts if pts is not None else frame_slot.astype(np.float64)
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


def _drops(frame_slot: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    step = np.diff(frame_slot)
    after = np.flatnonzero(step > 1).astype(np.int64)
    per_gap = (step[after] - 1).astype(np.int64)
    total = int(per_gap.sum())
    # the would-be positions inside each gap, without a Python loop
    starts = frame_slot[after] + 1
    offsets = np.arange(total) - np.repeat(np.cumsum(per_gap) - per_gap, per_gap)
    dropped = (np.repeat(starts, per_gap) + offsets).astype(np.int64)
    return dropped, after, per_gap


def _mismatch_error(
    n_frames: int,
    pulses: np.ndarray,
    kept: np.ndarray,
    spurious: np.ndarray,
    pulse_slot: np.ndarray,
    problem: str,
) -> SyncError:
    step = np.diff(pulse_slot)
    gap_after = np.flatnonzero(step > 1)
    shown = ", ".join(
        f"after pulse {i} at {kept[i]:.6f} s ({int(step[i]) - 1} missing)" for i in gap_after[:10]
    )
    more = f" and {gap_after.size - 10} more" if gap_after.size > 10 else ""
    return SyncError(
        f"camera has {n_frames} frames but {pulses.size} TTL pulses "
        f"({int(spurious.sum())} removed as spurious, {kept.size} kept): {problem}. "
        f"Pulse gaps: {shown or 'none'}{more}",
        hint=(
            "set verification.frame_pulse_policy = 'repair' (or 'warn') to interpolate frames "
            "without a pulse, provide container timestamps so camera drops can be told from "
            "lost pulses, or check that the camera's ttl_id is its frame-trigger channel"
        ),
    )


def _describe(result: FrameAlignment, problem: str) -> tuple[str, ...]:
    out = []
    if problem:
        out.append(f"frame/pulse mismatch resolved by policy {result.policy_applied!r}: {problem}")
    if result.spurious_pulse_idx.size:
        out.append(f"{result.spurious_pulse_idx.size} spurious pulses removed")
    if result.n_dropped:
        chunk, local = result.locate(result.dropped_after_frame_idx)
        where = ", ".join(
            f"{n} after frame {f}"
            + (f" (chunk {c}, frame {lf})" if result.chunk_starting_frame.size > 1 else "")
            for f, n, c, lf in list(
                zip(
                    result.dropped_after_frame_idx,
                    result.dropped_per_gap,
                    chunk,
                    local,
                    strict=True,
                )
            )[:10]
        )
        out.append(
            f"camera dropped {result.n_dropped} frames in {result.dropped_after_frame_idx.size} "
            f"gaps: {where}"
        )
    if result.missing_pulse_frame_idx.size:
        out.append(
            f"{result.missing_pulse_frame_idx.size} frames had no pulse; their times were "
            "interpolated between neighbouring pulses"
        )
    if result.unassigned_pulse_idx.size:
        out.append(f"{result.unassigned_pulse_idx.size} pulses have no saved frame")
    return tuple(out)
