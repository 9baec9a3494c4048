"""Ground-truth timing simulator for cameras and Bpod trials (pure NumPy, seeded, no file I/O).

Two generators, each returning the truth next to what the acquisition system would record:

* :func:`simulate_camera`: a camera acquiring frames at ``rate_hz`` on its own crystal, each
  acquired frame emitting a TTL pulse recorded by the DAQ (the reference clock). Faults: camera
  drops (triggers missed: no frame and no pulse), unsaved frames (pulse recorded, frame never
  written: the host dropped it), lost pulses (frame saved, pulse not recorded), spurious pulses
  (glitches), timing jitter of the recorded pulses. Container timestamps are either those of a
  variable-frame-rate writer (gaps where frames are missing) or of a constant-rate writer
  (evenly spaced, hiding every gap).
* :func:`simulate_trials`: a Bpod session whose sync state emits one TTL pulse per trial. The Bpod
  clock is offset from the DAQ clock and drifts (optionally with a drift change mid-session).
  Faults: sync state not visited (no sync event, no pulse), lost pulses, spurious pulses (some of
  them before the first trial), jitter of the recorded pulses.

Used by the unit tests of :mod:`w2t_bkin.sync` and by the synthetic experiment generator, which
writes these arrays to files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["CameraTruth", "TrialsTruth", "simulate_camera", "simulate_trials"]


@dataclass(frozen=True, eq=False)
class CameraTruth:
    """A simulated camera and what the DAQ recorded.

    Attributes
    ----------
    rate_hz
        Nominal frame rate of the camera (its own clock).
    drift_ppm
        Camera clock drift against the DAQ: one camera period lasts
        ``(1 + drift_ppm * 1e-6) / rate_hz`` DAQ seconds.
    frame_times_s
        ``(n_frames,) float64``: true acquisition time of every saved frame on the DAQ clock.
    frame_pts_s
        ``(n_frames,) float64``: container timestamps of the saved frames on the camera clock,
        relative to the first frame: ``nominal_index / rate_hz`` (gaps where frames are
        missing), or ``frame_index / rate_hz`` with ``constant_rate_pts`` (no gaps).
    frame_nominal_idx
        ``(n_frames,) int64``: position of each saved frame in the nominal trigger train.
    dropped_frame_idx
        ``(n_dropped,) int64``: positions in the nominal train of frames never acquired (no
        frame, no pulse). The first and last nominal frames are never dropped.
    unsaved_frame_idx
        ``(n_unsaved,) int64``: positions in the nominal train of frames acquired (their pulse
        was recorded) but never written to the video, those before the first and after the last
        saved frame included.
    unsaved_pulse_idx
        ``(n_unsaved,) int64``: indices into ``pulse_times_s`` of the pulses of those frames.
    pulse_times_s
        ``(n_pulses,) float64``: recorded pulse times on the DAQ clock, sorted.
    pulse_frame_idx
        ``(n_pulses,) int64``: saved-frame index of each recorded pulse; -1 for spurious pulses
        and for the pulses of unsaved frames.
    missing_pulse_frame_idx
        ``(n_lost,) int64``: saved frames whose pulse was not recorded.
    spurious_pulse_idx
        ``(n_spurious,) int64``: indices into ``pulse_times_s`` of spurious pulses.
    """

    rate_hz: float
    drift_ppm: float
    frame_times_s: np.ndarray
    frame_pts_s: np.ndarray
    frame_nominal_idx: np.ndarray
    dropped_frame_idx: np.ndarray
    unsaved_frame_idx: np.ndarray
    unsaved_pulse_idx: np.ndarray
    pulse_times_s: np.ndarray
    pulse_frame_idx: np.ndarray
    missing_pulse_frame_idx: np.ndarray
    spurious_pulse_idx: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.frame_times_s.size)

    @property
    def missing_frame_idx(self) -> np.ndarray:
        """``(n,) int64``: positions without a saved frame (dropped or unsaved), sorted.

        Only positions between the first and the last saved frame, counted from the first saved
        frame (the nominal position minus ``frame_nominal_idx[0]``, which is 0 unless
        ``unsaved_leading_frames`` was given): the ``dropped_frames`` that
        :func:`w2t_bkin.sync.align_frames` should report.
        """
        first, last = self.frame_nominal_idx[0], self.frame_nominal_idx[-1]
        missing = np.union1d(self.dropped_frame_idx, self.unsaved_frame_idx)
        inside = missing[(missing > first) & (missing < last)]
        return (inside - first).astype(np.int64)

    @property
    def n_pulses(self) -> int:
        return int(self.pulse_times_s.size)


def simulate_camera(
    duration_s: float,
    rate_hz: float,
    *,
    drift_ppm: float = 0.0,
    jitter_s: float = 0.0,
    dropped_frame_fraction: float = 0.0,
    missing_pulse_fraction: float = 0.0,
    spurious_pulse_fraction: float = 0.0,
    unsaved_frame_fraction: float = 0.0,
    unsaved_leading_frames: int = 0,
    unsaved_trailing_frames: int = 0,
    constant_rate_pts: bool = False,
    t_start_s: float = 0.0,
    seed: int = 0,
) -> CameraTruth:
    """Simulate one camera's frames and its TTL pulses as recorded by the DAQ.

    Parameters
    ----------
    duration_s
        Length of the nominal trigger train; it has ``round(duration_s * rate_hz)`` positions.
    rate_hz
        Nominal frame rate on the camera clock.
    drift_ppm
        Camera clock error against the DAQ in parts per million (positive: camera slow, its
        frames are further apart in DAQ time).
    jitter_s
        Half-width of the uniform error of each recorded pulse time (DAQ sampling and trigger
        latency); every recorded pulse is within ``jitter_s`` of its frame's true time.
    dropped_frame_fraction
        Fraction of nominal positions the camera skipped (no frame, no pulse). The first and
        last positions are never dropped. Several consecutive drops can occur.
    missing_pulse_fraction
        Fraction of acquired frames whose pulse the DAQ did not record (never the first or last
        frame's pulse).
    spurious_pulse_fraction
        Number of spurious pulses as a fraction of acquired frames. Each lies between a quarter
        and three quarters of a period away from the nominal grid (a glitch closer to a real
        pulse than that is indistinguishable from jitter), between the first and last pulse.
    unsaved_frame_fraction
        Fraction of acquired frames whose pulse was recorded but which were never written to
        the video (the host dropped them), so the DAQ has more pulses than the video has
        frames. Never the first or last saved frame, never a frame whose pulse was lost.
    unsaved_leading_frames, unsaved_trailing_frames
        Acquired frames before the first saved frame and after the last one, whose pulses were
        recorded (the DAQ ran while the camera was triggered but not saving). Their pulses are
        never lost; lost pulses and inner unsaved frames are drawn between them.
    constant_rate_pts
        Write ``frame_pts_s`` as a constant-frame-rate container does (OpenCV, Bonsai and most
        writers): ``frame_index / rate_hz``, evenly spaced whatever was dropped.
    t_start_s
        DAQ time of the first nominal frame.
    seed
        Seed of ``np.random.default_rng``.
    """
    rng = np.random.default_rng(seed)
    n_nominal = round(duration_s * rate_hz)
    if n_nominal < 2:
        raise ValueError(f"duration_s * rate_hz must give at least 2 frames, got {n_nominal}")
    period_daq_s = (1.0 + drift_ppm * 1e-6) / rate_hz
    n_drop = round(dropped_frame_fraction * n_nominal)
    dropped = np.sort(rng.choice(np.arange(1, n_nominal - 1), size=n_drop, replace=False))
    acquired = np.ones(n_nominal, dtype=bool)
    acquired[dropped] = False
    acquired_idx = np.flatnonzero(acquired).astype(np.int64)
    acquired_times = t_start_s + acquired_idx * period_daq_s
    n_acquired = acquired_idx.size

    lead, trail = int(unsaved_leading_frames), int(unsaved_trailing_frames)
    if lead < 0 or trail < 0 or lead + trail > n_acquired - 2:
        raise ValueError(
            f"unsaved_leading_frames and unsaved_trailing_frames must be >= 0 and leave at least "
            f"2 of the {n_acquired} acquired frames saved, got {lead} and {trail}"
        )
    # the saved span's first and last frames, and the unsaved frames around it, keep their pulse
    first_saved, last_saved = lead, n_acquired - 1 - trail
    n_lost = round(missing_pulse_fraction * n_acquired)
    lost = np.sort(rng.choice(np.arange(first_saved + 1, last_saved), size=n_lost, replace=False))
    has_pulse = np.ones(n_acquired, dtype=bool)
    has_pulse[lost] = False
    real_frame = np.flatnonzero(has_pulse).astype(np.int64)
    real_times = acquired_times[real_frame] + rng.uniform(-jitter_s, jitter_s, real_frame.size)

    n_spur = round(spurious_pulse_fraction * n_acquired)
    slots = rng.integers(0, n_nominal - 1, size=n_spur)
    phase = rng.uniform(0.25, 0.75, size=n_spur)
    spur_times = t_start_s + (slots + phase) * period_daq_s

    # drawn last (and only when asked) so that the other faults of a seed do not change
    saved = np.ones(n_acquired, dtype=bool)
    saved[:first_saved] = False
    saved[last_saved + 1 :] = False
    n_unsaved = round(unsaved_frame_fraction * n_acquired)
    if n_unsaved:
        inner = real_frame[(real_frame > first_saved) & (real_frame < last_saved)]
        saved[rng.choice(inner, size=n_unsaved, replace=False)] = False
    # acquired-frame index -> saved-frame index, -1 for frames never written
    saved_idx = np.where(saved, np.cumsum(saved) - 1, -1).astype(np.int64)

    times, owner = _merge_pulses(real_times, real_frame, spur_times)
    real = owner >= 0
    unsaved_pulse = real.copy()
    unsaved_pulse[real] = ~saved[owner[real]]
    owner[real] = saved_idx[owner[real]]
    nominal_idx = acquired_idx[saved]
    n_frames = nominal_idx.size
    if constant_rate_pts:
        frame_pts = np.arange(n_frames, dtype=np.float64) / rate_hz
    else:
        frame_pts = (nominal_idx - nominal_idx[0]) / rate_hz
    return CameraTruth(
        rate_hz=float(rate_hz),
        drift_ppm=float(drift_ppm),
        frame_times_s=acquired_times[saved],
        frame_pts_s=frame_pts,
        frame_nominal_idx=nominal_idx,
        dropped_frame_idx=dropped.astype(np.int64),
        unsaved_frame_idx=acquired_idx[~saved],
        unsaved_pulse_idx=np.flatnonzero(unsaved_pulse).astype(np.int64),
        pulse_times_s=times,
        pulse_frame_idx=owner,
        missing_pulse_frame_idx=saved_idx[lost].astype(np.int64),
        spurious_pulse_idx=np.flatnonzero(~real).astype(np.int64),
    )


@dataclass(frozen=True, eq=False)
class TrialsTruth:
    """A simulated Bpod session and its sync pulses on the DAQ clock.

    The true mapping is ``reference = offset_s + (1 + drift_ppm * 1e-6) * bpod`` up to
    ``drift_change_at_bpod_s``, and continues with drift ``drift_ppm + drift_change_ppm`` after
    it (continuous). :meth:`bpod_to_reference` evaluates it.

    Attributes
    ----------
    trial_start_bpod_s, trial_end_bpod_s
        ``(n_trials,) float64`` on the Bpod clock.
    trial_types
        ``(n_trials,) int64`` drawn from the ``trial_types`` argument.
    sync_bpod_s
        ``(n_trials,) float64``: sync-state onset on the Bpod clock; NaN where the state was
        not visited.
    sync_reference_s
        ``(n_trials,) float64``: true DAQ time of each sync onset (NaN where not visited).
    trial_start_reference_s
        ``(n_trials,) float64``: true DAQ time of each trial start.
    pulse_times_s
        ``(n_pulses,) float64``: recorded pulses, sorted.
    pulse_trial_idx
        ``(n_pulses,) int64``: trial of each pulse, -1 for spurious pulses.
    missing_pulse_trial_idx
        ``(n_lost,) int64``: trials with a sync onset whose pulse was not recorded.
    unvisited_trial_idx
        ``(n_unvisited,) int64``: trials whose sync state was not visited.
    spurious_pulse_idx
        ``(n_spurious,) int64``: indices into ``pulse_times_s`` of spurious pulses.
    """

    offset_s: float
    drift_ppm: float
    drift_change_ppm: float
    drift_change_at_bpod_s: float
    trial_start_bpod_s: np.ndarray
    trial_end_bpod_s: np.ndarray
    trial_types: np.ndarray
    sync_bpod_s: np.ndarray
    sync_reference_s: np.ndarray
    trial_start_reference_s: np.ndarray
    pulse_times_s: np.ndarray
    pulse_trial_idx: np.ndarray
    missing_pulse_trial_idx: np.ndarray
    unvisited_trial_idx: np.ndarray
    spurious_pulse_idx: np.ndarray

    @property
    def n_trials(self) -> int:
        return int(self.trial_start_bpod_s.size)

    def bpod_to_reference(self, bpod_s: np.ndarray | float) -> np.ndarray:
        """The true Bpod → DAQ mapping, for any array of Bpod times."""
        return _bpod_to_reference(
            np.asarray(bpod_s, dtype=np.float64),
            self.offset_s,
            self.drift_ppm,
            self.drift_change_ppm,
            self.drift_change_at_bpod_s,
        )


def _bpod_to_reference(
    t: np.ndarray, offset_s: float, drift_ppm: float, change_ppm: float, change_at_s: float
) -> np.ndarray:
    after = np.maximum(t - change_at_s, 0.0)
    return offset_s + t + drift_ppm * 1e-6 * t + change_ppm * 1e-6 * after


def simulate_trials(
    n_trials: int | None = None,
    duration_s: float | None = None,
    *,
    bpod_drift_ppm: float = 50.0,
    bpod_offset_s: float = 0.0,
    drift_change_ppm: float = 0.0,
    drift_change_at_fraction: float = 0.5,
    jitter_s: float = 0.0,
    missing_pulse_fraction: float = 0.0,
    spurious_pulse_fraction: float = 0.0,
    n_leading_spurious: int | None = None,
    unvisited_fraction: float = 0.0,
    trial_duration_s: tuple[float, float] = (3.0, 9.0),
    sync_delay_s: tuple[float, float] = (0.05, 1.0),
    trial_types: Sequence[int] = (1,),
    first_trial_bpod_s: float = 1.0,
    seed: int = 0,
) -> TrialsTruth:
    """Simulate Bpod trials with one sync pulse each, recorded on the DAQ clock.

    Parameters
    ----------
    n_trials, duration_s
        Give one: the number of trials, or the Bpod session length (trials are generated until
        it is filled).
    bpod_drift_ppm
        Drift of the Bpod clock against the DAQ (``d reference / d bpod - 1``, in ppm).
    bpod_offset_s
        DAQ time at Bpod time 0 (e.g. 500.0: Bpod started 500 s after the DAQ).
    drift_change_ppm, drift_change_at_fraction
        The drift changes by ``drift_change_ppm`` at this fraction of the Bpod session
        (0 keeps a purely linear clock relation).
    jitter_s
        Half-width of the uniform error of each recorded pulse time.
    missing_pulse_fraction
        Fraction of trials with a sync onset whose pulse was not recorded.
    spurious_pulse_fraction
        Number of spurious pulses as a fraction of the number of trials. ``n_leading_spurious``
        of them (default: a fifth, at least one and at most ten) fall in the 60 s before the first
        sync pulse; the others are uniform over the session. Every spurious pulse is at least
        20 ms away from every true sync time (closer glitches cannot be told from a real pulse).
    n_leading_spurious
        Number of spurious pulses before the first trial (overrides the default above).
    unvisited_fraction
        Fraction of trials whose sync state is not visited (no onset, no pulse).
    trial_duration_s
        ``(low, high)``: trial lengths are uniform in this range (Bpod seconds).
    sync_delay_s
        ``(low, high)``: sync onset after trial start, uniform (Bpod seconds).
    trial_types
        Trial types drawn uniformly for each trial.
    first_trial_bpod_s
        Bpod time of the first trial start.
    seed
        Seed of ``np.random.default_rng``.
    """
    if (n_trials is None) == (duration_s is None):
        raise ValueError("give exactly one of n_trials and duration_s")
    rng = np.random.default_rng(seed)
    lo, hi = trial_duration_s
    if n_trials is None:
        assert duration_s is not None
        n_trials = max(int(np.ceil(duration_s / (0.5 * (lo + hi)))) + 1, 1)
    lengths = rng.uniform(lo, hi, n_trials)
    starts = first_trial_bpod_s + np.concatenate([[0.0], np.cumsum(lengths[:-1])])
    ends = starts + lengths
    if duration_s is not None:
        keep = ends <= first_trial_bpod_s + duration_s
        keep[0] = True
        starts, ends = starts[keep], ends[keep]
        n_trials = int(starts.size)
    types = rng.choice(np.asarray(trial_types, dtype=np.int64), size=n_trials)
    sync = starts + rng.uniform(*sync_delay_s, n_trials)
    n_unvisited = round(unvisited_fraction * n_trials)
    unvisited = np.sort(rng.choice(n_trials, size=n_unvisited, replace=False)).astype(np.int64)
    sync[unvisited] = np.nan

    change_at = float(starts[0] + drift_change_at_fraction * (ends[-1] - starts[0]))
    args = (bpod_offset_s, bpod_drift_ppm, drift_change_ppm, change_at)
    sync_ref = _bpod_to_reference(sync, *args)
    times, owner, lost = record_sync_pulses(
        sync_ref,
        rng,
        jitter_s=jitter_s,
        missing_pulse_fraction=missing_pulse_fraction,
        spurious_pulse_fraction=spurious_pulse_fraction,
        n_leading_spurious=n_leading_spurious,
    )
    return TrialsTruth(
        offset_s=float(bpod_offset_s),
        drift_ppm=float(bpod_drift_ppm),
        drift_change_ppm=float(drift_change_ppm),
        drift_change_at_bpod_s=change_at,
        trial_start_bpod_s=starts,
        trial_end_bpod_s=ends,
        trial_types=types.astype(np.int64),
        sync_bpod_s=sync,
        sync_reference_s=sync_ref,
        trial_start_reference_s=_bpod_to_reference(starts, *args),
        pulse_times_s=times,
        pulse_trial_idx=owner,
        missing_pulse_trial_idx=lost,
        unvisited_trial_idx=unvisited,
        spurious_pulse_idx=np.flatnonzero(owner < 0).astype(np.int64),
    )


def record_sync_pulses(
    sync_reference_s: np.ndarray,
    rng: np.random.Generator,
    *,
    jitter_s: float = 0.0,
    missing_pulse_fraction: float = 0.0,
    spurious_pulse_fraction: float = 0.0,
    n_leading_spurious: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a DAQ records of one sync pulse per trial: jittered, some lost, some spurious.

    Parameters
    ----------
    sync_reference_s
        ``(n_trials,) float64`` true sync times on the DAQ clock; NaN = no pulse emitted.
    rng
        Random generator (shared with the caller so one seed fixes everything).
    jitter_s, missing_pulse_fraction, spurious_pulse_fraction, n_leading_spurious
        As in :func:`simulate_trials`.

    Returns
    -------
    times_s : (n_pulses,) float64
        Recorded pulses, sorted.
    trial_idx : (n_pulses,) int64
        Trial of each pulse, -1 for spurious pulses.
    lost_trial_idx : (n_lost,) int64
        Trials whose pulse was not recorded.
    """
    n_trials = sync_reference_s.size
    visited = np.flatnonzero(np.isfinite(sync_reference_s))
    n_lost = round(missing_pulse_fraction * n_trials)
    lost = np.sort(rng.choice(visited, size=min(n_lost, visited.size), replace=False))
    emitting = np.setdiff1d(visited, lost)
    real = sync_reference_s[emitting] + rng.uniform(-jitter_s, jitter_s, emitting.size)

    n_spur = round(spurious_pulse_fraction * n_trials)
    if n_leading_spurious is None:
        n_lead = min(max(1, n_spur // 5), 10) if n_spur else 0
    else:
        n_lead = n_leading_spurious
    true_sync = np.sort(sync_reference_s[visited])
    first, last = float(np.min(true_sync)), float(np.max(true_sync))
    spur = _spurious_times(rng, first - 60.0, first - 0.02, n_lead, true_sync)
    spur = np.concatenate(
        [spur, _spurious_times(rng, first, last, max(n_spur - n_lead, 0), true_sync)]
    )

    times, owner = _merge_pulses(real, emitting, spur)
    return times, owner, lost.astype(np.int64)


def _merge_pulses(
    real_s: np.ndarray, real_owner: np.ndarray, spurious_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Real and spurious pulses as the DAQ records them: sorted times, owner -1 if spurious."""
    times = np.concatenate([real_s, spurious_s])
    owner = np.concatenate([real_owner, np.full(spurious_s.size, -1)]).astype(np.int64)
    order = np.argsort(times, kind="stable")
    return times[order], owner[order]


def _spurious_times(
    rng: np.random.Generator, lo: float, hi: float, n: int, true_s: np.ndarray
) -> np.ndarray:
    """``n`` uniform times in ``[lo, hi]`` at least 20 ms from every time in sorted ``true_s``."""
    min_gap_s = 0.02
    out = np.zeros(0)
    while out.size < n:
        cand = rng.uniform(lo, hi, 2 * (n - out.size) + 4)
        dist = np.full(cand.size, np.inf)
        if true_s.size:
            # the nearest true time is the one on either side of each candidate
            j = np.searchsorted(true_s, cand)
            left = true_s[np.maximum(j - 1, 0)]
            right = true_s[np.minimum(j, true_s.size - 1)]
            dist = np.minimum(np.abs(cand - left), np.abs(cand - right))
        out = np.concatenate([out, cand[dist >= min_gap_s]])
    return out[:n]
