"""Processing one session: raw files in, one NWB file and its sidecars out.

Phases, in order (each is one function below and logs its start, end and duration to the
session's ``pipeline.log``):

configuration → discovery → verification → pose generation → ingestion → synchronization →
assembly → finalization.

A failing phase stops the run with an error that names the phase, the file and the fix; the
:class:`SessionResult` lists outputs, statistics and warnings either way.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from w2t_bkin.config import Config, load_workspace_config
from w2t_bkin.errors import (
    DataQualityWarning,
    MetadataError,
    VerificationError,
    W2TError,
)
from w2t_bkin.io_utils import atomic_write_json
from w2t_bkin.metadata import (
    SessionMetadata,
    load_session_metadata,
    missing_dandi_fields,
)
from w2t_bkin.session_pose import load_camera_pose, resolve_pose_models
from w2t_bkin.session_sync import SyncedSession, build_assembly, qc_inputs, synchronize_session
from w2t_bkin.sources.bpod import BpodSession, read_bpod_session
from w2t_bkin.sources.pose import PoseData
from w2t_bkin.sources.ttl import TTLChannel, load_ttl_channel
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


class PhaseError(W2TError):
    """A phase failed; wraps the original error and names the phase."""

    def __init__(self, phase: str, cause: W2TError) -> None:
        self.phase = phase
        self.cause = cause
        self.exit_code = cause.exit_code
        super().__init__(f"{phase} failed: {cause.message}", hint=cause.hint, path=cause.path)


@dataclass
class SessionResult:
    """What a session run produced."""

    subject: str
    session: str
    status: str = "pending"  # succeeded | failed
    outputs: dict[str, Path] = field(default_factory=dict)
    stats: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    phase_durations_s: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    failed_phase: str | None = None
    exit_code: int = 0

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
        return self.processed_dir / f"sub-{self.subject}_ses-{self.session}.nwb"


@dataclass(frozen=True)
class VerifiedInputs:
    """Cheap reads done before expensive work: video probes and TTL channels."""

    files: SessionFiles
    videos: dict[str, CameraVideos | None]
    ttl: dict[str, TTLChannel]


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
    """Verification: DANDI-required fields, video probes, TTL channels, clock declarations.

    Everything here is cheap (no decoding, no pose parsing) so that a session with a
    problem fails in seconds, before any expensive work.
    """
    missing = missing_dandi_fields(ctx.metadata)
    if missing:
        raise MetadataError(
            f"metadata lacks fields DANDI requires: {', '.join(missing)}",
            hint='add them to subject.toml / session.toml (e.g. sex = "F", age = "P90D")',
        )
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
        ttl[meta.id] = load_ttl_channel(
            meta.id,
            paths,
            fmt=meta.format,
            column=meta.column,
            line=meta.line,
            polarity=meta.polarity,
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
    return VerifiedInputs(files, videos, ttl)


def generate_pose(ctx: SessionContext) -> None:
    """Pose generation: check the declared ``[pose.models]`` (paths exist, DLC configs read).

    Pose estimation is not run by this version: existing outputs are read through
    ``[pose.cameras.<id>].paths``; a camera's model gives its skeleton and provenance.
    """
    for model in resolve_pose_models(ctx.metadata.pose, ctx.workspace.models).values():
        log.info("pose %s; using existing outputs (generation not run)", model.describe())


def ingest(ctx: SessionContext, verified: VerifiedInputs) -> IngestedInputs:
    """Ingestion: read pose outputs per camera (chunk-matched, frame-checked) and Bpod files."""
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
    bpod = read_bpod_session(verified.files.bpod) if verified.files.bpod else None
    return IngestedInputs(verified, pose, bpod)


def synchronize(ctx: SessionContext, inputs: IngestedInputs) -> SyncedSession:
    """Synchronization: frame times per camera and Bpod trials on the reference clock."""
    return synchronize_session(ctx.metadata, ctx.config, inputs)


def assemble(ctx: SessionContext, inputs: IngestedInputs, synced: SyncedSession) -> Path:
    """Assembly: build the NWB file and write it atomically to the processed folder."""
    from w2t_bkin.nwb.assembly import write_nwb  # pynwb is loaded only when writing

    assembly = build_assembly(ctx, inputs, synced)
    return write_nwb(assembly, ctx.nwb_path, ctx.config.assembly)


def finalize(
    ctx: SessionContext,
    inputs: IngestedInputs,
    synced: SyncedSession,
    result: SessionResult,
    started_at: datetime,
) -> None:
    """Finalization: alignment_stats.json, validation.json, provenance.json, qc/report.html."""
    out = ctx.processed_dir
    stats_path = atomic_write_json(out / "alignment_stats.json", {"streams": synced.stats})
    result.outputs["alignment_stats"] = Path(stats_path)
    findings: list[dict[str, Any]] | None = None  # None: validation did not run
    if ctx.config.finalization.validate_nwb:
        from w2t_bkin.nwb.validation import raise_for_blocking, validate_nwb, write_validation_json

        report = validate_nwb(ctx.nwb_path, config=ctx.config.finalization.inspector_config)
        result.outputs["validation"] = Path(write_validation_json(report, out / "validation.json"))
        findings = [dict(f) for f in report.findings]
        if ctx.config.finalization.fail_on_critical:
            raise_for_blocking(report)
    if ctx.config.finalization.qc_report:
        from w2t_bkin.nwb.qc import write_qc_report

        qc = qc_inputs(ctx, inputs, synced, findings, result.warnings)
        result.outputs["qc_report"] = Path(write_qc_report(qc, out / "qc" / "report.html"))
    if ctx.config.finalization.provenance:
        from w2t_bkin.nwb.provenance import build_provenance, write_provenance

        prov = build_provenance(
            config=ctx.config,
            metadata=ctx.metadata,
            inputs=inputs.verified.files.all_inputs(),
            outputs=[p for p in result.outputs.values() if p.exists()],
            command_line=list(sys.argv),
            checksum_inputs=ctx.config.finalization.checksum_inputs,
            started_at=started_at,
            finished_at=datetime.now(UTC),
        )
        result.outputs["provenance"] = Path(write_provenance(prov, out / "provenance.json"))


# --------------------------------------------------------------------------------------------
# driver


def process_session(
    root: Path, subject: str, session: str, *, config_path: Path | None = None
) -> SessionResult:
    """Run every phase for one session and return its result (never raises W2TError).

    Errors are caught per phase, logged to ``pipeline.log`` and returned in the result, so
    that a batch can continue with the next session.
    """
    result = SessionResult(subject, session)
    started_at = datetime.now(UTC)
    workspace = Workspace(root)
    processed = workspace.processed_dir(subject, session)
    with _session_log(processed, "INFO") as handler, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        try:
            ctx = _phase(
                result, "configuration", lambda: load_context(root, subject, session, config_path)
            )
            handler.setLevel(ctx.config.execution.log_level)
            files = _phase(result, "discovery", lambda: discover_files(ctx))
            verified = _phase(result, "verification", lambda: verify_inputs(ctx, files))
            _phase(result, "pose generation", lambda: generate_pose(ctx))
            inputs = _phase(result, "ingestion", lambda: ingest(ctx, verified))
            synced = _phase(result, "synchronization", lambda: synchronize(ctx, inputs))
            result.stats = list(synced.stats)
            nwb_path = _phase(result, "assembly", lambda: assemble(ctx, inputs, synced))
            result.outputs["nwb"] = nwb_path
            result.warnings += _warning_texts(caught)
            _phase(
                result, "finalization", lambda: finalize(ctx, inputs, synced, result, started_at)
            )
            result.status = "succeeded"
        except PhaseError as exc:
            result.status = "failed"
            result.failed_phase = exc.phase
            result.error = str(exc)
            result.exit_code = exc.exit_code
            log.error("%s/%s: %s", subject, session, exc)
        finally:
            result.warnings = sorted(set(result.warnings + _warning_texts(caught)))
            for text in result.warnings:
                log.warning("data quality: %s", text)
            log.info("session %s/%s %s", subject, session, result.status)
    if "pipeline_log" not in result.outputs and (processed / "pipeline.log").exists():
        result.outputs["pipeline_log"] = processed / "pipeline.log"
    return result


def _phase(result: SessionResult, name: str, run: Callable[[], T]) -> T:
    log.info("phase %s: start", name)
    started = time.perf_counter()
    try:
        value = run()
    except W2TError as exc:
        log.error("phase %s: failed after %.2f s", name, time.perf_counter() - started)
        raise PhaseError(name, exc) from exc
    except (OSError, MemoryError) as exc:
        log.exception("phase %s: failed", name)
        wrapped = W2TError(f"{type(exc).__name__}: {exc}", hint="check disk space and permissions")
        raise PhaseError(name, wrapped) from exc
    duration = time.perf_counter() - started
    result.phase_durations_s[name] = duration
    log.info("phase %s: end (%.2f s)", name, duration)
    return value


def _warning_texts(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, DataQualityWarning)]


@contextlib.contextmanager
def _session_log(folder: Path, level: str) -> Iterator[logging.Handler]:
    """Write every w2t_bkin log record of this run to ``folder/pipeline.log``."""
    logger = logging.getLogger("w2t_bkin")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(folder / "pipeline.log", mode="w")
    except OSError:
        handler = logging.NullHandler()
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.DEBUG:
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        handler.close()


__all__ = ["PHASES", "SessionResult", "process_session"]
