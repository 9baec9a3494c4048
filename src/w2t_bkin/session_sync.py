"""Session-level synchronization: which stream is aligned how, and what goes to NWB and QC.

The reference clock is the acquisition DAQ that records the TTL lines; its t=0 is the
session's ``session_start_time``. Cameras with a frame TTL get one time per frame from their
pulses (:func:`w2t_bkin.sync.align_frames`); cameras declared without TTL use their container
timestamps or their nominal rate, and the NWB file says so. Bpod times are mapped through a
clock model fitted on sync-state onsets matched to TTL pulses (:func:`w2t_bkin.sync.align_trials`).
"""

from __future__ import annotations

import logging
import tomllib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from w2t_bkin import __version__
from w2t_bkin.config import Config
from w2t_bkin.errors import DataQualityWarning, MetadataError, SyncError, VerificationError
from w2t_bkin.metadata import BpodMeta, CameraMeta, SessionMetadata, metadata_files
from w2t_bkin.sources.bpod import INFO_OFFSET_UNCERTAINTY_S, BpodSession
from w2t_bkin.sources.camera_logs import read_frame_counter
from w2t_bkin.sources.ttl import TTLChannel
from w2t_bkin.sources.video import CameraVideos, VideoProbe
from w2t_bkin.sync.clock import ClockModel, fit_clock
from w2t_bkin.sync.frames import (
    FrameAlignment,
    align_frames,
    frame_times_from_rate,
    frame_times_from_video,
)
from w2t_bkin.sync.stats import stats_from_frames, stats_from_trials
from w2t_bkin.sync.trials import ClockRestart, TrialAlignment, align_trials, with_clock

if TYPE_CHECKING:
    from w2t_bkin.nwb.assembly import SessionAssembly
    from w2t_bkin.nwb.qc import QCInputs
    from w2t_bkin.session import IngestedInputs, SessionContext

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
    to_reference: ClockModel
    label: np.ndarray
    offsets_s: np.ndarray
    residuals_s: np.ndarray
    per_channel: dict[str, TrialAlignment]


@dataclass(frozen=True)
class SyncedSession:
    cameras: dict[str, CameraTiming]
    trials: TrialTiming | None
    stats: list[dict[str, Any]] = field(default_factory=list)
    reference_clock_description: str = ""


def synchronize_session(
    metadata: SessionMetadata, config: Config, inputs: IngestedInputs
) -> SyncedSession:
    """Frame times of every camera and the Bpod clock model, with statistics per stream."""
    verified = inputs.verified
    cameras: dict[str, CameraTiming] = {}
    stats: list[dict[str, Any]] = []
    for camera in metadata.cameras:
        videos = verified.videos.get(camera.id)
        pose = inputs.pose.get(camera.id)
        if videos is None and pose is None:
            continue  # optional camera without files
        n_frames = videos.n_frames if videos is not None else pose.n_frames  # type: ignore[union-attr]
        counters = verified.files.frame_counters.get(camera.id, [])
        timing = _camera_timing(camera, n_frames, videos, verified.ttl, config, counters)
        cameras[camera.id] = timing
        stats.append(_camera_stats(timing))
    trials = None
    if inputs.bpod is not None and metadata.bpod is not None:
        trials = _trial_timing(inputs.bpod, metadata.bpod, verified.ttl, config)
        stats += [
            stats_from_trials(f"bpod:{channel}", alignment).to_dict()
            for channel, alignment in trials.per_channel.items()
        ]
    return SyncedSession(cameras, trials, stats, _reference_description(metadata, verified.ttl))


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
    """
    clock = camera.resolved_frame_clock
    if frame_counter_files and clock != "ttl":
        raise MetadataError(
            f"camera {camera.id!r}: frame_counter places frames on the camera's TTL pulses, but "
            f"its frame_clock is {clock!r}",
            hint="give the camera a ttl_id (frame_clock = 'ttl'), or remove frame_counter",
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
    warnings.warn(note, DataQualityWarning, stacklevel=2)
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


def _camera_stats(timing: CameraTiming) -> dict[str, Any]:
    """The camera's ``alignment_stats.json`` row, with how its frames were timed."""
    a = timing.alignment
    if a is None:
        return _untimed_camera_stats(timing)
    row = stats_from_frames(timing.camera_id, a).to_dict()
    row["frame_pts"] = "used" if a.pts_used else f"not used: {a.pts_note}"
    row["notes"] = "; ".join(a.messages)
    return row


def _untimed_camera_stats(timing: CameraTiming) -> dict[str, Any]:
    return {
        "stream_id": timing.camera_id,
        "kind": "camera",
        "n_items": timing.n_frames,
        "n_pulses": 0,
        "n_matched": 0,
        "status": f"no TTL: frame_clock = {timing.frame_clock}",
        "frame_pts": "used" if timing.frame_clock == "video" else "not used: frame_clock = rate",
        "notes": "; ".join(timing.notes),
    }


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
        label[rows] = alignment.label
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


# --------------------------------------------------------------------------------------------
# NWB and QC inputs


def trial_outcomes(bpod: BpodSession, meta: BpodMeta) -> np.ndarray:
    """``(n_trials,) str``: the first outcome rule whose state the trial visited, else 'unknown'."""
    outcome = np.full(bpod.n_trials, "unknown", dtype=object)
    decided = np.zeros(bpod.n_trials, dtype=bool)
    for rule in meta.outcomes:
        visited = np.isfinite(bpod.first_state_onset_s(rule.state)) & ~decided
        outcome[visited] = rule.outcome
        decided |= visited
    return outcome.astype(str)


CONTENT_CONFIG_SECTIONS = ("schema_version", "verification", "synchronization", "assembly")
"""Configuration keys that change what the NWB file holds; only they enter its identifier.

``ingestion`` (decode time limit, probe cache), ``finalization`` (validation, QC, provenance)
and ``execution`` (log level, batch policy) change how a run goes, never the file's content.
"""


def session_identifier(ctx: SessionContext) -> str:
    """``<identifier>-<12 hex>``, stable per session and content-relevant configuration.

    ``<identifier>`` is the metadata ``identifier`` (``<subject>-<session>`` when unset); the hex
    digits are the start of a SHA-256 of the :data:`CONTENT_CONFIG_SECTIONS` of the
    configuration, so that a different log level or validation setting gives the same identifier
    while different synchronization or assembly settings (another file) give another one.
    """
    base = ctx.metadata.identifier or f"{ctx.subject}-{ctx.session}"
    return f"{base}-{ctx.config.config_hash(CONTENT_CONFIG_SECTIONS)[:12]}"


def metadata_file_defining(ctx: SessionContext, *keys: str) -> Path:
    """The metadata file whose value of ``keys`` (a TOML key path) the merged metadata holds.

    Files merge with later ones winning, so this is the last file of the hierarchy that sets the
    key; ``session.toml`` when none does (that is where a missing session key belongs).
    """
    files = metadata_files(ctx.workspace.raw, ctx.subject, ctx.session)
    for path in reversed(files):
        try:
            node: Any = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue  # it parsed when the metadata was loaded; a file changed since is not ours
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            return path
    return ctx.raw_dir / "session.toml"


def session_start_time(ctx: SessionContext) -> datetime:
    """Wall-clock time of reference t=0, with the UTC offset the metadata gives.

    Raises
    ------
    MetadataError
        ``session_start_time`` is missing, or has no UTC offset: a naive time would take the
        processing machine's time zone, so the same raw data would give different files on
        different machines. The message names the metadata file and the key.
    """
    start = ctx.metadata.session_start_time
    source = metadata_file_defining(ctx, "session_start_time")
    example = "session_start_time = 2026-05-01T10:00:00+02:00 (the wall-clock time of DAQ t=0)"
    if start is None:
        raise MetadataError(
            f"{source}: key 'session_start_time' is missing; the NWB file needs the wall-clock "
            "time of reference t=0",
            hint=f"add it to {source.name}, with the UTC offset of the lab: {example}",
            path=source,
        )
    if start.tzinfo is None or start.utcoffset() is None:
        raise MetadataError(
            f"{source}: key 'session_start_time' = {start.isoformat()} has no UTC offset; "
            "w2t-bkin does not guess the time zone (the processing machine's zone would make "
            "the file depend on where it was processed)",
            hint=f"give the lab's offset, e.g. {example}, or a UTC time ending in Z",
            path=source,
        )
    return start


def build_assembly(
    ctx: SessionContext, inputs: IngestedInputs, synced: SyncedSession
) -> SessionAssembly:
    """Everything the NWB writer needs, on the reference clock."""
    from w2t_bkin.nwb.assembly import CameraAssembly, SessionAssembly, TrialsAssembly

    cameras = []
    clock = synced.reference_clock_description
    untimed = [f"{k} ({t.frame_clock})" for k, t in synced.cameras.items() if t.alignment is None]
    if inputs.verified.ttl and untimed:
        # The reference clock is the DAQ, but these cameras have no frame TTL: say so wherever
        # the clock is described, so no reader assumes their times are on it.
        clock += (
            f" Exception: camera(s) {', '.join(untimed)} have no frame TTL; their frame times "
            "are on their own clock from 0 s at their first frame, NOT aligned to this "
            "reference clock."
        )
    for camera_id, timing in synced.cameras.items():
        meta = ctx.metadata.camera(camera_id)
        cameras.append(
            CameraAssembly(
                camera_id=camera_id,
                frame_times_s=timing.frame_times_s,
                frame_clock=timing.frame_clock,
                videos=inputs.verified.videos.get(camera_id),
                pose=inputs.pose.get(camera_id),
                description=meta.description or f"camera {camera_id}",
                device_name=meta.device,
                frame_has_pulse=(
                    timing.alignment.frame_has_pulse if timing.alignment is not None else None
                ),
            )
        )
    trials = None
    bpod_meta = ctx.metadata.bpod
    if inputs.bpod is not None and synced.trials is not None and bpod_meta is not None:
        trials = TrialsAssembly(
            bpod=inputs.bpod,
            to_reference=synced.trials.to_reference,
            alignment_label=synced.trials.label,
            trial_type_names={int(k): v for k, v in bpod_meta.trial_type_names.items()},
            outcome=trial_outcomes(inputs.bpod, bpod_meta),
            actions=dict(bpod_meta.actions),
        )
    return SessionAssembly(
        metadata=ctx.metadata,
        session_start_time=session_start_time(ctx),
        reference_clock_description=clock,
        identifier=session_identifier(ctx),
        ttl_channels=tuple(inputs.verified.ttl.values()),
        cameras=tuple(cameras),
        trials=trials,
        alignment_stats=tuple(synced.stats),
    )


_QC_STATUS = {"exact": "ok", "repaired": "warn", "mismatch": "warn"}


def _frames_counted_by(videos: CameraVideos | None) -> str:
    """How the camera's frames were counted: the probe methods of its chunks, or the pose file."""
    if videos is None:
        return "pose file (no video)"
    return "+".join(dict.fromkeys(chunk.method for chunk in videos.chunks))


def qc_inputs(
    ctx: SessionContext,
    inputs: IngestedInputs | None,
    synced: SyncedSession | None,
    findings: list[dict[str, Any]] | None,
    warnings: list[str],
    *,
    status: str = "succeeded",
    failed_phase: str | None = None,
    error: str | None = None,
    completed_phases: tuple[str, ...] | None = None,
) -> QCInputs:
    """Plain data for the QC report.

    ``findings`` is None when validation did not run; ``inputs`` and ``synced`` are None when
    the session failed before ingestion or synchronization. ``status``, ``failed_phase``,
    ``error`` and ``completed_phases`` (None: all) describe how the run ended, so that the
    report can tell "not reached" from "nothing to show".
    """
    from w2t_bkin.nwb.qc import QCInputs

    frame_checks = []
    for camera_id, timing in (synced.cameras if synced is not None else {}).items():
        a = timing.alignment
        videos = inputs.verified.videos.get(camera_id) if inputs is not None else None
        frame_checks.append(
            {
                "camera_id": camera_id,
                "n_video_frames": timing.n_frames,
                "n_pulses": a.n_pulses if a is not None else 0,
                "n_matched": int(np.count_nonzero(a.frame_has_pulse)) if a is not None else 0,
                "n_dropped": a.n_dropped if a is not None else 0,
                "dropped_frames": a.dropped_frames.tolist() if a is not None else [],
                "n_spurious": int(a.spurious_pulse_idx.size) if a is not None else 0,
                "n_missing": int(a.missing_pulse_frame_idx.size) if a is not None else 0,
                "status": _QC_STATUS[a.status] if a is not None else "no TTL",
                "frame_clock": timing.frame_clock,
                "frames_counted_by": _frames_counted_by(videos),
            }
        )
    trial_alignment = None
    if synced is not None and synced.trials is not None:
        t = synced.trials
        finite = np.isfinite(t.residuals_s)
        trial_alignment = {
            "trial_idx": np.arange(t.label.size),
            "offsets_s": t.offsets_s,
            "residuals_ms": t.residuals_s[finite] * 1e3,
            "labels": t.label.tolist(),
            "drift_ppm": t.to_reference.drift_ppm,
            "offset_s": t.to_reference.offset_s,
        }
    pose_confidence = {
        camera_id: {
            "keypoint_names": list(pose.keypoint_names),
            "individual_names": list(pose.individual_names),
            "confidence": pose.confidence,
            # A keypoint is missing in a frame when it has no position: SLEAP files without
            # scores have positions but NaN confidence, which is "no score", not "missing".
            "missing_fraction": _missing_position_fraction(pose.positions),
        }
        for camera_id, pose in (inputs.pose if inputs is not None else {}).items()
    }
    ttl = inputs.verified.ttl if inputs is not None else {}
    return QCInputs(
        subject=ctx.subject,
        session=ctx.session,
        w2t_bkin_version=__version__,
        frame_checks=frame_checks,
        ttl_channels={k: v.times_s for k, v in ttl.items()},
        trial_alignment=trial_alignment,
        pose_confidence=pose_confidence,
        validation_findings=findings,
        warnings=warnings,
        alignment_stats=synced.stats if synced is not None else [],
        status=status,
        failed_phase=failed_phase,
        error=error,
        completed_phases=completed_phases,
    )


def _missing_position_fraction(positions: np.ndarray) -> np.ndarray:
    """``(n_individuals, n_keypoints) float64``: fraction of frames without a position."""
    if positions.shape[0] == 0:
        return np.full(positions.shape[1:3], np.nan)
    missing = np.isnan(positions).any(axis=-1)  # (n_frames, n_individuals, n_keypoints)
    return np.asarray(missing.mean(axis=0), dtype=np.float64)
