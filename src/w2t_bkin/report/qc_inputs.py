"""What the QC report shows, as typed plain data (arrays, strings, numbers; no sync objects).

The session fills these from its phases' results (:mod:`w2t_bkin.session.sidecars`); the
report (:mod:`w2t_bkin.report.qc`) only reads them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from w2t_bkin import __version__
from w2t_bkin.model.stats import StreamStats


@dataclass(frozen=True)
class FrameCheck:
    """The frame-count verification of one camera.

    Attributes
    ----------
    camera_id
        The camera.
    n_video_frames
        Frames in its videos (or pose file when no video exists).
    n_pulses, n_matched
        Pulses on its frame TTL, and frames with a pulse of their own (0 and 0 without TTL).
    dropped_frames
        ``(n_dropped,) int64``: positions of the frames the camera dropped.
    n_spurious, n_missing
        Pulses removed as spurious; frames whose pulse was lost.
    status
        ``"ok"``, ``"warn"``, ``"fail"`` or ``"no TTL"``.
    frame_clock
        ``"ttl"``, ``"video"`` or ``"rate"``.
    frames_counted_by
        How the video frames were counted (``"index"``, ``"demux"``, ``"decode"``, joined by
        ``+`` over chunks; see :func:`~w2t_bkin.sources.video.probe_video`), or
        ``"pose file (no video)"``; ``None`` when not known.
    """

    camera_id: str
    n_video_frames: int
    n_pulses: int
    n_matched: int
    dropped_frames: np.ndarray
    n_spurious: int
    n_missing: int
    status: str
    frame_clock: str
    frames_counted_by: str | None = None

    @property
    def n_dropped(self) -> int:
        return int(self.dropped_frames.size)


@dataclass(frozen=True)
class FrameTimeline:
    """The frame times of one camera, for the frame-interval-over-time figure.

    Attributes
    ----------
    camera_id
        The camera.
    frame_times_s
        ``(n_frames,) float64``: time of every saved frame on the reference clock.
    dropped_after_frame_idx, dropped_per_gap
        ``(n_gaps,) int64``: frames followed by dropped frames, and how many were dropped there.
    interpolated_frame_idx
        ``(n_interpolated,) int64``: frames without a pulse of their own, whose times were
        interpolated (lost pulses, or frames a policy placed).
    chunk_starting_frame
        ``(n_chunks,) int64``: first frame of each video file (``[0]`` for one file); the
        interval across a file boundary is the pause between files, not a frame interval.
    """

    camera_id: str
    frame_times_s: np.ndarray
    dropped_after_frame_idx: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    dropped_per_gap: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    interpolated_frame_idx: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    chunk_starting_frame: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))


@dataclass(frozen=True)
class TrialStates:
    """The Bpod state visits of every trial, relative to the trial's sync pulse.

    Times are reference-clock seconds minus the trial's *anchor*: its recorded sync pulse, or,
    without one, its sync onset placed by the Bpod clock model, or, without a sync onset, its
    start placed by the clock model (``anchor_kind`` says which).

    Attributes
    ----------
    state_names
        Names along the state axis.
    visit_trial_idx, visit_state_idx
        ``(n_visits,) int64``: trial and index into ``state_names`` of each state visit.
    visit_start_s, visit_stop_s
        ``(n_visits,) float64``: entry and exit of each visit, relative to its trial's anchor.
    anchor_kind
        ``(n_trials,) str``: ``"pulse"``, ``"model"`` or ``"trial start"``.
    sync_states
        The states whose onset emits the sync pulse (they should start at 0).
    """

    state_names: tuple[str, ...]
    visit_trial_idx: np.ndarray
    visit_state_idx: np.ndarray
    visit_start_s: np.ndarray
    visit_stop_s: np.ndarray
    anchor_kind: np.ndarray
    sync_states: tuple[str, ...] = ()

    @property
    def n_trials(self) -> int:
        return int(np.asarray(self.anchor_kind).size)


@dataclass(frozen=True)
class TrialAlignmentSummary:
    """The Bpod trials on the reference clock.

    Attributes
    ----------
    trial_idx
        ``(n_trials,) int64``.
    offsets_s
        ``(n_trials,) float64``: reference minus Bpod time at each trial start.
    residuals_ms
        ``(n_matched,) float64``: clock-fit residual of each trial matched to a pulse.
    alignment_label
        ``(n_trials,) str``: ``matched``, ``interpolated``, ``extrapolated`` or ``unaligned``.
    drift_ppm, offset_s
        Of the fitted Bpod clock.
    """

    trial_idx: np.ndarray
    offsets_s: np.ndarray
    residuals_ms: np.ndarray
    alignment_label: np.ndarray
    drift_ppm: float
    offset_s: float


@dataclass(frozen=True)
class PoseConfidence:
    """The pose tracks of one camera, as far as the report summarises them.

    Attributes
    ----------
    keypoint_names, individual_names
        Names along the keypoint and individual axes.
    confidence
        ``(n_frames, n_individuals, n_keypoints) float32`` (``(n_frames, n_keypoints)``: one
        individual); NaN where the source has no score.
    missing_fraction
        ``(n_individuals, n_keypoints) float64``: fraction of frames without a position (NaN
        confidence with a position means "no score", not "missing"); ``None``: not reported.
    frame_times_s
        ``(n_frames,) float64``: time of each pose frame on the reference clock; ``None``:
        unknown (the confidence-over-time figure then counts frames).
    """

    keypoint_names: tuple[str, ...]
    confidence: np.ndarray
    individual_names: tuple[str, ...] = ()
    missing_fraction: np.ndarray | None = None
    frame_times_s: np.ndarray | None = None


@dataclass(frozen=True)
class ProbeClockQC:
    """The clock fit of one ephys probe onto the reference clock (its sync wave's edges).

    Attributes
    ----------
    clock_id, reference_id
        The probe's sync TTL channel and the reference channel with the same wave.
    model
        ``"linear"`` or ``"piecewise"``.
    offset_s, drift_ppm
        Reference time of probe time 0, and the probe clock's drift against the reference.
    matched_source_s
        ``(n_matched,) float64``: matched sync edges on the probe clock.
    matched_reference_s
        ``(n_matched,) float64``: the same edges mapped onto the reference clock.
    residuals_ms
        ``(n_matched,) float64``: mapped edge minus its reference edge, in ms.
    n_source_edges, n_reference_edges, n_matched
        Edges on each side and pairs.
    n_unmatched_inside
        Unmatched edges inside the span both streams recorded (lost or extra edges).
    tolerance_ms
        The session's match tolerance (``synchronization.trial_match_tolerance_s``).
    status
        ``"pass"`` or ``"warn"`` (see :attr:`w2t_bkin.sync.sync_wave.SyncWaveFit.status`).
    """

    clock_id: str
    reference_id: str
    model: str
    offset_s: float
    drift_ppm: float
    matched_source_s: np.ndarray
    matched_reference_s: np.ndarray
    residuals_ms: np.ndarray
    n_source_edges: int
    n_reference_edges: int
    n_matched: int
    n_unmatched_inside: int
    tolerance_ms: float
    status: str

    @property
    def n_unmatched_source(self) -> int:
        return self.n_source_edges - self.n_matched

    @property
    def n_unmatched_reference(self) -> int:
        return self.n_reference_edges - self.n_matched

    @property
    def residual_max_ms(self) -> float:
        r = self.residuals_ms
        return float(np.max(np.abs(r))) if r.size else float("nan")

    @property
    def residual_rms_ms(self) -> float:
        r = self.residuals_ms
        return float(np.sqrt(np.mean(r * r))) if r.size else float("nan")


@dataclass(frozen=True)
class QCInputs:
    """Everything the QC report shows.

    Attributes
    ----------
    subject, session
        Identify the session in the title.
    generated_at
        When the report was made (naive datetimes are shown as given).
    w2t_bkin_version
        Version that produced the session.
    frame_checks
        One :class:`FrameCheck` per camera.
    frame_timelines
        One :class:`FrameTimeline` per camera with frame times.
    ttl_channels
        Channel id -> pulse times, ``(n_pulses,) float64`` seconds.
    trial_alignment
        ``None`` without Bpod data.
    trial_states
        The Bpod states of every trial around its sync pulse; ``None`` without Bpod data.
    pose_confidence
        Camera id -> :class:`PoseConfidence`.
    validation_findings
        Finding dicts as in :class:`w2t_bkin.nwb.validation.ValidationReport` ``.findings``
        (the JSON of ``validation.json``); ``None`` when validation did not run.
    warnings
        Data-quality warnings raised during the run.
    alignment_stats
        One :class:`~w2t_bkin.model.stats.StreamStats` per stream.
    probe_clocks
        One :class:`ProbeClockQC` per ephys probe clock fitted to the reference clock (empty:
        the session has none, and the report has no ephys clock section).
    status
        How the run ended: ``"succeeded"`` or ``"failed"``.
    failed_phase, error
        The phase that failed and its error message (``None`` when the run succeeded).
    completed_phases
        Phases that finished; ``None`` means all. A section whose data come from a phase that
        did not finish says "not reached" instead of "none in this session".
    """

    subject: str
    session: str
    generated_at: dt.datetime | str = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    w2t_bkin_version: str = __version__
    frame_checks: Sequence[FrameCheck] = ()
    frame_timelines: Sequence[FrameTimeline] = ()
    ttl_channels: Mapping[str, np.ndarray] = field(default_factory=dict)
    trial_alignment: TrialAlignmentSummary | None = None
    trial_states: TrialStates | None = None
    pose_confidence: Mapping[str, PoseConfidence] = field(default_factory=dict)
    validation_findings: Sequence[Mapping[str, Any]] | None = None
    warnings: Sequence[str] = ()
    alignment_stats: Sequence[StreamStats] = ()
    probe_clocks: Sequence[ProbeClockQC] = ()
    status: str = "succeeded"
    failed_phase: str | None = None
    error: str | None = None
    completed_phases: Sequence[str] | None = None

    def reached(self, phase: str) -> bool:
        """Whether ``phase`` finished (the data it produces are in this report)."""
        return self.completed_phases is None or phase in self.completed_phases

    def not_reached(self, phase: str, what: str) -> str | None:
        """A "not reached" note when ``phase`` did not finish, else None."""
        if self.reached(phase):
            return None
        failed = f" in phase {self.failed_phase}" if self.failed_phase else ""
        return f"not reached: the session failed{failed} before {what} were available"
