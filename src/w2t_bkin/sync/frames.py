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
   every policy: no policy hands out pulses that cannot be placed (a ``saved_frames``
   declaration can say which pulses precede or follow the video: see "Saved frames"). More
   frames than pulses with too many empty slots is left to ``policy``: 'fail' raises, 'warn'
   and 'repair' fill the earliest empty slots with the extra frames (status 'mismatch' or
   'repaired', and a ``DataQualityWarning``), and every frame is flagged
   ``frame_has_pulse = False``: the guess (which gaps hold a saved frame, and that the video
   started and stopped with its pulses) vouches for no frame's pulse.

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

Saved frames
------------
A DAQ that records while the camera is triggered but not saving (before the video starts or
after it stops) has more pulses than the video has frames, and nothing in the counts says which.
``saved_frames`` (:class:`~w2t_bkin.sync.frame_saved.SavedFrames`) declares them: pulses to skip
at either end, or a window on the TTL clock. The skipped pulses are set aside before step 4,
which then places the frames on the rest as usual; the declaration is checked (the frames must
fit, and with informative pts or a frame counter the first and last frames must sit on the
declared ends) and refused under every policy when it does not fit, naming the neighbouring
skip counts that do.

Frame times are continuous across video chunks because the DAQ records every pulse;
``chunk_starting_frame`` translates reported indices to ``(chunk, frame in chunk)``, and a slot
gap exactly at a chunk boundary is reported as a gap between chunks (the camera paused or
restarted between files), not as dropped frames.

Modules
-------
This module holds the result, the driver and its findings. The steps:
:mod:`~w2t_bkin.sync.frame_grid` (input checks, chunks, slots), :mod:`~w2t_bkin.sync.frame_pulses`
(period, spurious pulses, placement by counts, frame times and gaps),
:mod:`~w2t_bkin.sync.frame_pts` (placement by container timestamps),
:mod:`~w2t_bkin.sync.frame_counter` (placement by the frame counter),
:mod:`~w2t_bkin.sync.frame_place` (which of those places the frames),
:mod:`~w2t_bkin.sync.frame_saved` (the ``saved_frames`` declaration),
:mod:`~w2t_bkin.sync.frame_messages` (the frame/pulse mismatch error) and
:mod:`~w2t_bkin.sync.frame_clock` (cameras without TTL).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from w2t_bkin.errors import warn_data_quality
from w2t_bkin.sync.clock import ClockModel, fit_clock
from w2t_bkin.sync.frame_clock import frame_times_from_rate, frame_times_from_video
from w2t_bkin.sync.frame_counter import _check_counter, _check_pts_agree
from w2t_bkin.sync.frame_grid import _check_inputs, _chunk_starts, _slots, _Who
from w2t_bkin.sync.frame_messages import _mismatch_error
from w2t_bkin.sync.frame_place import _place
from w2t_bkin.sync.frame_pts import _informative_pts
from w2t_bkin.sync.frame_pulses import _assign, _drops, _find_spurious, _period
from w2t_bkin.sync.frame_saved import SavedFrames, _choose_saved_pulses

__all__ = [
    "FrameAlignment",
    "FramePolicy",
    "SavedFrames",
    "align_frames",
    "frame_times_from_rate",
    "frame_times_from_video",
]

log = logging.getLogger(__name__)

FramePolicy = Literal["fail", "warn", "repair"]


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
    declared_unsaved_pulse_idx
        ``(n_declared,) int64``: on-grid pulses that ``saved_frames`` declared to have no saved
        frame (also in ``unassigned_pulse_idx``); empty without a declaration.
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
    declared_unsaved_pulse_idx: np.ndarray = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64)
    )

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
    frame_counter: np.ndarray | None = None,
    saved_frames: SavedFrames | None = None,
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
    saved_frames
        ``[[cameras]].saved_frames``: which pulses belong to saved frames when the DAQ recorded
        pulses before the video started or after it stopped (see "Saved frames" in the module
        notes). The other pulses are skipped before the frames are placed, and reported in
        ``unassigned_pulse_idx``, ``declared_unsaved_pulse_idx`` and the messages.
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
        restarting between chunks or not spanning the pulses exactly, an ambiguous surplus
        of frames under ``policy="fail"``, or a ``saved_frames`` declaration that leaves fewer
        than two pulses or does not fit the frames (the message names the values that fit).
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
    if counter is not None and pts is not None:
        _check_pts_agree(pts, counter, chunks, gap_factor, who)
    declared = np.zeros(0, dtype=np.int64)
    saved_notes: list[str] = []
    if saved_frames is None:
        slots = _place(n_frames, pulse_slot, pts, counter, chunks, gap_factor)
    else:
        # skip the pulses declared to have no saved frame, then place as without a declaration
        choice = _choose_saved_pulses(
            saved_frames,
            n_frames,
            kept,
            pulse_slot,
            pts,
            counter,
            chunks,
            gap_factor,
            policy,
            _evidence(pts, counter, pts_note),
            who,
        )
        declared = kept_idx[~choice.selected]
        kept, kept_idx = kept[choice.selected], kept_idx[choice.selected]
        pulse_slot = pulse_slot[choice.selected] - pulse_slot[choice.selected][0]
        slots, saved_notes = choice.slots, [choice.note]
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
    unassigned = np.union1d(kept_idx[~np.isin(pulse_slot, frame_slot)], declared)
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
        declared_unsaved_pulse_idx=declared,
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
    messages = tuple(notes + pts_notes + saved_notes) + _describe(result, problem, who)
    result = replace(result, messages=messages)
    for message in messages:
        log.info("%s", message)
    if problem:  # a policy guessed (status 'mismatch' or 'repaired'): never silently
        warn_data_quality("; ".join(messages), stacklevel=2)
    return result


def _evidence(pts: np.ndarray | None, counter: np.ndarray | None, pts_note: str) -> str:
    """What besides the counts checks a ``saved_frames`` declaration, for messages."""
    if counter is not None:
        return "the camera's frame counter"
    if pts is not None:
        return "the container timestamps"
    return f"the counts only; container timestamps not used: {pts_note}"


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


#: Helpers that moved to the ``frame_*`` modules: tests and callers still import them from here.
_MOVED = {
    "_Slots": "w2t_bkin.sync.frame_grid",
    "_chunk_bounds": "w2t_bkin.sync.frame_grid",
    "_within_chunk": "w2t_bkin.sync.frame_grid",
    "_OFF_GRID": "w2t_bkin.sync.frame_pulses",
    "_PHASE_HALF_WINDOW": "w2t_bkin.sync.frame_pulses",
    "_PAUSE_PERIODS": "w2t_bkin.sync.frame_pulses",
    "_EXTRAPOLATION_POINTS": "w2t_bkin.sync.frame_pulses",
    "_phase_dev": "w2t_bkin.sync.frame_pulses",
    "_interpolate": "w2t_bkin.sync.frame_pulses",
    "_EVEN_PTS_RTOL": "w2t_bkin.sync.frame_pts",
    "_MIN_PTS_OVERLAP": "w2t_bkin.sync.frame_pts",
    "_evenly_spaced": "w2t_bkin.sync.frame_pts",
    "_place_chunks": "w2t_bkin.sync.frame_pts",
    "_placement_margin_problem": "w2t_bkin.sync.frame_pts",
    "_prefix_best": "w2t_bkin.sync.frame_pts",
}


def __getattr__(name: str) -> Any:
    """Resolve a helper that moved to a submodule (see ``_MOVED``)."""
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
