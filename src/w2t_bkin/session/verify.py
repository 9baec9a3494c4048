"""Discovery and verification phases: every file found, every cheap check made.

Nothing here decodes video or parses pose: a session with a problem fails in seconds, before
any expensive work.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from w2t_bkin.errors import (
    IngestError,
    MetadataError,
    VerificationError,
    warn_data_quality,
)
from w2t_bkin.metadata import missing_dandi_fields
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


@dataclass(frozen=True)
class VerifiedInputs:
    """Cheap reads done before expensive work: video probes, TTL channels, Bpod files."""

    files: SessionFiles
    videos: dict[str, CameraVideos | None]
    ttl: dict[str, TTLChannel]
    bpod: BpodSession | None = None


def discover_files(ctx: SessionContext) -> SessionFiles:
    """Discovery: resolve every glob of the metadata; missing required files fail here."""
    return require_session_files(ctx.raw_dir, ctx.metadata)


def verify_inputs(ctx: SessionContext, files: SessionFiles) -> VerifiedInputs:
    """Verification: metadata DANDI needs, output folder, names, clocks, videos, TTL, Bpod.

    Everything here is cheap (no decoding, no pose parsing) so that a session with a
    problem fails in seconds, before any expensive work.
    """
    check_dandi_fields(ctx)
    session_start_time(ctx)  # present and with a UTC offset
    check_output_folder(ctx.processed_dir)
    check_camera_ids(ctx)
    check_inputs_readable(files)
    for camera in ctx.metadata.cameras:
        if camera.resolved_frame_clock is None:
            raise MetadataError(
                f"camera {camera.id!r} has no ttl_id and no frame_clock",
                hint="set ttl_id to its frame TTL channel, or declare frame_clock = 'video' "
                "or 'rate' (with fps) when no TTL exists",
            )
    cache_dir = ctx.workspace.cache / "video" if ctx.config.ingestion.cache_video_probes else None
    videos: dict[str, CameraVideos | None] = {}
    for camera in ctx.metadata.cameras:
        paths = files.cameras.get(camera.id, [])
        videos[camera.id] = (
            probe_camera(
                camera.id,
                paths,
                decode_timeout_s=ctx.config.ingestion.video_decode_timeout_s,
                cache_dir=cache_dir,
            )
            if paths
            else None
        )
    ttl: dict[str, TTLChannel] = {}
    for meta in ctx.metadata.TTLs:
        paths = files.ttls.get(meta.id, [])
        if not paths:
            continue
        _refuse_host_clock_log(meta.id, meta.format, paths)
        ttl[meta.id] = load_ttl_channel(
            meta.id,
            paths,
            fmt=meta.format,
            column=meta.column,
            line=meta.line,
            polarity=meta.polarity,
            threshold=meta.threshold,
            description=meta.description or "",
        )
    for camera in ctx.metadata.cameras:
        if camera.resolved_frame_clock == "ttl" and camera.ttl_id not in ttl:
            if camera.optional and videos.get(camera.id) is None:
                continue
            raise VerificationError(
                f"camera {camera.id!r}: its frame TTL channel {camera.ttl_id!r} has no files",
                hint="add the TTL files, or declare frame_clock = 'video' / 'rate' if none exist",
            )
    warn_unaligned_cameras(ctx, files, videos, ttl)
    bpod = read_bpod_session(files.bpod) if files.bpod else None
    if bpod is not None:
        check_bpod_state_names(ctx, bpod)
    return VerifiedInputs(files, videos, ttl, bpod)


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
