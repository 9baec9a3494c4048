"""Synchronization phase: which stream is aligned how, and what goes to NWB and QC.

The reference clock is the acquisition DAQ that records the TTL lines; its t=0 is the
session's ``session_start_time``. Cameras with a frame TTL get one time per frame from their
pulses (:func:`w2t_bkin.sync.align_frames`); cameras declared without TTL use their container
timestamps or their nominal rate, and the NWB file says so. Bpod times are mapped through a
clock model fitted on sync-state onsets matched to TTL pulses (:func:`w2t_bkin.sync.align_trials`).

"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from w2t_bkin.config import Config
from w2t_bkin.errors import (
    MetadataError,
    SyncError,
    VerificationError,
    warn_data_quality,
)
from w2t_bkin.metadata import (
    BpodMeta,
    CameraMeta,
    SessionMetadata,
)
from w2t_bkin.model.bpod import BpodSession
from w2t_bkin.model.stats import StreamStats
from w2t_bkin.model.ttl import TTLChannel
from w2t_bkin.model.video import CameraVideos, VideoProbe
from w2t_bkin.session.context import SessionContext
from w2t_bkin.session.ephys_clocks import align_probe_clocks
from w2t_bkin.session.ingest import IngestedInputs
from w2t_bkin.sources.bpod import INFO_OFFSET_UNCERTAINTY_S
from w2t_bkin.sources.camera_logs import read_frame_counter
from w2t_bkin.sync.clock import ClockModel, fit_clock
from w2t_bkin.sync.frames import (
    FrameAlignment,
    SavedFrames,
    align_frames,
    frame_times_from_rate,
    frame_times_from_video,
)
from w2t_bkin.sync.stats import stats_for_camera, stats_for_untimed_camera, stats_from_trials
from w2t_bkin.sync.sync_wave import SyncWaveFit
from w2t_bkin.sync.trials import ClockRestart, TrialAlignment, align_trials, with_clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraTiming:
    camera_id: str
    frame_times_s: np.ndarray
    frame_clock: str
    alignment: FrameAlignment | None
    n_frames: int
    #: assumptions behind frame times that no alignment checked (cameras without TTL)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrialTiming:
    """Every Bpod trial on the reference clock.

    Attributes
    ----------
    to_reference
        The Bpod clock model (Bpod seconds to reference seconds).
    alignment_label
        ``(n_trials,) str``: how each trial was placed (``matched``, ``interpolated``,
        ``extrapolated``, ``unaligned``); the NWB trials column ``alignment``.
    offsets_s
        ``(n_trials,) float64``: reference minus Bpod time at each trial start.
    residuals_s
        ``(n_trials,) float64``: mapped sync onset minus its pulse; NaN without a pulse.
    per_channel
        The alignment of each sync TTL channel's trials.
    """

    to_reference: ClockModel
    alignment_label: np.ndarray
    offsets_s: np.ndarray
    residuals_s: np.ndarray
    per_channel: dict[str, TrialAlignment]


@dataclass(frozen=True)
class SyncedSession:
    """What synchronization produced.

    ``ttl`` holds the TTL channels on the reference clock (probe-clock channels mapped through
    their fits; empty: use the verified channels as read); ``probe_clocks`` the fit of each
    ephys probe clock, keyed by the probe's sync channel id.
    """

    cameras: dict[str, CameraTiming]
    trials: TrialTiming | None
    stats: list[StreamStats] = field(default_factory=list)
    reference_clock_description: str = ""
    ttl: dict[str, TTLChannel] = field(default_factory=dict)
    probe_clocks: dict[str, SyncWaveFit] = field(default_factory=dict)

    def alignment_stats_json(self) -> dict[str, object]:
        """``alignment_stats.json``: a row per stream, and the probe clock fits when any."""
        out: dict[str, object] = {"streams": [row.to_dict() for row in self.stats]}
        if self.probe_clocks:
            out["clocks"] = [fit.to_dict() for fit in self.probe_clocks.values()]
        return out


def synchronize_session(
    metadata: SessionMetadata, config: Config, inputs: IngestedInputs
) -> SyncedSession:
    """Frame times of every camera and the Bpod clock model, with statistics per stream."""
    verified = inputs.verified
    # probe-clock channels (SpikeGLX imec sync) onto the reference clock before anyone uses them
    ttl, probe_clocks = align_probe_clocks(metadata, verified.ttl, config)
    cameras: dict[str, CameraTiming] = {}
    stats: list[StreamStats] = []
    for camera in metadata.cameras:
        videos = verified.videos.get(camera.id)
        pose = inputs.pose.get(camera.id)
        if videos is None and pose is None:
            continue  # optional camera without files
        n_frames = videos.n_frames if videos is not None else pose.n_frames  # type: ignore[union-attr]
        counters = verified.files.frame_counters.get(camera.id, [])
        timing = _camera_timing(camera, n_frames, videos, ttl, config, counters)
        cameras[camera.id] = timing
        stats.append(_camera_stats(timing))
    trials = None
    if inputs.bpod is not None and metadata.bpod is not None:
        trials = _trial_timing(inputs.bpod, metadata.bpod, ttl, config)
        stats += [
            stats_from_trials(f"bpod:{channel}", alignment)
            for channel, alignment in trials.per_channel.items()
        ]
    description = _reference_description(metadata, ttl) + _probe_description(probe_clocks)
    return SyncedSession(cameras, trials, stats, description, ttl, probe_clocks)


def _probe_description(fits: dict[str, SyncWaveFit]) -> str:
    return "".join(
        f" TTL channels of the probe whose sync channel is {key!r} were recorded on the probe's "
        f"clock and mapped onto the reference clock through the sync wave on {fit.reference_id!r}"
        f" ({fit.clock.kind} model: offset {fit.offset_s:.6f} s, drift {fit.drift_ppm:.3f} ppm, "
        f"{fit.n_matched} edges matched, residual max {fit.residual_max_s * 1e3:.3f} ms)."
        for key, fit in fits.items()
    )


def _reference_description(metadata: SessionMetadata, ttl: dict[str, TTLChannel]) -> str:
    if ttl:
        return (
            "Reference clock: the acquisition DAQ that recorded the TTL channels "
            f"{', '.join(sorted(ttl))}; t=0 is session_start_time. Camera frames are timed by "
            "their TTL pulses and Bpod times are mapped through a clock model fitted to the "
            "sync pulses (offset and drift; piecewise-linear when the drift is not constant; "
            "one offset per Bpod clock restart)."
        )
    clocks = {c.id: c.resolved_frame_clock for c in metadata.cameras}
    return (
        "Reference clock: no TTL channel exists in this session; frame times come from each "
        f"camera's declared clock ({', '.join(f'{k}: {v}' for k, v in clocks.items())}), "
        "with t=0 at session_start_time = first frame."
    )


def _camera_timing(
    camera: CameraMeta,
    n_frames: int,
    videos: CameraVideos | None,
    ttl: dict[str, TTLChannel],
    config: Config,
    frame_counter_files: Sequence[Path] = (),
) -> CameraTiming:
    """Frame times of one camera from its declared clock.

    ``frame_counter_files`` are the camera's embedded frame counter files
    (``[[cameras]].frame_counter``, resolved): one per video chunk in order, or one for the
    camera; with a TTL clock their counter places the frames (see :func:`align_frames`).
    ``camera.saved_frames`` says which TTL pulses belong to saved frames.
    """
    clock = camera.resolved_frame_clock
    for key, given, does in (
        ("frame_counter", bool(frame_counter_files), "places frames on"),
        ("saved_frames", camera.saved_frames is not None, "says which frames own"),
    ):
        if given and clock != "ttl":
            raise MetadataError(
                f"camera {camera.id!r}: {key} {does} the camera's TTL pulses, but "
                f"its frame_clock is {clock!r}",
                hint=f"give the camera a ttl_id (frame_clock = 'ttl'), or remove {key}",
            )
    if clock == "ttl":
        assert camera.ttl_id is not None
        starting = videos.starting_frame if videos is not None else None
        counter = _frame_counter(camera.id, n_frames, videos, frame_counter_files)
        alignment = align_frames(
            n_frames,
            ttl[camera.ttl_id].times_s,
            nominal_rate_hz=camera.fps,
            frame_pts_s=_camera_pts(camera.id, videos),
            policy=config.verification.frame_pulse_policy,
            gap_factor=config.synchronization.pulse_gap_factor,
            spurious_factor=config.synchronization.spurious_pulse_factor,
            chunk_starting_frame=starting,
            frame_counter=counter,
            saved_frames=(
                SavedFrames(**camera.saved_frames.model_dump())
                if camera.saved_frames is not None
                else None
            ),
            camera_id=camera.id,
            ttl_id=camera.ttl_id,
        )
        return CameraTiming(camera.id, alignment.frame_times_s, "ttl", alignment, n_frames)
    if clock == "video":
        if videos is None:
            raise MetadataError(
                f"camera {camera.id!r}: frame_clock = 'video' but no video files exist",
                hint="declare frame_clock = 'rate' with fps, or provide the videos",
            )
        times, notes = _video_clock(camera.id, videos)
        return CameraTiming(camera.id, times, "video", None, n_frames, notes)
    if clock == "rate":
        assert camera.fps is not None
        return CameraTiming(
            camera.id, frame_times_from_rate(n_frames, camera.fps), "rate", None, n_frames
        )
    raise SyncError(f"camera {camera.id!r} has no frame clock")


def _frame_counter(
    camera_id: str, n_frames: int, videos: CameraVideos | None, paths: Sequence[Path]
) -> np.ndarray | None:
    """``(n_frames,) int64`` embedded frame counter of every saved frame, files concatenated.

    ``None`` without files. One file per video chunk is matched to the chunks by position; one
    file covers the whole camera.

    Raises
    ------
    VerificationError
        A file's count differs from its video's frames (both files named), or the number of
        files is neither one nor the number of video files.
    """
    if not paths:
        return None
    chunks = videos.chunks if videos is not None else ()
    video_names = ", ".join(str(chunk.path) for chunk in chunks) or "its pose file(s)"
    hint = (
        "give one frame counter file per video file (matched in the order of the video files) "
        "or one file for the whole camera, each with one value per saved frame; check that the "
        "frame_counter globs select this camera's files"
    )
    if len(paths) > 1 and len(paths) != len(chunks):
        raise VerificationError(
            f"camera {camera_id!r}: {len(paths)} frame counter files "
            f"({', '.join(str(p) for p in paths)}) for {len(chunks)} video files ({video_names})",
            hint=hint,
        )
    counters = [read_frame_counter(path) for path in paths]
    if len(paths) == 1 and len(chunks) != 1:
        pairs = [(paths[0], counters[0], video_names, n_frames)]
    else:
        pairs = [
            (path, counter, str(chunk.path), chunk.n_frames)
            for path, counter, chunk in zip(paths, counters, chunks, strict=True)
        ]
    for path, counter, video, expected in pairs:
        if counter.size != expected:
            raise VerificationError(
                f"camera {camera_id!r}: frame counter file {path} has {counter.size} values but "
                f"{video} has {expected} frames",
                hint=hint,
                path=path,
            )
    return np.concatenate(counters)


def _camera_pts(camera_id: str, videos: CameraVideos | None) -> np.ndarray | None:
    """``(n_frames,) float64`` container timestamps of every chunk, each from its own first frame.

    ``None`` when a chunk has none: :func:`align_frames` then decides from the counts.
    """
    if videos is None:
        return None
    parts = []
    for chunk in videos.chunks:
        if chunk.frame_pts_s is None:
            log.info("camera %r: %s has no container timestamps", camera_id, chunk.path)
            return None
        parts.append(chunk.frame_pts_s)
    return np.concatenate(parts)


def _video_clock(camera_id: str, videos: CameraVideos) -> tuple[np.ndarray, tuple[str, ...]]:
    """Container timestamps of all chunks on one time line, and the assumption that made it.

    The video probe gives each chunk's timestamps from its own first frame (never absolute
    times), so the time between chunks is unknown: each chunk is assumed to start one frame
    period after the previous one's last frame, and a :class:`DataQualityWarning` says so.
    """
    parts = []
    t0 = 0.0
    for chunk in videos.chunks:
        if chunk.frame_pts_s is None:
            raise SyncError(
                f"camera {camera_id!r}: {chunk.path}: the container has no frame timestamps",
                hint="declare frame_clock = 'rate' with fps for this camera",
            )
        times = frame_times_from_video(chunk.frame_pts_s) + t0
        parts.append(times)
        t0 = float(times[-1]) + _frame_period_s(camera_id, chunk)
    if len(videos.chunks) == 1:
        return parts[0], ()
    note = (
        f"camera {camera_id!r}: frame_clock = 'video' with {len(videos.chunks)} video files "
        "whose timestamps each start at their own first frame, so the time between files is "
        "unknown; each file is assumed to start one frame period after the previous file's "
        "last frame, and frame times after the first file are off by any pause between files"
    )
    warn_data_quality(note, stacklevel=2)
    return np.concatenate(parts), (note,)


def _frame_period_s(camera_id: str, chunk: VideoProbe) -> float:
    """One frame period of a chunk: its stated rate, else its median timestamp interval."""
    if np.isfinite(chunk.rate_hz) and chunk.rate_hz > 0:
        return 1.0 / chunk.rate_hz
    if chunk.frame_pts_s is not None and chunk.frame_pts_s.size > 1:
        return float(np.median(np.diff(chunk.frame_pts_s)))
    raise SyncError(
        f"camera {camera_id!r}: {chunk.path}: no frame rate and a single frame, so the next "
        "file's start cannot be placed",
        hint="declare frame_clock = 'rate' with fps for this camera",
    )


def _camera_stats(timing: CameraTiming) -> StreamStats:
    """The camera's ``alignment_stats.json`` row, with how its frames were timed."""
    if timing.alignment is None:
        return stats_for_untimed_camera(
            timing.camera_id, timing.n_frames, timing.frame_clock, timing.notes
        )
    return stats_for_camera(timing.camera_id, timing.alignment)


def _sync_onsets(bpod: BpodSession, meta: BpodMeta) -> tuple[np.ndarray, np.ndarray]:
    """Per trial: the Bpod-clock onset of its sync state and its sync TTL id ('' if none)."""
    onsets = np.full(bpod.n_trials, np.nan)
    channel = np.full(bpod.n_trials, "", dtype=object)
    for rule in meta.sync.trial_types:
        rows = bpod.trial_types == rule.trial_type
        onsets[rows] = bpod.first_state_onset_s(rule.sync_signal)[rows]
        channel[rows] = rule.sync_ttl
    return onsets, channel


def _trial_timing(
    bpod: BpodSession, meta: BpodMeta, ttl: dict[str, TTLChannel], config: Config
) -> TrialTiming:
    """Align each sync channel's trials, then map every trial through one Bpod clock model."""
    sync = config.synchronization
    if not meta.sync.trial_types:
        raise SyncError(
            "Bpod data exist but no [[bpod.sync.trial_types]] rule says which state emits the "
            "sync pulse",
            hint="add rules {trial_type, sync_signal, sync_ttl} to the metadata",
        )
    onsets, channel = _sync_onsets(bpod, meta)
    restarts = _clock_restarts(bpod)
    per_channel: dict[str, TrialAlignment] = {}
    label = np.full(bpod.n_trials, "unaligned", dtype=object)
    for ttl_id in sorted({c for c in channel if c}):
        if ttl_id not in ttl:
            raise SyncError(
                f"sync TTL channel {ttl_id!r} has no files",
                hint="add its files or fix bpod.sync.trial_types.sync_ttl",
            )
        rows = np.flatnonzero(channel == ttl_id)
        try:
            alignment = align_trials(
                onsets[rows],
                ttl[ttl_id].times_s,
                bpod_trial_idx=rows,
                trial_start_s=bpod.trial_start_s[rows],
                tolerance_s=sync.trial_match_tolerance_s,
                min_matched=sync.min_matched_trials,
                model=sync.clock_model,
                segment_s=sync.piecewise_segment_s,
                unaligned_policy=sync.unaligned_trial_policy,
                restarts=restarts,
            )
        except SyncError as exc:  # name the channel and the files the error is about
            raise SyncError(
                f"sync TTL channel {ttl_id!r} and Bpod file(s) {_bpod_files(bpod)}: {exc.message}",
                hint=exc.hint,
            ) from None
        per_channel[ttl_id] = alignment
        label[rows] = alignment.alignment_label
    if len(per_channel) == 1:
        clock = next(iter(per_channel.values())).clock
    else:
        clock = _one_bpod_clock(per_channel, ttl, restarts, config)
        # report what is applied: every channel seen through the one clock
        per_channel = {
            k: with_clock(a, clock, ttl[k].times_s, bpod.trial_start_s[a.bpod_trial_idx])
            for k, a in per_channel.items()
        }
        _check_channels_agree(per_channel, sync.trial_match_tolerance_s)
    no_rule = np.flatnonzero(channel == "")
    if no_rule.size and sync.unaligned_trial_policy == "fail":
        raise SyncError(
            f"{no_rule.size} trial(s) have a trial type without a sync rule "
            f"(types {sorted(set(bpod.trial_types[no_rule].tolist()))})",
            hint="add [[bpod.sync.trial_types]] rules for them, or set "
            "synchronization.unaligned_trial_policy = 'flag'",
        )
    _check_restarts_placed(bpod, clock, restarts)
    residuals = np.full(bpod.n_trials, np.nan)
    for alignment in per_channel.values():
        residuals[alignment.bpod_trial_idx] = alignment.residuals_s
    starts = bpod.trial_start_s
    return TrialTiming(clock, label.astype(str), clock(starts) - starts, residuals, per_channel)


def _bpod_files(bpod: BpodSession) -> str:
    return ", ".join(path.name for path in bpod.source_files)


def _clock_restarts(bpod: BpodSession) -> tuple[ClockRestart, ...]:
    """Bpod files whose clock restarted and that only ``Info`` start times placed (1 s)."""
    return tuple(
        ClockRestart(
            bpod_time_s=float(bpod.trial_start_s[first]),
            uncertainty_s=INFO_OFFSET_UNCERTAINTY_S,
            source=bpod.source_files[k].name,
        )
        for k, (first, how) in enumerate(
            zip(bpod.file_first_trial, bpod.file_alignment, strict=True)
        )
        if how == "info"
    )


def _one_bpod_clock(
    per_channel: dict[str, TrialAlignment],
    ttl: dict[str, TTLChannel],
    restarts: tuple[ClockRestart, ...],
    config: Config,
) -> ClockModel:
    """One Bpod clock fitted on the matched pairs of every sync channel together."""
    sync = config.synchronization
    src = np.concatenate(
        [a.bpod_sync_times_s[a.matched_pulse_idx >= 0] for a in per_channel.values()]
    )
    ref = np.concatenate(
        [
            ttl[k].times_s[a.matched_pulse_idx[a.matched_pulse_idx >= 0]]
            for k, a in per_channel.items()
        ]
    )
    order = np.argsort(src, kind="stable")
    # 'auto' settled per channel: piecewise when any channel needed it
    piecewise = any(a.clock.kind == "piecewise" for a in per_channel.values())
    return fit_clock(
        src[order],
        ref[order],
        model="piecewise" if piecewise else "linear",
        segment_s=sync.piecewise_segment_s,
        outlier_threshold_s=sync.trial_match_tolerance_s,
        step_at_s=np.array([r.bpod_time_s for r in restarts]),
    )


def _check_channels_agree(per_channel: dict[str, TrialAlignment], tolerance_s: float) -> None:
    """Matched pulses of every channel must stay within tolerance of the one Bpod clock."""
    worst = {k: a.residual_max_s for k, a in per_channel.items()}
    off = {k: v for k, v in worst.items() if v > tolerance_s}
    if off:
        raise SyncError(
            "the sync channels disagree about the Bpod clock: fitted on all of them together, "
            + ", ".join(
                f"{k!r} leaves matched pulses off by {v * 1e3:.2f} ms" for k, v in off.items()
            )
            + f" (tolerance {tolerance_s * 1e3:g} ms)",
            hint="check that every [[bpod.sync.trial_types]] rule names the TTL channel its "
            "sync state is wired to",
        )


def _check_restarts_placed(
    bpod: BpodSession, clock: ClockModel, restarts: tuple[ClockRestart, ...]
) -> None:
    """Trials after a clock restart that no matched pulse placed (e.g. no sync rule) fail."""
    if not restarts:
        return
    unplaced = ~clock.run_fitted[clock.run_of(bpod.trial_start_s)]
    if unplaced.any():
        first = int(np.flatnonzero(unplaced)[0])
        restart = restarts[int(clock.run_of(bpod.trial_start_s[first])) - 1]
        raise SyncError(
            f"{int(unplaced.sum())} trials of the Bpod file restarted at {restart.source} (from "
            f"trial {first}) have no sync onset matched to a TTL pulse, so they can be placed only "
            f"to within ±{restart.uncertainty_s:g} s by the Bpod Info start times",
            hint="add [[bpod.sync.trial_types]] rules for their trial types, or check that the "
            "TTL recording covers this Bpod file",
        )


def synchronize(ctx: SessionContext, inputs: IngestedInputs) -> SyncedSession:
    """Synchronization: frame times per camera and Bpod trials on the reference clock."""
    return synchronize_session(ctx.metadata, ctx.config, inputs)
