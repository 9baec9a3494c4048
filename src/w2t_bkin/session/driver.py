"""The session driver: every phase in order, each logged and timed, errors turned into results."""

from __future__ import annotations

import gc
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from w2t_bkin.errors import (
    DataQualityWarning,
    PhaseError,
    SessionBusyError,
    W2TError,
)
from w2t_bkin.facemotion.result import CameraMotion
from w2t_bkin.model.results import PHASES as PHASES
from w2t_bkin.model.results import SessionResult, SessionStatus
from w2t_bkin.runtime.capture import CONSOLE_ONLY, RunCapture, capture_run
from w2t_bkin.runtime.tasks import report_progress, run_phase
from w2t_bkin.session.assemble import assemble, fingerprint_inputs
from w2t_bkin.session.context import SessionContext, load_context, nwb_file_name
from w2t_bkin.session.facemotion import compute_facemotion
from w2t_bkin.session.failures import as_w2t_error
from w2t_bkin.session.finalize import finalize
from w2t_bkin.session.fingerprint import DigestWarmup, workspace_digest_cache
from w2t_bkin.session.generate import generate_pose
from w2t_bkin.session.ingest import IngestedInputs, ingest
from w2t_bkin.session.outputs import (
    checked_output_folder,
    session_lock,
    set_aside_earlier_outputs,
    settle_previous_outputs,
)
from w2t_bkin.session.sidecars import write_failure_sidecars, write_status
from w2t_bkin.session.state import SessionRun
from w2t_bkin.session.synchronize import SyncedSession, synchronize
from w2t_bkin.session.verify import discover_files, verify_inputs

# Named after the package, not this module: pipeline.log lines read "w2t_bkin.session: phase ..."
SESSION_LOGGER = "w2t_bkin.session"
log = logging.getLogger(SESSION_LOGGER)


T = TypeVar("T")


def _discard_staged(run: SessionRun, session_log: RunCapture) -> None:
    """Remove the temporary NWB file of a run that failed before publishing it."""
    if run.staged_nwb is None:
        return
    try:
        run.staged_nwb.unlink(missing_ok=True)
    except OSError as exc:
        session_log.write(logging.WARNING, "could not remove %s: %s", run.staged_nwb, exc)
    run.staged_nwb = None


def process_session(
    root: Path,
    subject: str,
    session: str,
    *,
    config_path: Path | None = None,
    invocation: Sequence[str] | None = None,
) -> SessionResult:
    """Run every phase for one session and return its result (never raises W2TError).

    Any error in a phase is caught, logged to ``pipeline.log`` (with the traceback when it is
    unexpected) and returned in the result, so that a batch can continue with the next
    session. QC report, provenance and ``status.json`` are written either way.

    Parameters
    ----------
    invocation
        What the user asked for, recorded in ``provenance.json`` as ``command_line`` (the CLI
        passes its command line; a batch passes the same one to every session, whichever
        worker runs it). ``None``: a description of this call.
    """
    result = SessionResult(subject, session)
    if invocation is None:
        invocation = [f"w2t_bkin.process_session({str(root)!r}, {subject!r}, {session!r})"]
    try:
        # Nothing is created or moved before the workspace, IDs, folder and lock are checked.
        processed = checked_output_folder(root, subject, session)
        with session_lock(root, subject, session):
            set_aside = set_aside_earlier_outputs(processed, nwb_file_name(subject, session))
            run = SessionRun(
                started_at=datetime.now(UTC), folder=processed, invocation=tuple(invocation)
            )
            _run_phases(root, subject, session, config_path, result, run, set_aside)
    except SessionBusyError as exc:
        result.status = SessionStatus.BUSY
        result.error = str(exc)
        result.exit_code = exc.exit_code
        log.info("%s/%s: %s", subject, session, exc)
    except W2TError as exc:
        result.status = SessionStatus.FAILED
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
    run: SessionRun,
    set_aside: list[str],
) -> None:
    """The phases of :func:`process_session`, with the session log and sidecars."""
    processed = run.folder
    with capture_run(processed / "pipeline.log", logger_name=SESSION_LOGGER) as session_log:
        for message in set_aside:
            session_log.write(logging.INFO, "%s", message)

        def phase(name: str, step: Callable[[], T]) -> T:
            return _phase(result, session_log, name, step)

        warmup: DigestWarmup | None = None
        try:
            run.ctx = ctx = phase(
                "configuration", lambda: load_context(root, subject, session, config_path)
            )
            session_log.set_level(ctx.config.execution.log_level)
            run.files = files = phase("discovery", lambda: discover_files(ctx))
            run.verified = verified = phase("verification", lambda: verify_inputs(ctx, files))
            run.verified = verified = phase("pose generation", lambda: generate_pose(ctx, verified))
            # the inputs are known: hash them while ingestion and synchronization compute
            warmup = DigestWarmup(
                verified.files.all_inputs(), workspace_digest_cache(ctx.workspace.cache)
            )
            run.inputs = inputs = phase("ingestion", lambda: ingest(ctx, verified))
            run.synced = synced = phase("synchronization", lambda: synchronize(ctx, inputs))
            result.stats = list(synced.stats)
            motion = phase("facial motion", lambda: compute_facemotion(ctx, inputs.verified))
            run.staged_nwb = phase(
                "assembly", lambda: _stage(run, ctx, inputs, synced, motion, warmup)
            )
            # The staged file holds the pose now: finalization validates and reports with the
            # largest arrays freed (pynwb's objects of the written file form reference cycles).
            inputs.release_pose_positions()
            gc.collect()
            collect_warnings(result, session_log.warnings_snapshot())
            phase("finalization", lambda: finalize(ctx, run, result, session_log))
            result.status = SessionStatus.SUCCEEDED
        except PhaseError as exc:
            result.status = SessionStatus.FAILED
            result.failed_phase = exc.phase
            result.error = str(exc)
            result.exit_code = exc.exit_code
            result.transient = exc.cause.transient
            session_log.write(logging.ERROR, "%s/%s: %s", subject, session, exc)
        finally:
            if warmup is not None:  # a failed or interrupted run: no more hashing
                warmup.stop()
            if result.status == SessionStatus.PENDING:  # KeyboardInterrupt or SystemExit
                result.status = SessionStatus.INTERRUPTED
            collect_warnings(result, session_log.warnings_snapshot())
            for text in result.warnings:
                session_log.write(logging.WARNING, "data quality: %s", text)
            for text in result.other_warnings:
                session_log.write(logging.WARNING, "%s", text)
            if not result.ok:
                _discard_staged(run, session_log)
                write_failure_sidecars(run, result, session_log)
            settle_previous_outputs(processed, result, session_log)
            write_status(processed, result, run, session_log)
            session_log.write(logging.INFO, "session %s/%s %s", subject, session, result.status)
    if session_log.log_path is not None and session_log.log_path.is_file():
        result.outputs["pipeline_log"] = session_log.log_path


def _stage(
    run: SessionRun,
    ctx: SessionContext,
    inputs: IngestedInputs,
    synced: SyncedSession,
    facemotion: dict[str, CameraMotion] | None = None,
    warmup: DigestWarmup | None = None,
) -> Path:
    """Assembly: the content fingerprint (the NWB identifier's source), then the staged file."""
    if warmup is not None:
        warmup.join()
    run.fingerprint = fingerprint_inputs(ctx, inputs)
    return assemble(ctx, inputs, synced, run.fingerprint, facemotion=facemotion)


def _phase(result: SessionResult, session_log: RunCapture, name: str, step: Callable[[], T]) -> T:
    """Run one phase; any exception becomes a :class:`PhaseError` naming the phase."""
    log.info("phase %s: start", name)
    report_progress(f"phase {name}")  # to the batch's coordinator, when run as a task
    started = time.perf_counter()
    try:
        value = run_phase(name, step)  # an orchestrator may run it as its own task
    except Exception as exc:
        cause = as_w2t_error(exc, name, session_log.log_path)
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


def collect_warnings(result: SessionResult, caught: list[warnings.WarningMessage]) -> None:
    """Data-quality warnings (sorted, unique) and every other warning (unique, in order)."""
    quality = [str(w.message) for w in caught if issubclass(w.category, DataQualityWarning)]
    other = [
        f"{w.category.__name__}: {w.message} ({Path(w.filename).name}:{w.lineno})"
        for w in caught
        if not issubclass(w.category, DataQualityWarning)
    ]
    result.warnings = sorted(set(quality))
    result.other_warnings = list(dict.fromkeys(other))
