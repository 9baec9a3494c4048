"""Processing one session: raw files in, one NWB file and its sidecars out.

Phases, in order (each is one function below and logs its start, end and duration to the
session's ``pipeline.log``):

configuration → discovery → verification → pose generation → ingestion → synchronization →
assembly → finalization.

A failing phase stops the run with an error that names the phase, the file and the fix: any
exception becomes a :class:`PhaseError` (an unexpected one keeps its traceback in
``pipeline.log``; the console shows it only with ``--debug``). The :class:`SessionResult` lists
outputs, statistics and warnings either way.

Outputs and re-runs
-------------------
Every run writes ``pipeline.log`` and ``status.json`` (status, failed phase, error, outputs of
this run) and, unless the configuration turns them off, ``qc/report.html`` and
``provenance.json`` carrying the run's status, also when it failed. The NWB file is written
under a hidden temporary name, validated, and only then renamed to
``sub-<subject>_ses-<session>.nwb``: no partial or invalid file ever appears at that path. A file
with blocking validation findings is kept as ``sub-<subject>_ses-<session>.invalid.nwb``.

Outputs of an earlier run never look current: before a run starts, the outputs of the earlier
run move into ``previous/`` (replacing it) when that run produced an NWB file, and are removed
otherwise (leftovers of a failed run). A successful run then removes ``previous/``; a failed run
keeps it, so the last good outputs survive without sitting where current ones belong.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import errno
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from w2t_bkin import __version__
from w2t_bkin.config import Config, load_workspace_config
from w2t_bkin.errors import (
    DataQualityWarning,
    IngestError,
    MetadataError,
    OutputError,
    VerificationError,
    W2TError,
)
from w2t_bkin.io_utils import atomic_write_json
from w2t_bkin.metadata import (
    SessionMetadata,
    load_session_metadata,
    missing_dandi_fields,
)
from w2t_bkin.nwb.names import RESERVED_CAMERA_IDS
from w2t_bkin.session_pose import load_camera_pose, resolve_pose_models
from w2t_bkin.session_sync import (
    SyncedSession,
    build_assembly,
    metadata_file_defining,
    qc_inputs,
    session_start_time,
    synchronize_session,
)
from w2t_bkin.sources.bpod import BpodSession, read_bpod_session
from w2t_bkin.sources.pose import PoseData
from w2t_bkin.sources.ttl import TTLChannel, TTLFormat, load_ttl_channel, ttl_format_of
from w2t_bkin.sources.video import CameraVideos, probe_camera
from w2t_bkin.workspace.discovery import SessionFiles, require_session_files
from w2t_bkin.workspace.layout import Workspace, open_workspace

log = logging.getLogger(__name__)
T = TypeVar("T")

PHASES = (
    "configuration",
    "discovery",
    "verification",
    "pose generation",
    "ingestion",
    "synchronization",
    "assembly",
    "finalization",
)


WRITING_PHASES = frozenset({"assembly", "finalization"})
"""Phases that write outputs; an OS error elsewhere happened while reading an input."""

PREVIOUS_DIR = "previous"
"""Where a failed run moves the outputs of the earlier successful run (see the module notes)."""


class PhaseError(W2TError):
    """A phase failed; wraps the original error and names the phase."""

    def __init__(self, phase: str, cause: W2TError) -> None:
        self.phase = phase
        self.cause = cause
        self.exit_code = cause.exit_code
        super().__init__(f"{phase} failed: {cause.message}", hint=cause.hint, path=cause.path)


class UnexpectedError(W2TError):
    """An exception w2t-bkin did not raise on purpose (a bug, or an unforeseen input)."""

    exit_code = 70


@dataclass
class SessionResult:
    """What a session run produced.

    ``warnings`` are data-quality warnings (:class:`DataQualityWarning`); ``other_warnings``
    every other warning raised during the run (libraries, deprecations), also in pipeline.log.
    """

    subject: str
    session: str
    status: str = "pending"  # succeeded | failed
    outputs: dict[str, Path] = field(default_factory=dict)
    stats: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    other_warnings: list[str] = field(default_factory=list)
    phase_durations_s: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    failed_phase: str | None = None
    exit_code: int = 0
    previous_outputs: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


# --------------------------------------------------------------------------------------------
# intermediate products of the phases


@dataclass(frozen=True)
class SessionContext:
    workspace: Workspace
    subject: str
    session: str
    config: Config
    metadata: SessionMetadata

    @property
    def raw_dir(self) -> Path:
        return self.workspace.session_dir(self.subject, self.session)

    @property
    def processed_dir(self) -> Path:
        return self.workspace.processed_dir(self.subject, self.session)

    @property
    def nwb_path(self) -> Path:
        return self.processed_dir / nwb_file_name(self.subject, self.session)


def nwb_file_name(subject: str, session: str) -> str:
    return f"sub-{subject}_ses-{session}.nwb"


def invalid_nwb_path(nwb_path: Path) -> Path:
    """Where a file with blocking validation findings is kept: ``<stem>.invalid.nwb``."""
    return nwb_path.with_name(f"{nwb_path.stem}.invalid.nwb")


@dataclass(frozen=True)
class VerifiedInputs:
    """Cheap reads done before expensive work: video probes, TTL channels, Bpod files."""

    files: SessionFiles
    videos: dict[str, CameraVideos | None]
    ttl: dict[str, TTLChannel]
    bpod: BpodSession | None = None


@dataclass(frozen=True)
class IngestedInputs:
    verified: VerifiedInputs
    pose: dict[str, PoseData]
    bpod: BpodSession | None


# --------------------------------------------------------------------------------------------
# phases


def load_context(
    root: Path, subject: str, session: str, config_path: Path | None
) -> SessionContext:
    """Configuration: read configuration.toml and the merged, validated session metadata."""
    workspace = open_workspace(root)
    config = load_workspace_config(root, config_path)
    metadata = load_session_metadata(workspace.raw, subject, session)
    return SessionContext(workspace, subject, session, config, metadata)


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


def check_output_folder(folder: Path) -> None:
    """Create ``folder`` if needed and make sure a file can be created in it.

    Raises
    ------
    OutputError
        The folder (or the nearest existing parent, when it cannot be created) is not writable
        or not a folder; the message names it.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".w2t-write-check.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), folder)
        reason = exc.strerror or str(exc)
        if not blocker.is_dir():
            problem = f"{blocker} is a file, not a folder"
        elif blocker == folder:
            problem = f"the folder is not writable ({reason})"
        else:
            problem = f"it cannot be created: {blocker} is not writable ({reason})"
        raise OutputError(
            f"output folder {folder}: {problem}",
            hint=f"make {blocker} writable for this user (e.g. chmod u+w {blocker}) or process "
            "the session in a workspace you may write to",
            path=folder,
        ) from exc


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
            warnings.warn(
                f"camera {camera.id!r} has frame_clock = {clock!r} in a session whose reference "
                f"clock is the TTL/DAQ clock ({', '.join(sorted(ttl))}): its frame times start at "
                "0 s on its own clock and are NOT aligned to the DAQ; give it a frame TTL "
                "(ttl_id) to align it",
                DataQualityWarning,
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


def generate_pose(ctx: SessionContext) -> None:
    """Pose generation: check the declared ``[pose.models]`` (paths exist, DLC configs read).

    Pose estimation is not run by this version: existing outputs are read through
    ``[pose.cameras.<id>].paths``; a camera's model gives its skeleton and provenance.
    """
    for model in resolve_pose_models(ctx.metadata.pose, ctx.workspace.models).values():
        log.info("pose %s; using existing outputs (generation not run)", model.describe())


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


def ingest(ctx: SessionContext, verified: VerifiedInputs) -> IngestedInputs:
    """Ingestion: read pose outputs per camera (chunk-matched, frame-checked).

    The Bpod files are read in verification, where their state names are checked.
    """
    pose: dict[str, PoseData] = {}
    models = resolve_pose_models(ctx.metadata.pose, ctx.workspace.models)
    for camera_id, pose_meta in ctx.metadata.pose.cameras.items():
        paths = verified.files.pose.get(camera_id, [])
        if not paths:
            continue
        pose[camera_id] = load_camera_pose(
            camera_id,
            paths,
            pose_meta,
            ctx.metadata.pose,
            verified.videos.get(camera_id),
            policy=ctx.config.verification.pose_frame_policy,
            model=models.get(pose_meta.model_id) if pose_meta.model_id else None,
        )
    return IngestedInputs(verified, pose, verified.bpod)


def synchronize(ctx: SessionContext, inputs: IngestedInputs) -> SyncedSession:
    """Synchronization: frame times per camera and Bpod trials on the reference clock."""
    return synchronize_session(ctx.metadata, ctx.config, inputs)


def assemble(ctx: SessionContext, inputs: IngestedInputs, synced: SyncedSession) -> Path:
    """Assembly: build the NWB file and write it completely under a temporary name.

    Finalization validates the temporary file and only then renames it to the output path.
    """
    from w2t_bkin.nwb.assembly import stage_nwb  # pynwb is loaded only when writing

    assembly = build_assembly(ctx, inputs, synced)
    return stage_nwb(assembly, ctx.nwb_path, ctx.config.assembly)


def finalize(ctx: SessionContext, run: SessionRun, result: SessionResult) -> None:
    """Finalization: validate, publish the NWB file, write alignment stats, QC and provenance.

    The NWB file is renamed from its temporary name to the output path only when validation
    finds nothing blocking (or ``finalization.fail_on_critical`` is false); otherwise it is
    kept as ``<stem>.invalid.nwb`` and the phase fails (QC and provenance are then written by
    the driver, with the failed status).
    """
    from w2t_bkin.nwb.io import publish_file

    assert run.staged_nwb is not None and run.synced is not None
    staged, out = run.staged_nwb, ctx.processed_dir
    result.outputs["alignment_stats"] = atomic_write_json(
        out / "alignment_stats.json", {"streams": run.synced.stats}
    )
    if ctx.config.finalization.validate_nwb:
        from w2t_bkin.nwb.validation import raise_for_blocking, validate_nwb, write_validation_json

        report = validate_nwb(staged, config=ctx.config.finalization.inspector_config)
        blocked = not report.is_clean and ctx.config.finalization.fail_on_critical
        # validation.json names the file it describes where that file ends up.
        kept_at = invalid_nwb_path(ctx.nwb_path) if blocked else ctx.nwb_path
        report = dataclasses.replace(report, path=kept_at)
        result.outputs["validation"] = write_validation_json(report, out / "validation.json")
        run.findings = [dict(f) for f in report.findings]
        if blocked:
            run.staged_nwb = None  # renamed now, or removed by publish_file if that fails
            result.outputs["invalid_nwb"] = publish_file(staged, kept_at)
            raise_for_blocking(report, kept_at=kept_at)
    run.staged_nwb = None
    result.outputs["nwb"] = publish_file(staged, ctx.nwb_path)
    if ctx.config.finalization.qc_report:
        result.outputs["qc_report"] = write_qc(run, result, status="succeeded")
    if ctx.config.finalization.provenance:
        result.outputs["provenance"] = write_provenance(
            run, result, status={"status": "succeeded"}, checksum_inputs=None
        )


# --------------------------------------------------------------------------------------------
# sidecars (shared by succeeded and failed runs)


@dataclass
class SessionRun:
    """What the phases of one run have produced so far; a failed run's QC and provenance use it."""

    started_at: datetime
    folder: Path
    ctx: SessionContext | None = None
    files: SessionFiles | None = None
    verified: VerifiedInputs | None = None
    inputs: IngestedInputs | None = None
    synced: SyncedSession | None = None
    staged_nwb: Path | None = None
    findings: list[dict[str, Any]] | None = None


def write_qc(run: SessionRun, result: SessionResult, *, status: str) -> Path:
    """``qc/report.html`` with what the run produced and how it ended."""
    from w2t_bkin.nwb.qc import QCInputs, write_qc_report

    failed = status != "succeeded"
    outcome: dict[str, Any] = {
        "status": status,
        "failed_phase": result.failed_phase if failed else None,
        "error": result.error if failed else None,
        "completed_phases": tuple(result.phase_durations_s) if failed else None,
    }
    path = run.folder / "qc" / "report.html"
    ctx = run.ctx
    if ctx is None:  # the configuration or metadata could not be loaded
        return write_qc_report(QCInputs(result.subject, result.session, **outcome), path)
    inputs = run.inputs
    if inputs is None and run.verified is not None:  # failed in ingestion: TTL and Bpod exist
        inputs = IngestedInputs(run.verified, {}, run.verified.bpod)
    qc = qc_inputs(ctx, inputs, run.synced, run.findings, result.warnings, **outcome)
    return write_qc_report(qc, path)


def write_provenance(
    run: SessionRun,
    result: SessionResult,
    *,
    status: dict[str, Any],
    checksum_inputs: bool | None,
) -> Path:
    """``provenance.json`` of this run; ``checksum_inputs`` None: as the configuration says."""
    from w2t_bkin.nwb.provenance import build_provenance
    from w2t_bkin.nwb.provenance import write_provenance as write

    ctx = run.ctx
    config = ctx.config if ctx is not None else None
    if checksum_inputs is None:
        checksum_inputs = config.finalization.checksum_inputs if config is not None else False
    prov = build_provenance(
        config=config,
        metadata=ctx.metadata if ctx is not None else None,
        inputs=run.files.all_inputs() if run.files is not None else [],
        outputs=[p for p in result.outputs.values() if p.is_file()],
        command_line=list(sys.argv),
        checksum_inputs=checksum_inputs,
        started_at=run.started_at,
        finished_at=datetime.now(UTC),
        status=status,
    )
    return write(prov, run.folder / "provenance.json")


def _status(result: SessionResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "failed_phase": result.failed_phase,
        "error": result.error,
        "exit_code": result.exit_code,
    }


def _write_failure_sidecars(
    run: SessionRun, result: SessionResult, session_log: SessionLog
) -> None:
    """Alignment stats, QC report and provenance of a failed run, each as far as it can go.

    Provenance of a failed run records input sizes and times without checksums: quick, and
    possible even when an input is unreadable (a common reason to fail).
    """
    config = run.ctx.config if run.ctx is not None else Config()
    steps: list[tuple[str, Callable[[], Path]]] = []
    if run.synced is not None and "alignment_stats" not in result.outputs:
        stats = {"streams": run.synced.stats}
        steps.append(
            (
                "alignment_stats",
                lambda: atomic_write_json(run.folder / "alignment_stats.json", stats),
            )
        )
    if config.finalization.qc_report:
        steps.append(("qc_report", lambda: write_qc(run, result, status=result.status)))
    if config.finalization.provenance:
        steps.append(
            (
                "provenance",
                lambda: write_provenance(
                    run, result, status=_status(result), checksum_inputs=False
                ),
            )
        )
    for name, write in steps:
        try:
            result.outputs[name] = write()
        except Exception as exc:  # a sidecar must not hide the error that failed the run
            session_log.write(
                logging.WARNING, "could not write %s of the failed run: %s", name, exc
            )


def _discard_staged(run: SessionRun, session_log: SessionLog) -> None:
    """Remove the temporary NWB file of a run that failed before publishing it."""
    if run.staged_nwb is None:
        return
    try:
        run.staged_nwb.unlink(missing_ok=True)
    except OSError as exc:
        session_log.write(logging.WARNING, "could not remove %s: %s", run.staged_nwb, exc)
    run.staged_nwb = None


OUTPUT_NAMES = (
    "alignment_stats.json",
    "validation.json",
    "provenance.json",
    "qc/report.html",
    "status.json",
    "pipeline.log",
)
"""Outputs of a run besides the NWB file (and ``<stem>.invalid.nwb``), relative to its folder."""


def set_aside_earlier_outputs(folder: Path, nwb_name: str) -> list[str]:
    """Before a run: move the earlier run's outputs out of the way; returns what was done.

    When the earlier run produced an NWB file, all its outputs move into ``previous/``
    (replacing it); otherwise they are leftovers of a failed run and are removed (``previous/``
    then still holds the last successful run). Temporary files of an interrupted write are
    removed. See :func:`settle_previous_outputs` for the end of the run.
    """
    from w2t_bkin.nwb.io import staged_name_pattern

    if not folder.is_dir():
        return []
    nwb = folder / nwb_name
    # Only our own outputs, reached without following a symlinked folder (e.g. qc/ -> elsewhere)
    candidates = [*(folder / name for name in OUTPUT_NAMES), invalid_nwb_path(nwb), nwb]
    earlier = [p for p in candidates if p.is_file() and not _under_symlink(p, folder)]
    partial = sorted(folder.glob(staged_name_pattern(nwb)))
    previous = folder / PREVIOUS_DIR
    names = ", ".join(str(p.relative_to(folder)) for p in earlier)
    try:
        for path in partial:
            path.unlink()
        if nwb not in earlier:
            for path in earlier:
                path.unlink()
            return [f"removed the outputs of an earlier failed run: {names}"] if earlier else []
        if previous.is_symlink() or previous.is_file():
            raise OSError(errno.EEXIST, "not a folder this run may replace", str(previous))
        if previous.is_dir():
            shutil.rmtree(previous)
        # the NWB file last: a crash midway leaves it in place, so the next run sets aside again
        for path in earlier:
            target = previous / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    except OSError as exc:
        raise OutputError(
            f"could not set aside the earlier outputs in {folder}: {exc}",
            path=folder,
            hint="move or delete the earlier outputs (and any file named 'previous') yourself, "
            "then run again; nothing was processed",
        ) from exc
    return [f"moved the outputs of the earlier run to {previous}: {names}"]


def _under_symlink(path: Path, folder: Path) -> bool:
    """Whether a folder between ``folder`` and ``path`` is a symlink."""
    parent = path.parent
    while parent != folder:
        if parent.is_symlink():
            return True
        parent = parent.parent
    return False


def checked_output_folder(root: Path, subject: str, session: str) -> Path:
    """``data/processed/<subject>/<session>`` after checking it is safe to write and clean.

    The workspace must exist and the IDs be valid. ``data/processed`` may be a symlink (outputs
    on another disk), but the subject and session folders must be real folders that lie
    outside the raw data: a run moves and removes its earlier outputs there.
    """
    workspace = open_workspace(root)
    folder = workspace.processed_dir(subject, session)
    for level in (folder.parent, folder):
        if level.is_symlink():
            raise OutputError(
                f"output folder {level} is a symlink (to {os.path.realpath(level)})",
                path=level,
                hint="a run replaces and removes its earlier outputs there; make it a real "
                "folder, or link data/processed as a whole instead",
            )
    raw = workspace.raw.resolve()
    real = Path(os.path.realpath(folder))
    if real == raw or raw in real.parents or real in raw.parents:
        raise OutputError(
            f"output folder {folder} resolves to {real}, which overlaps the raw data in {raw}",
            path=folder,
            hint="data/processed must not point into data/raw: raw data are never modified",
        )
    return folder


@contextlib.contextmanager
def session_lock(root: Path, subject: str, session: str) -> Iterator[None]:
    """Hold the session's lock for one run; another run of it is refused, not queued.

    An advisory ``flock`` on ``.w2t/locks/<subject>__<session>.lock``: the kernel releases it
    when the process ends, so a crash never leaves a stale lock.
    """
    import fcntl

    locks = Workspace(root).state / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    path = locks / f"{subject}__{session}.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise OutputError(
                f"session {subject}/{session} is being processed by another run ({holder})",
                path=path,
                hint="wait for that run to finish; its lock is released when it exits",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {datetime.now(UTC).isoformat()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def settle_previous_outputs(folder: Path, result: SessionResult, session_log: SessionLog) -> None:
    """After a run: a success supersedes ``previous/``; a failure keeps it and says so."""
    previous = folder / PREVIOUS_DIR
    if not previous.is_dir():
        return
    if not result.ok:
        result.previous_outputs = previous
        session_log.write(
            logging.WARNING, "this run failed; the last successful outputs are in %s", previous
        )
        return
    try:
        shutil.rmtree(previous)
    except OSError as exc:
        session_log.write(logging.WARNING, "could not remove %s: %s", previous, exc)
    else:
        session_log.write(logging.INFO, "removed %s (superseded by this run)", previous)


def _write_status(
    folder: Path, result: SessionResult, run: SessionRun, session_log: SessionLog
) -> None:
    """``status.json``: how this run ended and what it wrote."""
    data = {
        **_status(result),
        "subject": result.subject,
        "session": result.session,
        "w2t_bkin_version": __version__,
        "started_at": run.started_at,
        "finished_at": datetime.now(UTC),
        "phase_durations_s": result.phase_durations_s,
        "outputs": {name: str(path) for name, path in sorted(result.outputs.items())},
        "previous_outputs": result.previous_outputs,
        "warnings": result.warnings,
        "other_warnings": result.other_warnings,
    }
    try:
        result.outputs["status"] = atomic_write_json(folder / "status.json", data)
    except (W2TError, OSError) as exc:
        session_log.write(logging.WARNING, "could not write status.json: %s", exc)


# --------------------------------------------------------------------------------------------
# driver


def process_session(
    root: Path, subject: str, session: str, *, config_path: Path | None = None
) -> SessionResult:
    """Run every phase for one session and return its result (never raises W2TError).

    Any error in a phase is caught, logged to ``pipeline.log`` (with the traceback when it is
    unexpected) and returned in the result, so that a batch can continue with the next
    session. QC report, provenance and ``status.json`` are written either way.
    """
    result = SessionResult(subject, session)
    try:
        # Nothing is created or moved before the workspace, IDs, folder and lock are checked.
        processed = checked_output_folder(root, subject, session)
        with session_lock(root, subject, session):
            set_aside = set_aside_earlier_outputs(processed, nwb_file_name(subject, session))
            _run_phases(root, subject, session, config_path, result, processed, set_aside)
    except W2TError as exc:
        result.status = "failed"
        result.failed_phase = "configuration"
        result.error = str(exc)
        result.exit_code = exc.exit_code
        log.error("%s/%s: %s", subject, session, exc)
    return result


def _run_phases(
    root: Path,
    subject: str,
    session: str,
    config_path: Path | None,
    result: SessionResult,
    processed: Path,
    set_aside: list[str],
) -> None:
    """The phases of :func:`process_session`, with the session log and sidecars."""
    run = SessionRun(started_at=datetime.now(UTC), folder=processed)
    with _session_log(processed) as session_log, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        for message in set_aside:
            session_log.write(logging.INFO, "%s", message)

        def phase(name: str, step: Callable[[], T]) -> T:
            return _phase(result, session_log, name, step)

        try:
            run.ctx = ctx = phase(
                "configuration", lambda: load_context(root, subject, session, config_path)
            )
            session_log.set_level(ctx.config.execution.log_level)
            run.files = files = phase("discovery", lambda: discover_files(ctx))
            run.verified = verified = phase("verification", lambda: verify_inputs(ctx, files))
            phase("pose generation", lambda: generate_pose(ctx))
            run.inputs = inputs = phase("ingestion", lambda: ingest(ctx, verified))
            run.synced = synced = phase("synchronization", lambda: synchronize(ctx, inputs))
            result.stats = list(synced.stats)
            run.staged_nwb = phase("assembly", lambda: assemble(ctx, inputs, synced))
            _collect_warnings(result, caught)
            phase("finalization", lambda: finalize(ctx, run, result))
            result.status = "succeeded"
        except PhaseError as exc:
            result.status = "failed"
            result.failed_phase = exc.phase
            result.error = str(exc)
            result.exit_code = exc.exit_code
            session_log.write(logging.ERROR, "%s/%s: %s", subject, session, exc)
        finally:
            if result.status == "pending":  # KeyboardInterrupt or SystemExit
                result.status = "interrupted"
            _collect_warnings(result, caught)
            for text in result.warnings:
                session_log.write(logging.WARNING, "data quality: %s", text)
            for text in result.other_warnings:
                session_log.write(logging.WARNING, "%s", text)
            if not result.ok:
                _discard_staged(run, session_log)
                _write_failure_sidecars(run, result, session_log)
            settle_previous_outputs(processed, result, session_log)
            _write_status(processed, result, run, session_log)
            session_log.write(logging.INFO, "session %s/%s %s", subject, session, result.status)
    if session_log.path is not None and session_log.path.is_file():
        result.outputs["pipeline_log"] = session_log.path


def _phase(result: SessionResult, session_log: SessionLog, name: str, step: Callable[[], T]) -> T:
    """Run one phase; any exception becomes a :class:`PhaseError` naming the phase."""
    log.info("phase %s: start", name)
    started = time.perf_counter()
    try:
        value = step()
    except Exception as exc:
        cause = as_w2t_error(exc, name, session_log.path)
        # pipeline.log gets the error (and the traceback of an unexpected one); the console
        # only with --debug: the CLI prints the error itself, once.
        session_log.write(
            logging.ERROR,
            "phase %s: failed after %.2f s: %s",
            name,
            time.perf_counter() - started,
            cause.message,
            exc_info=None if isinstance(exc, W2TError) else exc,
        )
        log.debug("phase %s failed", name, exc_info=exc, extra={CONSOLE_ONLY: True})
        raise PhaseError(name, cause) from exc
    duration = time.perf_counter() - started
    result.phase_durations_s[name] = duration
    log.info("phase %s: end (%.2f s)", name, duration)
    return value


def as_w2t_error(exc: Exception, phase: str, log_path: Path | None = None) -> W2TError:
    """``exc`` as a W2TError whose message names the file and whose hint gives the fix.

    OS errors are read errors (:class:`IngestError`) outside the writing phases and write errors
    (:class:`OutputError`) in them; anything else not raised on purpose is an
    :class:`UnexpectedError` (exit code 70).
    """
    if isinstance(exc, W2TError):
        return exc
    if isinstance(exc, OSError):
        return _os_error(exc, writing=phase in WRITING_PHASES)
    if isinstance(exc, MemoryError):
        return W2TError(
            "out of memory",
            hint="process this session on a machine with more memory, or with fewer sessions "
            "at once",
        )
    where = f"; the traceback is in {log_path}" if log_path is not None else ""
    return UnexpectedError(
        f"unexpected {type(exc).__name__}: {exc}",
        hint=f"this is likely a bug in w2t-bkin{where}; rerun with --debug to see it, and "
        "report it with pipeline.log",
    )


_H5_FILE_NAME = re.compile(r"name = '([^']+)'")


def _os_error(exc: OSError, *, writing: bool) -> W2TError:
    filename = exc.filename
    if filename is None:  # HDF5 names the file inside its message only
        found = _H5_FILE_NAME.search(str(exc))
        filename = found.group(1) if found else None
    target = f" {filename}" if filename is not None else ""
    path = Path(os.fsdecode(filename)) if filename is not None else None
    error_class: type[W2TError] = OutputError if writing else IngestError
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        if writing:
            return OutputError(
                f"permission denied writing{target}",
                hint="make the output folder writable for this user (e.g. chmod u+w FOLDER)",
                path=path,
            )
        return IngestError(
            f"permission denied reading{target}",
            hint=f"make the file readable for this user (e.g. chmod u+r {filename or 'FILE'}) "
            "or ask its owner to",
            path=path,
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(
            f"no space left on the device writing{target}",
            hint="free disk space in the output folder and run the session again",
            path=path,
        )
    action = "writing" if writing else "reading"
    return error_class(
        f"{action}{target} failed: {exc.strerror or exc}",
        hint="check that the file exists, is complete, and that its disk is healthy",
        path=path,
    )


def _collect_warnings(result: SessionResult, caught: list[warnings.WarningMessage]) -> None:
    """Data-quality warnings (sorted, unique) and every other warning (unique, in order)."""
    quality = [str(w.message) for w in caught if issubclass(w.category, DataQualityWarning)]
    other = [
        f"{w.category.__name__}: {w.message} ({Path(w.filename).name}:{w.lineno})"
        for w in caught
        if not issubclass(w.category, DataQualityWarning)
    ]
    result.warnings = sorted(set(quality))
    result.other_warnings = list(dict.fromkeys(other))


# --------------------------------------------------------------------------------------------
# pipeline.log

CONSOLE_ONLY = "w2t_console_only"
"""``extra`` key of records meant for the console only (the --debug traceback)."""


class _SessionLogFilter(logging.Filter):
    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level and not getattr(record, CONSOLE_ONLY, False)


@dataclass
class SessionLog:
    """The ``pipeline.log`` of one run.

    It receives every ``w2t_bkin`` record at the configured level, plus records written to it
    alone with :meth:`write`: the run's outcome, warnings and tracebacks, which the CLI reports
    itself (once) or shows only with ``--debug``.
    """

    handler: logging.Handler
    path: Path | None
    level_filter: _SessionLogFilter

    def set_level(self, level: str) -> None:
        self.level_filter.level = logging.getLevelName(level)

    def write(
        self, level: int, msg: str, *args: object, exc_info: BaseException | None = None
    ) -> None:
        """Write one record to pipeline.log only (not to the console)."""
        info = (type(exc_info), exc_info, exc_info.__traceback__) if exc_info is not None else None
        self.handler.handle(log.makeRecord(log.name, level, __file__, 0, msg, args, info))


@contextlib.contextmanager
def _session_log(folder: Path) -> Iterator[SessionLog]:
    """Write every w2t_bkin log record of this run to ``folder/pipeline.log``.

    When the folder cannot be written the log goes nowhere; verification then fails with an
    error naming the folder (:func:`check_output_folder`).
    """
    logger = logging.getLogger("w2t_bkin")
    path: Path | None = folder / "pipeline.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(folder / "pipeline.log", mode="w")
    except OSError:
        handler, path = logging.NullHandler(), None
    level_filter = _SessionLogFilter()
    handler.addFilter(level_filter)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.DEBUG:
        logger.setLevel(logging.DEBUG)
    try:
        yield SessionLog(handler, path, level_filter)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        handler.close()


__all__ = ["PHASES", "PhaseError", "SessionResult", "process_session"]
