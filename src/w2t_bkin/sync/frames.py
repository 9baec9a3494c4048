"""Per-frame timestamps of a camera from its TTL pulses on the reference (DAQ) clock.

Model
-----
Each frame the camera ACQUIRES emits one pulse that the DAQ records. Four faults are told apart:

(a) Camera drops (missed triggers, frames never acquired) leave a gap in BOTH the pulses and
    the video. Frame and pulse counts stay equal and the timestamps stay one-to-one; each
    inter-pulse gap of ``k`` periods is reported as ``k - 1`` dropped frames.
(b) Unsaved frames (acquired, pulse recorded, never written: the host dropped them) leave a
    gap in the video only, so the DAQ has more pulses than the video has frames. They are
    reported as dropped frames whose pulse exists (``dropped_pulse_idx``).
(c) Lost pulses (frame saved, pulse not recorded) leave a gap in the pulses only, so the video
    has more frames than there are pulses.
(d) Spurious pulses (glitches) fall off the frame grid: a pulse closer than
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
4. Every frame gets a slot too.

   With informative container timestamps (``frame_pts_s``, camera clock) the same rule is
   applied to them within each video chunk (camera drops and unsaved frames show up in the
   pts, lost pulses do not). The time between chunks is unknown, so each chunk is placed on
   the pulse slots separately: the placement of all chunks, in recording order, that puts the
   most frames on a pulse wins (overlaps of every shift from one FFT correlation per chunk,
   order constraints by dynamic programming). Several best placements are ambiguous.

   Pts that are evenly spaced (every frame within a tick of the straight line through the
   first and last frame of its chunk, in every chunk) are what constant-frame-rate writers
   (OpenCV, Bonsai, SpinView) produce whatever was dropped: they carry no camera timing and
   are ignored (``pts_used`` is False, ``pts_note`` says why).

   With the camera's embedded frame counter (``frame_counter``, see below) the counter gives
   the slots instead; it takes precedence over pts.

   Without informative pts: equal counts mean one-to-one; with fewer pulses than frames, if
   the empty pulse slots are exactly as many as the missing pulses they are all lost pulses;
   with fewer frames than pulses nothing says which pulses lack a frame.
5. Ambiguity. More pulses than frames without informative pts, or pts that fit the pulses
   equally well in several ways (or badly), raise :class:`~w2t_bkin.errors.SyncError` under
   every policy: no policy hands out pulses that cannot be placed. More frames than pulses with
   too many empty slots is left to ``policy``: 'fail' raises, 'warn' and 'repair' fill the
   earliest empty slots with the extra frames (status 'mismatch' or 'repaired', and a
   ``DataQualityWarning``), and every frame is flagged ``frame_has_pulse = False``: the guess
   (which gaps hold a saved frame, and that the video started and stopped with its pulses)
   vouches for no frame's pulse.

Assumptions. Without informative pts or a frame counter, the pulses are taken to span exactly
the recording (first pulse = first frame, last pulse = last frame), and equal counts mean
one-to-one (every gap in the pulses a camera drop). A pulse recorded before the video that is
offset by a lost pulse, or a lost pulse offset by an unsaved frame, leaves the counts equal and
cannot be seen: give the camera a TTL file holding only the pulses recorded while the video
was, and informative timestamps or a frame counter where the rig provides them. A frame counter
is placed under the same span assumption.
6. A frame whose slot holds a pulse takes the pulse time. Other frames are interpolated
   between neighbouring pulses: in camera time when pts are used, otherwise in slots (never
   from the nominal rate alone), and flagged ``frame_has_pulse = False``.

Frame counter
-------------
A FLIR/Basler camera can embed a counter of ACQUIRED frames in every frame; iblrig/Bonsai save
it per saved frame (:func:`w2t_bkin.sources.camera_logs.read_frame_counter`). Frame slots are
``counter - counter[0]``: a step of ``k`` is ``k - 1`` frames acquired but not saved (unsaved
frames, with a pulse). Unlike pts it is exact, and it resolves "more pulses than frames" and
lost pulses together; it takes precedence over pts, and informative pts that show other gaps
than the counter raise a :class:`~w2t_bkin.errors.SyncError` naming the camera.

Unsaved frames keep their pulse, so the counter's gaps leave no mark in the pulses and cannot
register the frames on them the way pts gaps do (every shift of the counter puts as many frames
on a pulse). What places the frames is the extent: the pulses (spurious ones removed) must span
exactly as many trigger periods as the counter counts acquired frames from the first saved frame
to the last. Then the first and last saved frames own the first and last pulse, no trigger was
missed (a missed trigger, i.e. a camera drop, adds a period without pulse and without count) and
every empty pulse slot is a lost pulse. Any other extent (pulses recorded before the video
started or after it stopped, camera drops, a lost first or last pulse) raises under every policy,
as does a counter that restarts between video chunks. A counter without a step above one only
says that every acquired frame was saved: the counts then place the frames as without it.

Frame times are continuous across video chunks because the DAQ records every pulse;
``chunk_starting_frame`` translates reported indices to ``(chunk, frame in chunk)``, and a slot
gap exactly at a chunk boundary is reported as a gap between chunks (the camera paused or
restarted between files), not as dropped frames.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import signal as sp_signal

from w2t_bkin.errors import DataQualityWarning, SyncError
from w2t_bkin.sync.clock import ClockModel, fit_clock

log = logging.getLogger(__name__)

FramePolicy = Literal["fail", "warn", "repair"]

#: A pulse this far (in periods) from the grid of its neighbours is off-grid.
_OFF_GRID = 0.2
_MAX_SPURIOUS_PASSES = 20
#: Pulses on each side that define the local grid phase.
_PHASE_HALF_WINDOW = 8
#: Pulse intervals longer than this many periods may restart the grid phase.
_PAUSE_PERIODS = 4.0
#: Pulses used at each end to extrapolate frames beyond the first/last pulse.
_EXTRAPOLATION_POINTS = 10
#: Relative tolerance of evenly spaced pts when the container's tick is finer than this.
_EVEN_PTS_RTOL = 1e-6
#: Pts placements that put fewer than this fraction of frames on a pulse do not match.
_MIN_PTS_OVERLAP = 0.5


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
        ``(n_dropped,) int64``: positions in the nominal train of frames missing from the video
        inside a chunk (never acquired, or acquired but not saved; same numbering as
        ``frame_slot``).
    dropped_pulse_idx
        ``(n_dropped,) int64``: input pulse recorded at each dropped position (the frame was
        acquired but never saved), -1 where there is none (the camera never acquired it).
    dropped_after_frame_idx
        ``(n_gaps,) int64``: frames followed by dropped frames.
    dropped_per_gap
        ``(n_gaps,) int64``: number of frames dropped after each of those frames.
    chunk_gap_after_frame_idx
        ``(n_chunk_gaps,) int64``: last frames of video chunks followed by trigger periods
        without a frame before the next chunk (the camera paused or restarted between files).
        Not counted as dropped frames.
    chunk_gap_periods
        ``(n_chunk_gaps,) int64``: trigger periods without a frame in each of those gaps.
    missing_pulse_frame_idx
        ``(n_lost,) int64``: saved frames whose pulse was lost.
    spurious_pulse_idx
        ``(n_spurious,) int64``: input pulse indices removed as spurious.
    unassigned_pulse_idx
        ``(n_unassigned,) int64``: on-grid pulses with no saved frame (unsaved frames, triggers
        before the video started or after it stopped).
    n_frames, n_pulses
        Saved frames and input pulses.
    period_s
        Frame period on the reference clock used for the grid.
    policy_applied
        How frames were assigned to pulses: ``"one_to_one"`` (counts agree), ``"pts"``
        (container timestamps), ``"frame_counter"`` (the camera's embedded frame counter),
        ``"gaps"`` (empty slots explain the missing pulses exactly),
        ``"warn"`` or ``"repair"`` (ambiguous; resolved by the heuristic of that policy).
    status
        ``"exact"`` every frame has its own pulse; ``"repaired"`` some frames were
        interpolated, or an ambiguous case was repaired; ``"mismatch"`` ambiguous case under
        the 'warn' policy.
    clock
        Camera clock → reference clock fitted on frames with a pulse (source: pts when used,
        else slot times at the nominal rate or the measured period). Its residuals are the
        pulse jitter; its drift is the camera's drift when pts or a nominal rate are known.
    messages
        Human-readable findings, each naming the camera.
    chunk_starting_frame
        ``(n_chunks,) int64``: first frame of each video chunk (``[0]`` for one file).
    camera_id, ttl_id
        The camera and its frame TTL channel, as named in messages.
    pts_used
        Whether container timestamps placed the frames.
    pts_note
        Why they were not used (``""`` when they were): absent, evenly spaced, or the frame
        counter placed the frames.
    counter_used
        Whether the camera's embedded frame counter placed the frames.
    """

    frame_times_s: np.ndarray
    frame_has_pulse: np.ndarray
    frame_pulse_idx: np.ndarray
    frame_slot: np.ndarray
    dropped_frames: np.ndarray
    dropped_pulse_idx: np.ndarray
    dropped_after_frame_idx: np.ndarray
    dropped_per_gap: np.ndarray
    chunk_gap_after_frame_idx: np.ndarray
    chunk_gap_periods: np.ndarray
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
    camera_id: str
    ttl_id: str
    pts_used: bool
    pts_note: str
    counter_used: bool = False

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


@dataclass(frozen=True)
class _Who:
    """The camera and its TTL channel, for messages."""

    camera_id: str
    ttl_id: str

    def __str__(self) -> str:
        return f"camera {self.camera_id!r} (TTL channel {self.ttl_id!r})"


@dataclass(frozen=True, eq=False)
class _Slots:
    """Frame slots and how they were decided."""

    frame_slot: np.ndarray
    how: str
    problem: str = ""
    #: an ambiguity no policy may resolve
    fatal: bool = False
    #: ``(n_frames,) float64`` continuous camera time when pts placed the frames
    camera_time_s: np.ndarray | None = None


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
    frame_counter: np.ndarray | None = None,
    camera_id: str = "camera",
    ttl_id: str = "?",
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
        ``(n_frames,) float64`` container timestamps of the frames (camera clock), all chunks
        concatenated. Only differences within a chunk are read: each chunk may start at any
        value (the time between chunks is unknown). Used to tell camera drops and unsaved
        frames from lost pulses, unless evenly spaced (see the module notes).
    policy
        ``verification.frame_pulse_policy`` for an ambiguous surplus of frames. A surplus of
        pulses that nothing places raises whatever the policy.
    gap_factor
        ``synchronization.pulse_gap_factor``: an interval longer than this many periods is a gap.
    spurious_factor
        ``synchronization.spurious_pulse_factor``: a pulse closer than this fraction of a
        period to its neighbour is a spurious-pulse candidate.
    chunk_starting_frame
        ``(n_chunks,) int64`` first frame of each video chunk (see ``CameraVideos``).
    frame_counter
        ``(n_frames,) int64`` the camera's embedded frame counter of every saved frame, all
        chunks concatenated (:func:`w2t_bkin.sources.camera_logs.read_frame_counter`). It
        counts ACQUIRED frames, so it places the frames exactly: frame slot =
        ``counter - counter[0]``, and a step of ``k`` is ``k - 1`` frames acquired but not
        saved. It takes precedence over ``frame_pts_s``; informative pts that show other gaps
        than the counter raise. The pulses must span exactly the counted frames: see "Frame
        counter" in the module notes.
    camera_id, ttl_id
        Names of the camera and of its frame TTL channel, for messages and errors.

    Returns
    -------
    FrameAlignment

    Raises
    ------
    SyncError
        Fewer than two pulses, unsorted pulses, pts of the wrong length, more pulses than
        frames without informative pts, pts that fit the pulses in several ways or badly, a
        frame counter of the wrong length, not increasing, disagreeing with informative pts,
        restarting between chunks or not spanning the pulses exactly, or an ambiguous surplus
        of frames under ``policy="fail"``.
    """
    who = _Who(camera_id, ttl_id)
    pulses = np.asarray(pulse_times_s, dtype=np.float64).ravel()
    chunks = _chunk_starts(chunk_starting_frame, n_frames, who)
    _check_inputs(n_frames, pulses, frame_pts_s, policy, who)
    measured = float(np.median(np.diff(pulses)))
    period, notes = _period(measured, nominal_rate_hz, who)
    # the phase grid needs the measured period: a nominal rate is not exact enough over a window
    spurious = _find_spurious(pulses, measured, spurious_factor)
    kept_idx = np.flatnonzero(~spurious)
    kept = pulses[kept_idx]
    pulse_slot = _slots(kept, period, gap_factor)

    pts, pts_note = _informative_pts(frame_pts_s, chunks)
    counter = _check_counter(frame_counter, n_frames, chunks, who)
    if counter is not None:
        if pts is not None:
            _check_pts_agree(pts, counter, chunks, gap_factor, who)
        # a counter without a gap says only that every acquired frame was saved: the counts
        # then carry the same information and also handle camera drops
        gapless = bool(np.all(np.diff(counter) == 1))
        if gapless:
            slots = _slots_from_counts(n_frames, pulse_slot)
        else:
            slots = _slots_from_counter(counter, chunks, pulse_slot)
    elif pts is not None:
        slots = _slots_from_pts(pts, chunks, pulse_slot, gap_factor)
    else:
        slots = _slots_from_counts(n_frames, pulse_slot)
    how = slots.how
    if slots.problem:
        if slots.fatal or policy == "fail":
            raise _mismatch_error(
                who, n_frames, pulses, kept, spurious, pulse_slot, slots, pts_note
            )
        how = policy
    frame_slot = slots.frame_slot
    times, has, frame_pulse = _assign(
        frame_slot, pulse_slot, kept, kept_idx, slots.camera_time_s, who
    )
    problem = slots.problem
    paired = has  # the pairs the camera clock is fitted on, guessed ones included
    if problem:
        # the earliest-empty-slot guess vouches for no frame's pulse
        has, frame_pulse, problem = _unverify_guessed_frames(
            frame_slot, pulse_slot, has, frame_pulse, problem
        )
    unassigned = kept_idx[~np.isin(pulse_slot, frame_slot)]
    origin = frame_slot[0]
    frame_slot = frame_slot - origin
    dropped, after, per_gap, chunk_after, chunk_periods = _drops(frame_slot, chunks)
    at = np.clip(np.searchsorted(pulse_slot - origin, dropped), 0, pulse_slot.size - 1)
    dropped_pulse = np.where(pulse_slot[at] - origin == dropped, kept_idx[at], -1)
    if slots.camera_time_s is not None:
        clock_src = slots.camera_time_s
    else:
        clock_src = frame_slot * (1.0 / nominal_rate_hz if nominal_rate_hz else period)
    clock = fit_clock(clock_src[paired], times[paired])

    if slots.problem:
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
        dropped_pulse_idx=dropped_pulse.astype(np.int64),
        dropped_after_frame_idx=after,
        dropped_per_gap=per_gap,
        chunk_gap_after_frame_idx=chunk_after,
        chunk_gap_periods=chunk_periods,
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
        camera_id=camera_id,
        ttl_id=ttl_id,
        pts_used=pts is not None and counter is None,
        pts_note=pts_note if counter is None else "the frame counter placed the frames",
        counter_used=counter is not None,
    )
    pts_notes = (
        [f"{who}: container timestamps not used: {pts_note}"]
        if frame_pts_s is not None and pts_note
        else []
    )
    if counter is not None:
        pts_notes.append(
            f"{who}: the camera's frame counter shows no unsaved frame; frames placed by the counts"
            if slots.how != "frame_counter"
            else f"{who}: frames placed by the camera's embedded frame counter"
        )
    messages = tuple(notes + pts_notes) + _describe(result, problem, who)
    result = replace(result, messages=messages)
    for message in messages:
        log.info("%s", message)
    if problem:  # a policy guessed (status 'mismatch' or 'repaired'): never silently
        warnings.warn("; ".join(messages), DataQualityWarning, stacklevel=2)
    return result


def _unverify_guessed_frames(
    frame_slot: np.ndarray,
    pulse_slot: np.ndarray,
    has: np.ndarray,
    frame_pulse: np.ndarray,
    problem: str,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Flag every frame: the 'warn'/'repair' guess vouches for no frame's pulse.

    Which empty pulse slots hold a saved frame is guessed (the earliest ones), and so is the
    anchor at both ends (the video started and stopped with its pulses): a pulse recorded
    before the video would shift even the frames before the first empty slot. ``frame_slot``
    ``(n_frames,)`` and ``pulse_slot`` ``(n_kept,)`` are int64 slots; ``has`` and
    ``frame_pulse`` ``(n_frames,)`` come back as no pulse (``False``, -1) for every frame. The
    times stay those of the guess; the returned problem text says how far off they may be.
    """
    empty = np.setdiff1d(np.arange(int(pulse_slot[-1]) + 1), pulse_slot)
    n_camera_drops = int(empty.size - np.count_nonzero(~np.isin(frame_slot, pulse_slot)))
    problem += (
        f"; no frame is matched to a pulse (frame_has_pulse = False for all {has.size}): their "
        f"times follow the guess and may be off by {n_camera_drops} or more frame periods"
    )
    return np.zeros_like(has), np.full_like(frame_pulse, -1), problem


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


def _check_inputs(
    n_frames: int, pulses: np.ndarray, pts: np.ndarray | None, policy: str, who: _Who
) -> None:
    if policy not in ("fail", "warn", "repair"):
        raise SyncError(
            f"{who}: unknown frame/pulse policy {policy!r}",
            hint="verification.frame_pulse_policy is 'fail', 'warn' or 'repair'",
        )
    if n_frames < 2:
        raise SyncError(
            f"{who}: cannot time a video of {n_frames} frame(s) from pulses",
            hint="check the video probe; at least two frames are needed",
        )
    if pulses.size < 2:
        raise SyncError(
            f"{who}: the TTL channel has {pulses.size} pulse(s) for {n_frames} frames",
            hint="check the camera's ttl_id and that the TTL file holds this camera's pulses",
        )
    if not np.all(np.isfinite(pulses)) or np.any(np.diff(pulses) < 0):
        raise SyncError(
            f"{who}: pulse times must be finite and sorted",
            hint="read pulses with w2t_bkin.sources.ttl, which sorts and de-duplicates them",
        )
    if pts is not None and np.asarray(pts).size != n_frames:
        raise SyncError(
            f"{who}: frame_pts_s has {np.asarray(pts).size} timestamps for {n_frames} frames",
            hint="pass one container timestamp per frame, all chunks concatenated",
        )


def _chunk_starts(chunk_starting_frame: np.ndarray | None, n_frames: int, who: _Who) -> np.ndarray:
    if chunk_starting_frame is None:
        return np.zeros(1, dtype=np.int64)
    starts = np.asarray(chunk_starting_frame, dtype=np.int64).ravel()
    if starts.size == 0 or starts[0] != 0 or np.any(np.diff(starts) < 0) or starts[-1] > n_frames:
        raise SyncError(
            f"{who}: chunk_starting_frame {starts.tolist()[:10]} is not increasing from 0 "
            f"within {n_frames} frames",
            hint="use CameraVideos.starting_frame",
        )
    return starts


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


def _chunk_bounds(chunks: np.ndarray, n_frames: int) -> list[tuple[int, int]]:
    """``(first, end)`` frame of every non-empty chunk."""
    ends = np.append(chunks[1:], n_frames)
    return [(int(a), int(b)) for a, b in zip(chunks, ends, strict=True) if b > a]


def _within_chunk(chunks: np.ndarray, n_frames: int) -> np.ndarray:
    """``(n_frames - 1,) bool``: frame intervals that do not cross a chunk boundary."""
    within = np.ones(n_frames - 1, dtype=bool)
    starts = chunks[(chunks > 0) & (chunks < n_frames)]
    within[starts - 1] = False
    return within


def _informative_pts(
    frame_pts_s: np.ndarray | None, chunks: np.ndarray
) -> tuple[np.ndarray | None, str]:
    """The pts when they can show missing frames, else ``None`` and why not."""
    if frame_pts_s is None:
        return None, "the video has no container timestamps"
    pts = np.asarray(frame_pts_s, dtype=np.float64).ravel()
    if not np.all(np.isfinite(pts)):
        return None, "some container timestamps are not finite"
    step = np.diff(pts)[_within_chunk(chunks, pts.size)]
    if step.size == 0:
        return None, "no chunk has two frames"
    if np.any(step <= 0):
        return None, "container timestamps do not increase within a chunk"
    bounds = _chunk_bounds(chunks, pts.size)
    if all(_evenly_spaced(pts[a:b]) for a, b in bounds):
        return None, (
            f"evenly spaced ({float(np.median(step)) * 1e3:.6g} ms apart within a tick in every "
            "chunk): a constant-frame-rate container, whose timestamps cannot show dropped frames"
        )
    return pts, ""


def _evenly_spaced(pts: np.ndarray) -> bool:
    """Whether every pts is within a tick of the line through the first and last one.

    The tick is the container's time base as seen in the data (the smallest difference between
    distinct intervals); integer ticks make a constant-rate writer's intervals differ by one
    tick (e.g. 6 and 7 ms at 150 Hz in milliseconds), so the test is on positions, not
    intervals. Without visible ticks the tolerance is ``_EVEN_PTS_RTOL`` of the interval, and
    never more than a quarter of it.
    """
    n = pts.size
    if n < 3:
        return True
    period = (pts[-1] - pts[0]) / (n - 1)
    line = pts[0] + np.arange(n) * period
    intervals_ns = np.unique(np.rint(np.diff(pts) * 1e9))
    tick = float(np.min(np.diff(intervals_ns))) * 1e-9 if intervals_ns.size > 1 else 0.0
    tolerance = min(max(tick, _EVEN_PTS_RTOL * period), 0.25 * period)
    return bool(np.max(np.abs(pts - line)) <= tolerance)


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


def _slots_from_pts(
    pts: np.ndarray, chunks: np.ndarray, pulse_slot: np.ndarray, gap_factor: float
) -> _Slots:
    """Frame slots from each chunk's pts pattern, placed on the pulse slots."""
    bounds = _chunk_bounds(chunks, pts.size)
    period_cam = float(np.median(np.diff(pts)[_within_chunk(chunks, pts.size)]))
    rel = [_slots(pts[a:b], period_cam, gap_factor) for a, b in bounds]
    starts, problem = _place_chunks(rel, pulse_slot)
    if problem:
        return _Slots(np.zeros(0, dtype=np.int64), "pts", problem, fatal=True)
    frame_slot = np.concatenate([r + x for r, x in zip(rel, starts, strict=True)])
    # camera time continuous across chunks: each chunk's pts from where its first frame sits
    camera_time = np.concatenate(
        [pts[a:b] - pts[a] + x * period_cam for (a, b), x in zip(bounds, starts, strict=True)]
    )
    return _Slots(frame_slot.astype(np.int64), "pts", camera_time_s=camera_time)


def _check_counter(
    frame_counter: np.ndarray | None, n_frames: int, chunks: np.ndarray, who: _Who
) -> np.ndarray | None:
    """``(n_frames,) int64`` frame counter, strictly increasing within every chunk, or None."""
    if frame_counter is None:
        return None
    counter = np.asarray(frame_counter).ravel()
    if counter.size != n_frames:
        raise SyncError(
            f"{who}: the frame counter has {counter.size} values for {n_frames} frames",
            hint="pass one counter value per saved frame, all chunks concatenated",
        )
    if not np.issubdtype(counter.dtype, np.integer):
        raise SyncError(
            f"{who}: the frame counter must hold integers, got {counter.dtype}",
            hint="read it with w2t_bkin.sources.camera_logs.read_frame_counter",
        )
    counter = counter.astype(np.int64)
    step = np.diff(counter)
    bad = np.flatnonzero((step <= 0) & _within_chunk(chunks, n_frames))
    if bad.size:
        i = int(bad[0])
        raise SyncError(
            f"{who}: the frame counter does not increase within a video chunk: frame {i} has "
            f"counter {int(counter[i])}, frame {i + 1} has {int(counter[i + 1])}",
            hint="read it with w2t_bkin.sources.camera_logs.read_frame_counter, one counter "
            "file per video file in the same order, or one file for the whole camera",
        )
    return counter


def _check_pts_agree(
    pts: np.ndarray, counter: np.ndarray, chunks: np.ndarray, gap_factor: float, who: _Who
) -> None:
    """Raise unless informative pts show the same gaps as the frame counter in every chunk."""
    period_cam = float(np.median(np.diff(pts)[_within_chunk(chunks, pts.size)]))
    for c, (a, b) in enumerate(_chunk_bounds(chunks, pts.size)):  # loop over chunks, not frames
        by_pts = _slots(pts[a:b], period_cam, gap_factor)
        by_counter = counter[a:b] - counter[a]
        differ = np.flatnonzero(by_pts != by_counter)
        if differ.size:
            i = int(differ[0])
            raise SyncError(
                f"camera {who.camera_id!r}: its frame counter and its container timestamps "
                f"disagree in video chunk {c}: frame {a + i} is {int(by_counter[i])} frames "
                f"after the chunk's first frame by the counter but {int(by_pts[i])} trigger "
                "periods after it by the timestamps",
                hint="the counter counts acquired frames and the timestamps run on the camera "
                "clock: a difference is frames the camera never acquired (missed triggers) or "
                "a counter file that belongs to another video; check that the counter files "
                "match the video files, in the same order",
            )


def _slots_from_counter(counter: np.ndarray, chunks: np.ndarray, pulse_slot: np.ndarray) -> _Slots:
    """Frame slots from the frame counter, when the pulses span exactly the counted frames.

    Frames acquired but not saved keep their pulse, so the counter's gaps leave no mark in the
    pulses and cannot register the frames on them (every shift puts as many frames on a
    pulse). What places them is the extent: the pulses must span exactly as many trigger
    periods as the counter counts acquired frames. Then the first and last frame have their
    pulse, no trigger was missed (a missed trigger, a camera drop, adds a period without a
    pulse and without a count) and every empty pulse slot is a lost pulse.
    """
    for a, _ in _chunk_bounds(chunks, counter.size)[1:]:
        if counter[a] <= counter[a - 1]:
            return _Slots(
                np.zeros(0, dtype=np.int64),
                "frame_counter",
                f"the frame counter restarts at frame {a}, the first of a video chunk ("
                f"{int(counter[a])} after {int(counter[a - 1])}): the camera restarted between "
                "the files, and the number of trigger periods between them is unknown",
                fatal=True,
            )
    rel = counter - counter[0]
    n_acquired = int(rel[-1]) + 1
    n_periods = int(pulse_slot[-1] - pulse_slot[0]) + 1
    if n_periods != n_acquired:
        n_empty = n_periods - pulse_slot.size
        return _Slots(
            np.zeros(0, dtype=np.int64),
            "frame_counter",
            f"the frame counter counts {n_acquired} acquired frames from the first saved "
            f"frame to the last ({n_acquired - counter.size} of them not saved) but the pulses "
            f"span {n_periods} trigger periods ({n_empty} without a pulse): the counter does not "
            "count triggers the camera missed (camera drops), nor pulses recorded before the "
            "video started or after it stopped, so nothing places the frames on the pulses",
            fatal=True,
        )
    return _Slots((rel + pulse_slot[0]).astype(np.int64), "frame_counter")


def _place_chunks(rel: list[np.ndarray], pulse_slot: np.ndarray) -> tuple[list[int], str]:
    """Start slot of every chunk: the ordered placement that puts the most frames on a pulse.

    ``rel[c]`` are chunk ``c``'s frame slots from its first frame (0). Chunks stay in recording
    order (a chunk starts after the previous one ends), so chunk ``c`` can only start within a
    window: after every earlier chunk fits, before every later one must. For every start in its
    window, the number of the chunk's frames on a pulse comes from one FFT correlation; a
    dynamic programme over the chunks finds the best total and counts the placements that
    reach it (capped at 2) to detect ties.

    Returns the start slots, or ``[]`` and the problem when the best placement is not unique
    or puts too few frames on a pulse.
    """
    n_slots = int(pulse_slot[-1]) + 1
    lengths = np.array([int(r[-1]) + 1 for r in rel], dtype=np.int64)
    n_frames = sum(r.size for r in rel)
    # the first chunk may start before the first pulse and the last end after the last one
    lower = -(lengths[0] - 1) + np.concatenate([[0], np.cumsum(lengths[:-1])])
    upper = n_slots - 1 - np.concatenate([np.cumsum(lengths[:-1][::-1])[::-1], [0]])
    if lower[0] > upper[0]:
        return [], (
            f"the {len(rel)} chunks' timestamps span more frame positions than the pulses: they "
            "do not match the pulses"
        )
    pad = int(lengths.max())
    occupied = np.zeros(n_slots + 2 * pad)
    occupied[pulse_slot + pad] = 1.0
    tables: list[np.ndarray] = []
    overlaps: list[np.ndarray] = []
    ways = np.ones(0, dtype=np.int64)
    for c, r in enumerate(rel):
        frames = np.zeros(int(lengths[c]))
        frames[r] = 1.0
        window = occupied[lower[c] + pad : upper[c] + lengths[c] + pad]
        # frames on a pulse for each start slot lower[c] .. upper[c] (integers; FFT error ~1e-9)
        overlap = np.rint(sp_signal.correlate(window, frames, mode="valid", method="fft"))
        overlaps.append(overlap.astype(np.int64))
        total = overlap.astype(np.int64)
        if c == 0:
            ways = np.ones(total.size, dtype=np.int64)
        else:
            # the previous chunk ends before start x when its own start is at most x - its
            # length: index j of this window is index j of the previous one (clipped)
            best_before, ways_before = _prefix_best(tables[-1], ways)
            idx = np.minimum(np.arange(total.size), best_before.size - 1)
            total += best_before[idx]
            ways = ways_before[idx]
        tables.append(total)

    total = tables[-1]
    best = int(total.max())
    if best < _MIN_PTS_OVERLAP * n_frames:
        return [], (
            f"the container timestamps do not match the pulses: their best placement puts "
            f"only {best} of {n_frames} frames on a pulse"
        )
    if int(ways[total == best].sum()) > 1:
        if len(rel) == 1:
            tied = np.flatnonzero(total == best) + lower[0]
            where = ", ".join(str(int(t)) for t in tied[:5]) + (", ..." if tied.size > 5 else "")
            return [], (
                "container timestamps match the pulses equally well at several frame shifts "
                f"(first frame on pulse slot {where}; {best} frames on a pulse each)"
            )
        return [], (
            f"container timestamps of the {len(rel)} chunks match the pulses equally well with "
            f"several placements of the chunks ({best} frames on a pulse each; the time between "
            "chunks is unknown, so a chunk whose timestamps show no gap can slide over extra "
            "pulses)"
        )
    j = int(np.argmax(total))
    starts = [j + int(lower[-1])]
    for c in range(len(rel) - 2, -1, -1):
        table = tables[c]
        j = int(np.argmax(table[: min(j, table.size - 1) + 1]))
        starts.insert(0, j + int(lower[c]))
    return starts, _placement_margin_problem(starts, overlaps, rel, lengths, lower, upper)


def _placement_margin_problem(
    starts: list[int],
    overlaps: list[np.ndarray],
    rel: list[np.ndarray],
    lengths: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
) -> str:
    """Why the best placement does not stand out clearly enough from a shifted one ("" if it does).

    A chunk shifted by whole slots keeps most frames on pulses; what tells the true start is
    the few frames that land on empty pulse slots (lost pulses) or on a gap of the video
    (camera drops, unsaved frames). When the chunk itself leaves ``n_off`` frames off a pulse,
    how many frames other starts leave off varies by about ``sqrt(n_off)`` by chance, so the
    best start must beat every other start the neighbouring chunks allow by
    ``max(1, sqrt(n_off))`` frames; otherwise a coincidence could have chosen it. (With a
    perfect fit, ``n_off = 0``, a lead of one frame is the video's first or last frame falling
    off the pulse train: the recording started and stopped with its pulses.)
    """
    for c, start in enumerate(starts):
        lo = starts[c - 1] + int(lengths[c - 1]) if c > 0 else int(lower[c])
        hi = starts[c + 1] - int(lengths[c]) if c + 1 < len(starts) else int(upper[c])
        overlap = overlaps[c]
        idx = np.arange(max(lo, int(lower[c])), min(hi, int(upper[c])) + 1) - int(lower[c])
        chosen = start - int(lower[c])
        others = overlap[idx[idx != chosen]]
        if others.size == 0:
            continue
        n_off = int(rel[c].size - overlap[chosen])
        margin = int(overlap[chosen] - others.max())
        needed = max(1, int(np.ceil(np.sqrt(n_off))))
        if margin < needed:
            runner_up = int(idx[idx != chosen][int(np.argmax(others))] + lower[c])
            return (
                f"the container timestamps of chunk {c} place it on the pulses almost as well "
                f"starting at pulse slot {runner_up} as at {start} ({int(others.max())} vs "
                f"{int(overlap[chosen])} of its {rel[c].size} frames on a pulse; a clear "
                f"placement needs a lead of {needed}): too many lost pulses or too few gaps "
                "in the video to tell"
            )
    return ""


def _prefix_best(total: np.ndarray, ways: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running maximum of ``total`` and how many placements reach it (capped at 2)."""
    best = np.maximum.accumulate(total)
    count = np.cumsum(np.where(total == best, ways, 0))
    # restart the count where the running maximum rises
    rises = np.ones(total.size, dtype=bool)
    rises[1:] = best[1:] != best[:-1]
    run_start = np.maximum.accumulate(np.where(rises, np.arange(total.size), 0))
    base = np.where(run_start > 0, count[run_start - 1], 0)
    return best, np.minimum(count - base, 2)


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


def _mismatch_error(
    who: _Who,
    n_frames: int,
    pulses: np.ndarray,
    kept: np.ndarray,
    spurious: np.ndarray,
    pulse_slot: np.ndarray,
    slots: _Slots,
    pts_note: str,
) -> SyncError:
    step = np.diff(pulse_slot)
    gap_after = np.flatnonzero(step > 1)
    shown = ", ".join(
        f"after pulse {i} at {kept[i]:.6f} s ({int(step[i]) - 1} missing)" for i in gap_after[:10]
    )
    more = f" and {gap_after.size - 10} more" if gap_after.size > 10 else ""
    if slots.how == "frame_counter":
        pts_state = "not used: the frame counter placed the frames"
    else:
        pts_state = "used" if slots.how == "pts" else f"not used: {pts_note}"
    message = (
        f"camera {who.camera_id!r} has {n_frames} frames but its TTL channel {who.ttl_id!r} has "
        f"{pulses.size} pulses ({int(spurious.sum())} removed as spurious, {kept.size} kept): "
        f"{slots.problem}. Container timestamps {pts_state}. "
        f"Pulse gaps: {shown or 'none'}{more}"
    )
    if slots.how == "frame_counter":
        hint = (
            "the frame counter places frames only on a pulse train that spans exactly the "
            "counted frames: use a TTL file holding only the pulses recorded while the video "
            "was, check that the camera's ttl_id is its frame-trigger channel and that its "
            "counter files belong to its videos, in order; or leave frame_counter out to let "
            "the counts, the container timestamps and frame_pulse_policy decide"
        )
    elif slots.how == "pts":
        hint = (
            "the video's timestamps cannot place the frames on the pulses, and no "
            "frame_pulse_policy can: check that the camera's ttl_id is its frame-trigger "
            "channel and that its video files are listed in recording order; pulses recorded "
            "before the video started or after it stopped let a stretch of video without "
            "dropped frames slide over them, so use a TTL file holding only the pulses recorded "
            "while the video was"
        )
    elif slots.fatal:
        hint = (
            "the extra pulses are frames acquired but never saved, or pulses recorded before "
            "the video started or after it stopped, and no frame_pulse_policy can tell which: "
            "use a video whose timestamps show the missing frames (camera hardware timestamps, "
            "or a variable-frame-rate container), or a TTL file holding only the pulses "
            "recorded while the video was; also check that the camera's ttl_id is its "
            "frame-trigger channel"
        )
    else:
        hint = (
            "set verification.frame_pulse_policy = 'repair' (or 'warn') to interpolate frames "
            "without a pulse (flagged), use a video whose timestamps show dropped frames (camera "
            "hardware timestamps, or a variable-frame-rate container) so that camera drops can "
            "be told from lost pulses, or check that the camera's ttl_id is its frame-trigger "
            "channel"
        )
    return SyncError(message, hint=hint)


def _describe(result: FrameAlignment, problem: str, who: _Who) -> tuple[str, ...]:
    out = []
    if problem:
        out.append(
            f"{who}: frame/pulse mismatch resolved by policy {result.policy_applied!r}: {problem}"
        )
    if result.spurious_pulse_idx.size:
        out.append(f"{who}: {result.spurious_pulse_idx.size} spurious pulses removed")
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
        more = ", ..." if result.dropped_after_frame_idx.size > 10 else ""
        unsaved = int(np.count_nonzero(result.dropped_pulse_idx >= 0))
        kind = f" ({unsaved} acquired with a pulse but not saved)" if unsaved else ""
        out.append(
            f"camera {who.camera_id!r} dropped {result.n_dropped} frames{kind} in "
            f"{result.dropped_after_frame_idx.size} gaps: {where}{more}"
        )
    if result.chunk_gap_after_frame_idx.size:
        chunk, _ = result.locate(result.chunk_gap_after_frame_idx)
        t = result.frame_times_s
        where = ", ".join(
            f"{float(t[f + 1] - t[f]):.6g} s ({n} trigger periods without a frame) between chunk "
            f"{c} and {c + 1} (after frame {f})"
            for f, n, c in zip(
                result.chunk_gap_after_frame_idx, result.chunk_gap_periods, chunk, strict=True
            )
        )
        out.append(
            f"camera {who.camera_id!r} paused between video chunks (not counted as dropped "
            f"frames): {where}"
        )
    if result.missing_pulse_frame_idx.size:
        out.append(
            f"{who}: {result.missing_pulse_frame_idx.size} frames had no pulse of their own "
            "(frame_has_pulse = False); their times were interpolated between neighbouring "
            "pulses, or placed by the policy's guess where stated above"
        )
    if result.unassigned_pulse_idx.size:
        out.append(f"{who}: {result.unassigned_pulse_idx.size} pulses have no saved frame")
    return tuple(out)
