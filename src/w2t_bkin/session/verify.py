"""Discovery and verification phases: every file found, every cheap check made.

Nothing here decodes video or parses pose: a session with a problem fails in seconds, before
any expensive work.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ParamSpec, TypeVar

from w2t_bkin.errors import (
    IngestError,
    MetadataError,
    VerificationError,
    W2TError,
    warn_data_quality,
)
from w2t_bkin.metadata import CameraMeta, TTLMeta, missing_dandi_fields
from w2t_bkin.model.bpod import BpodSession
from w2t_bkin.model.ttl import TTLChannel, TTLFormat
from w2t_bkin.model.video import CameraVideos
from w2t_bkin.nwb.names import RESERVED_CAMERA_IDS
from w2t_bkin.session.context import SessionContext, metadata_file_defining, session_start_time
from w2t_bkin.session.failures import as_w2t_error
from w2t_bkin.session.outputs import check_output_folder
from w2t_bkin.sources.bpod import read_bpod_session
from w2t_bkin.sources.ttl import load_ttl_channel, ttl_format_of
from w2t_bkin.sources.video import probe_camera
from w2t_bkin.workspace.discovery import SessionFiles, require_session_files

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class VerifiedInputs:
    """Cheap reads done before expensive work: video probes, TTL channels, Bpod files."""

    files: SessionFiles
    videos: dict[str, CameraVideos | None]
    ttl: dict[str, TTLChannel]
    bpod: BpodSession | None = None


@dataclass
class Findings:
    """Where the verification checks put the errors they find.

    A run (``collect=False``) raises the first error where it is found, so the phase stops
    there with the original exception. The preflight (``collect=True``) keeps every error in
    ``errors`` and goes on past it, so that one call reports every problem of a session.
    """

    collect: bool
    errors: list[W2TError] = field(default_factory=list)

    def add(self, error: W2TError) -> None:
        if not self.collect:
            raise error
        self.errors.append(error)

    def attempt(self, step: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
        """``step(*args, **kwargs)``; when collecting, an error is kept and ``None`` returned."""
        if not self.collect:
            return step(*args, **kwargs)
        try:
            return step(*args, **kwargs)
        except Exception as exc:  # an unforeseen one too: the preflight reports, never crashes
            self.errors.append(as_w2t_error(exc, "verification"))
            return None


def discover_files(ctx: SessionContext) -> SessionFiles:
    """Discovery: resolve every glob of the metadata; missing required files fail here."""
    return require_session_files(ctx.raw_dir, ctx.metadata)


def verify_inputs(ctx: SessionContext, files: SessionFiles) -> VerifiedInputs:
    """Verification: metadata DANDI needs, output folder, names, clocks, videos, TTL, Bpod.

    Everything here is cheap (no decoding, no pose parsing) so that a session with a
    problem fails in seconds, before any expensive work. The first problem is raised; the
    preflight (:func:`check_inputs` collecting) reports them all.
    """
    return check_inputs(ctx, files, Findings(collect=False))


def check_inputs(
    ctx: SessionContext,
    files: SessionFiles,
    findings: Findings,
    *,
    check_outputs: bool = True,
    probe_videos: bool = True,
) -> VerifiedInputs:
    """The checks of :func:`verify_inputs`, in order, each error put in ``findings``.

    Parameters
    ----------
    check_outputs
        Check that the output folder can be written (this creates it): a run does, the
        preflight of ``data validate`` writes nothing.
    probe_videos
        Probe the video files (headers and frame counts); ``False`` leaves ``videos`` empty.
    """
    findings.attempt(check_dandi_fields, ctx)
    findings.attempt(session_start_time, ctx)  # present and with a UTC offset
    if check_outputs:
        findings.attempt(check_output_folder, ctx.processed_dir)
    findings.attempt(check_camera_ids, ctx)
    findings.attempt(check_inputs_readable, files)
    for camera in ctx.metadata.cameras:
        findings.attempt(check_frame_clock, camera)
    videos: dict[str, CameraVideos | None] = {}
    if probe_videos:
        videos = {
            camera.id: findings.attempt(_probe, ctx, files, camera.id)
            for camera in ctx.metadata.cameras
        }
    ttl: dict[str, TTLChannel] = {}
    # Channels whose problem is reported already: unreadable files, or (discovery's to report)
    # no files for a required channel. A run has stopped at either; the preflight goes on.
    reported = {m.id for m in ctx.metadata.TTLs if not m.optional and not files.ttls.get(m.id)}
    for meta in ctx.metadata.TTLs:
        paths = files.ttls.get(meta.id, [])
        if not paths:
            continue
        channel = findings.attempt(_read_ttl_channel, meta, paths)
        if channel is None:
            reported.add(meta.id)
        else:
            ttl[meta.id] = channel
    for camera in ctx.metadata.cameras:
        if camera.resolved_frame_clock != "ttl" or camera.ttl_id in set(ttl) | reported:
            continue
        if camera.optional and not files.cameras.get(camera.id):
            continue
        findings.add(
            VerificationError(
                f"camera {camera.id!r}: its frame TTL channel {camera.ttl_id!r} has no files",
                hint="add the TTL files, or declare frame_clock = 'video' / 'rate' if none exist",
            )
        )
    warn_unaligned_cameras(ctx, files, videos, ttl)
    bpod = findings.attempt(read_bpod_session, files.bpod) if files.bpod else None
    if bpod is not None:
        findings.attempt(check_bpod_state_names, ctx, bpod)
        findings.attempt(check_bpod_sync_rules, ctx, bpod, set(ttl) | reported)
    return VerifiedInputs(files, videos, ttl, bpod)


def _probe(ctx: SessionContext, files: SessionFiles, camera_id: str) -> CameraVideos | None:
    """The camera's video chunks probed (``None`` without video files)."""
    paths = files.cameras.get(camera_id, [])
    if not paths:
        return None
    cache_dir = ctx.workspace.cache / "video" if ctx.config.ingestion.cache_video_probes else None
    return probe_camera(
        camera_id,
        paths,
        decode_timeout_s=ctx.config.ingestion.video_decode_timeout_s,
        cache_dir=cache_dir,
    )


def _read_ttl_channel(meta: TTLMeta, paths: list[Path]) -> TTLChannel:
    _refuse_host_clock_log(meta.id, meta.format, paths)
    return load_ttl_channel(
        meta.id,
        paths,
        fmt=meta.format,
        column=meta.column,
        line=meta.line,
        polarity=meta.polarity,
        threshold=meta.threshold,
        description=meta.description or "",
    )


def check_frame_clock(camera: CameraMeta) -> None:
    """A camera needs a frame clock: its frame TTL (``ttl_id``), or 'video' or 'rate'."""
    if camera.resolved_frame_clock is None:
        raise MetadataError(
            f"camera {camera.id!r} has no ttl_id and no frame_clock",
            hint="set ttl_id to its frame TTL channel, or declare frame_clock = 'video' "
            "or 'rate' (with fps) when no TTL exists",
        )


def check_dandi_fields(ctx: SessionContext) -> None:
    """Raise when DANDI-required subject or session fields are missing; names the files."""
    missing = missing_dandi_fields(ctx.metadata)
    if not missing:
        return
    subject_toml = ctx.workspace.subject_dir(ctx.subject) / "subject.toml"
    session_toml = ctx.raw_dir / "session.toml"
    subject_fields = [m for m in missing if m.startswith("subject.")]
    session_fields = [m for m in missing if not m.startswith("subject.")]
    where = []
    if subject_fields:
        where.append(f"{', '.join(subject_fields)} in {subject_toml} ([subject] table)")
    if session_fields:
        where.append(f"{', '.join(session_fields)} in {session_toml}")
    raise MetadataError(
        f"metadata lacks fields DANDI requires: {'; '.join(where)}",
        hint='add them, e.g. [subject] sex = "F", species = "Mus musculus", age = "P90D" '
        'in subject.toml and session_description = "..." in session.toml',
        path=subject_toml if subject_fields else session_toml,
    )


def check_inputs_readable(files: SessionFiles) -> None:
    """Every input can be opened for reading; lists each file that cannot.

    Readers would otherwise report an unreadable file as a malformed one ("not an HDF5 file").
    """
    denied: list[str] = []
    for path in files.all_inputs():
        try:
            if path.is_dir():
                os.listdir(path)
            else:
                with open(path, "rb"):
                    pass
        except PermissionError:
            denied.append(str(path))
        except OSError as exc:
            raise as_w2t_error(exc, "verification") from exc
    if denied:
        raise IngestError(
            f"permission denied reading {len(denied)} input file(s):\n  " + "\n  ".join(denied),
            hint="make them readable for this user (e.g. chmod u+r FILE, or ask their owner), "
            "or run w2t-bkin as a user who may read them",
            path=denied[0],
        )


def check_camera_ids(ctx: SessionContext) -> None:
    """Camera ids must not collide with the names of objects the NWB file holds anyway."""
    clashing = sorted(c.id for c in ctx.metadata.cameras if c.id in RESERVED_CAMERA_IDS)
    if not clashing:
        return
    source = metadata_file_defining(ctx, "cameras")
    raise MetadataError(
        f"camera id(s) {', '.join(repr(c) for c in clashing)} in {source} name objects w2t-bkin "
        f"writes itself (reserved: {', '.join(sorted(RESERVED_CAMERA_IDS))})",
        hint="rename the camera ([[cameras]] id, and its [pose.cameras.<id>] table if any)",
        path=source,
    )


def warn_unaligned_cameras(
    ctx: SessionContext,
    files: SessionFiles,
    videos: dict[str, CameraVideos | None],
    ttl: dict[str, TTLChannel],
) -> None:
    """Warn about cameras on their own clock in a session whose reference is the TTL clock."""
    if not ttl:
        return
    for camera in ctx.metadata.cameras:
        clock = camera.resolved_frame_clock
        has_data = videos.get(camera.id) is not None or bool(files.pose.get(camera.id))
        if clock in ("video", "rate") and has_data:
            warn_data_quality(
                f"camera {camera.id!r} has frame_clock = {clock!r} in a session whose reference "
                f"clock is the TTL/DAQ clock ({', '.join(sorted(ttl))}): its frame times start at "
                "0 s on its own clock and are NOT aligned to the DAQ; give it a frame TTL "
                "(ttl_id) to align it",
                stacklevel=2,
            )


def check_bpod_state_names(ctx: SessionContext, bpod: BpodSession) -> None:
    """Every Bpod state the metadata names (sync signals, outcomes, actions) must exist.

    A misspelt state would otherwise leave its trials unaligned, their outcome 'unknown' or
    their actions empty, without any error.
    """
    meta = ctx.metadata.bpod
    if meta is None:
        return
    states = set(bpod.state_names)
    problems: list[str] = []
    sources: list[Path] = []

    def check(name: str, keys: tuple[str, ...], what: str) -> None:
        if name in states:
            return
        close = difflib.get_close_matches(name, bpod.state_names, n=1, cutoff=0.5)
        folded = [s for s in bpod.state_names if s.lower() == name.lower()]
        suggestions = folded or close
        fix = f"; did you mean {suggestions[0]!r}?" if suggestions else ""
        sources.append(metadata_file_defining(ctx, *keys))
        problems.append(f"{sources[-1]}: {what} = {name!r}{fix}")

    for sync_rule in meta.sync.trial_types:
        check(
            sync_rule.sync_signal,
            ("bpod", "sync", "trial_types"),
            f"bpod.sync.trial_types (trial_type {sync_rule.trial_type}) sync_signal",
        )
    for rule in meta.outcomes:
        check(rule.state, ("bpod", "outcomes"), f"bpod.outcomes (outcome {rule.outcome!r}) state")
    for state in meta.actions:
        check(state, ("bpod", "actions", state), "bpod.actions key")
    if problems:
        files = ", ".join(p.name for p in bpod.source_files)
        shown = ", ".join(bpod.state_names[:40]) + (" ..." if len(bpod.state_names) > 40 else "")
        raise MetadataError(
            f"metadata names Bpod state(s) that the Bpod file(s) {files} do not have:\n  "
            + "\n  ".join(problems),
            hint=f"use the exact state names of the Bpod files (states: {shown})",
            path=sources[0],
        )


def check_bpod_sync_rules(ctx: SessionContext, bpod: BpodSession, available: set[str]) -> None:
    """Bpod data need ``[[bpod.sync.trial_types]]`` rules, and each rule used a TTL with files.

    Without a rule no trial can be placed on the reference clock; synchronization would stop
    there, after the expensive work. ``available``: the TTL channels that have files (or
    whose lack of files is reported elsewhere).

    Raises
    ------
    MetadataError
        No rule at all, or a rule used by the session's trials names a channel without files.
    """
    meta = ctx.metadata.bpod
    if meta is None:
        return
    source = metadata_file_defining(ctx, "bpod")
    files = ", ".join(p.name for p in bpod.source_files)
    if not meta.sync.trial_types:
        channels = ", ".join(m.id for m in ctx.metadata.TTLs) or "none"
        raise MetadataError(
            f"{source}: Bpod data exist ({files}) but no [[bpod.sync.trial_types]] rule says "
            "which state emits the sync pulse, so no trial can be placed on the reference "
            f"clock (declared TTL channels: {channels})",
            hint="add one rule per trial type under [bpod], e.g. [[bpod.sync.trial_types]] "
            'trial_type = 1, sync_signal = "<Bpod state>", sync_ttl = "<TTL id>"',
            path=source,
        )
    used = {r.sync_ttl for r in meta.sync.trial_types if (bpod.trial_types == r.trial_type).any()}
    missing = sorted(used - available)
    if missing:
        raise MetadataError(
            f"{source}: bpod.sync.trial_types name sync TTL channel(s) "
            f"{', '.join(repr(m) for m in missing)} that have no files, and trials of {files} "
            "use them",
            hint="add the channel's files (see its [[TTLs]] paths), or fix sync_ttl",
            path=source,
        )


def _refuse_host_clock_log(channel_id: str, fmt: TTLFormat, paths: Sequence[Path]) -> None:
    """A Bonsai frame log is not a TTL channel: its times are the recording PC's wall clock.

    Read as pulses, its POSIX seconds (~1.7e9 s) would land on the DAQ reference clock as if
    recorded there; nothing in the session maps the PC clock onto the DAQ, so it is refused.
    """
    logs = [p for p in paths if ttl_format_of(p, fmt) == "bonsai"]
    if logs:
        raise VerificationError(
            f"TTL channel {channel_id!r}: {logs[0]} is a Bonsai frame log; its times are the "
            "Bonsai PC's wall clock (seconds since 1970), not pulses recorded on the acquisition "
            "clock, and nothing maps that clock onto the reference clock",
            path=logs[0],
            hint="use the camera's frame TTL/GPIO line as recorded by the DAQ as this channel, "
            "or remove the channel and declare the camera with frame_clock = 'video'",
        )
