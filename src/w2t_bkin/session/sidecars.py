"""The sidecars of a run besides the NWB file: QC report, provenance, ``status.json``.

Written for succeeded and failed runs alike, each as far as the run got. The reports
themselves live in :mod:`w2t_bkin.report`; this module hands them the run's results.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from w2t_bkin import __version__
from w2t_bkin.config import Config
from w2t_bkin.errors import W2TError
from w2t_bkin.io_utils import atomic_write_json
from w2t_bkin.model.results import SessionResult
from w2t_bkin.model.video import CameraVideos
from w2t_bkin.runtime.capture import RunCapture
from w2t_bkin.session.context import SessionContext
from w2t_bkin.session.fingerprint import workspace_digest_cache
from w2t_bkin.session.ingest import IngestedInputs, missing_position_fraction
from w2t_bkin.session.state import SessionRun
from w2t_bkin.session.synchronize import CameraTiming, SyncedSession
from w2t_bkin.sync.frames import FrameAlignment

if TYPE_CHECKING:
    from w2t_bkin.report.qc_inputs import FrameTimeline, ProbeClockQC, QCInputs, TrialStates

log = logging.getLogger(__name__)


def write_qc(
    run: SessionRun,
    result: SessionResult,
    *,
    status: str,
    data_sections: list[str] | None = None,
) -> Path:
    """``qc/report.html`` with what the run produced and how it ended.

    ``data_sections``: the data sections drawn for this run beforehand (the ``join`` of
    :func:`qc_data_tasks` applied to its tasks' results); ``None``: drawn now.
    """
    from w2t_bkin.report.qc import write_qc_report

    path = run.folder / "qc" / "report.html"
    return write_qc_report(_qc_inputs_of(run, result, status), path, data_sections)


def qc_data_tasks(
    run: SessionRun, result: SessionResult
) -> tuple[list[Callable[[], str]], Callable[[list[str]], list[str]]]:
    """The QC report's data sections (all its figures) for a run that reached finalization,
    as independent pieces of work and the function that joins their results into sections
    for :func:`write_qc`.

    They need neither the validation findings nor the run's outcome, so they can be drawn
    while the NWB file is validated, by two processes.
    """
    from w2t_bkin.report.qc import data_section_tasks, join_data_sections

    qc = _qc_inputs_of(run, result, "succeeded")
    return data_section_tasks(qc), functools.partial(join_data_sections, qc)


def _qc_inputs_of(run: SessionRun, result: SessionResult, status: str) -> QCInputs:
    from w2t_bkin.report.qc_inputs import QCInputs

    failed = status != "succeeded"
    outcome: dict[str, Any] = {
        "status": status,
        "failed_phase": result.failed_phase if failed else None,
        "error": result.error if failed else None,
        "completed_phases": tuple(result.phase_durations_s) if failed else None,
    }
    ctx = run.ctx
    if ctx is None:  # the configuration or metadata could not be loaded
        return QCInputs(result.subject, result.session, **outcome)
    inputs = run.inputs
    if inputs is None and run.verified is not None:  # failed in ingestion: TTL and Bpod exist
        inputs = IngestedInputs(run.verified, {}, run.verified.bpod)
    return qc_inputs(ctx, inputs, run.synced, run.findings, result.warnings, **outcome)


def write_provenance(
    run: SessionRun,
    result: SessionResult,
    *,
    status: dict[str, Any],
    checksum_inputs: bool | None,
    staged: dict[Path, Path] | None = None,
) -> Path:
    """``provenance.json`` of this run; ``checksum_inputs`` None: as the configuration says.

    ``staged`` maps an output's final path to the complete file still under its temporary
    name (the NWB file, published after its sidecars): it is described from that file, under
    its final name.
    """
    from w2t_bkin.report.provenance import build_provenance
    from w2t_bkin.report.provenance import write_provenance as write

    ctx = run.ctx
    config = ctx.config if ctx is not None else None
    if checksum_inputs is None:
        checksum_inputs = config.finalization.checksum_inputs if config is not None else False
    staged = staged or {}
    outputs = [staged.get(p, p) for p in result.outputs.values()]
    prov = build_provenance(
        config=config,
        metadata=ctx.metadata if ctx is not None else None,
        inputs=run.files.all_inputs() if run.files is not None else [],
        outputs=[p for p in outputs if p.is_file()],
        command_line=list(run.invocation),
        checksum_inputs=checksum_inputs,
        started_at=run.started_at,
        finished_at=datetime.now(UTC),
        status=status,
        digest_cache=(workspace_digest_cache(ctx.workspace.cache) if ctx is not None else None),
    )
    final_of = {str(tmp): final for final, tmp in staged.items()}
    for entry in prov["outputs"]:
        final = final_of.get(entry["path"])
        if final is not None:
            entry["path"], entry["resolved_path"] = str(final), str(final.resolve())
    if run.fingerprint is not None:
        prov["content_fingerprint"] = {
            "sha256": run.fingerprint.digest(),
            **run.fingerprint.to_dict(),
        }
    return write(prov, run.folder / "provenance.json")


def _status(result: SessionResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "failed_phase": result.failed_phase,
        "error": result.error,
        "exit_code": result.exit_code,
    }


def write_failure_sidecars(run: SessionRun, result: SessionResult, session_log: RunCapture) -> None:
    """Alignment stats, QC report and provenance of a failed run, each as far as it can go.

    Provenance of a failed run records input sizes and times without checksums: quick, and
    possible even when an input is unreadable (a common reason to fail).
    """
    config = run.ctx.config if run.ctx is not None else Config()
    steps: list[tuple[str, Callable[[], Path]]] = []
    if run.synced is not None and "alignment_stats" not in result.outputs:
        stats = run.synced.alignment_stats_json()
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


def write_status(
    folder: Path, result: SessionResult, run: SessionRun, session_log: RunCapture
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
        "content_sha256": run.fingerprint.digest() if run.fingerprint is not None else None,
    }
    try:
        result.outputs["status"] = atomic_write_json(folder / "status.json", data)
    except (W2TError, OSError) as exc:
        session_log.write(logging.WARNING, "could not write status.json: %s", exc)


def _camera_qc_status(alignment: FrameAlignment) -> str:
    """``"ok"`` only when every frame has its pulse and nothing was dropped, spurious or lost.

    Alignment status 'exact' says frames and pulses pair one-to-one; a camera drop keeps that
    pairing, so it must still turn the camera's badge to "warn".
    """
    findings = (
        alignment.dropped_frames.size
        + alignment.spurious_pulse_idx.size
        + alignment.missing_pulse_frame_idx.size
    )
    return "ok" if alignment.status == "exact" and findings == 0 else "warn"


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
    from w2t_bkin.report.qc_inputs import (
        FrameCheck,
        PoseConfidence,
        QCInputs,
        TrialAlignmentSummary,
    )

    cameras = synced.cameras if synced is not None else {}

    frame_checks = []
    for camera_id, timing in cameras.items():
        a = timing.alignment
        videos = inputs.verified.videos.get(camera_id) if inputs is not None else None
        frame_checks.append(
            FrameCheck(
                camera_id=camera_id,
                n_video_frames=timing.n_frames,
                n_pulses=a.n_pulses if a is not None else 0,
                n_matched=int(np.count_nonzero(a.frame_has_pulse)) if a is not None else 0,
                dropped_frames=a.dropped_frames if a is not None else np.empty(0, np.int64),
                n_spurious=int(a.spurious_pulse_idx.size) if a is not None else 0,
                n_missing=int(a.missing_pulse_frame_idx.size) if a is not None else 0,
                status=_camera_qc_status(a) if a is not None else "no TTL",
                frame_clock=timing.frame_clock,
                frames_counted_by=_frames_counted_by(videos),
            )
        )
    trial_alignment = None
    if synced is not None and synced.trials is not None:
        t = synced.trials
        finite = np.isfinite(t.residuals_s)
        trial_alignment = TrialAlignmentSummary(
            trial_idx=np.arange(t.alignment_label.size),
            offsets_s=t.offsets_s,
            residuals_ms=t.residuals_s[finite] * 1e3,
            alignment_label=t.alignment_label,
            drift_ppm=t.to_reference.drift_ppm,
            offset_s=t.to_reference.offset_s,
        )
    pose_confidence = {
        camera_id: PoseConfidence(
            keypoint_names=tuple(pose.keypoint_names),
            individual_names=tuple(pose.individual_names),
            confidence=pose.confidence,
            # A keypoint is missing in a frame when it has no position: SLEAP files without
            # scores have positions but NaN confidence, which is "no score", not "missing".
            missing_fraction=_missing_fraction(inputs, camera_id),
            frame_times_s=_pose_frame_times(cameras.get(camera_id), pose.n_frames),
        )
        for camera_id, pose in (inputs.pose if inputs is not None else {}).items()
    }
    # on the reference clock once synchronization mapped probe-clock channels
    ttl = (synced.ttl if synced is not None and synced.ttl else None) or (
        inputs.verified.ttl if inputs is not None else {}
    )
    return QCInputs(
        subject=ctx.subject,
        session=ctx.session,
        w2t_bkin_version=__version__,
        frame_checks=frame_checks,
        frame_timelines=[_frame_timeline(timing) for timing in cameras.values()],
        ttl_channels={k: v.times_s for k, v in ttl.items()},
        trial_alignment=trial_alignment,
        trial_states=_trial_states(ctx, inputs, synced),
        pose_confidence=pose_confidence,
        validation_findings=findings,
        warnings=warnings,
        alignment_stats=list(synced.stats) if synced is not None else [],
        probe_clocks=probe_clocks_qc(synced),
        status=status,
        failed_phase=failed_phase,
        error=error,
        completed_phases=completed_phases,
    )


def probe_clocks_qc(synced: SyncedSession | None) -> list[ProbeClockQC]:
    """Each ephys probe clock's fit, as the QC report shows it."""
    from w2t_bkin.report.qc_inputs import ProbeClockQC

    if synced is None:
        return []
    return [
        ProbeClockQC(
            clock_id=key,
            reference_id=fit.reference_id,
            model=fit.clock.kind,
            offset_s=fit.offset_s,
            drift_ppm=fit.drift_ppm,
            matched_source_s=fit.matched_source_s,
            matched_reference_s=fit.to_reference_s(fit.matched_source_s),
            residuals_ms=fit.residuals_s * 1e3,
            n_source_edges=fit.n_source,
            n_reference_edges=fit.n_reference,
            n_matched=fit.n_matched,
            n_unmatched_inside=fit.n_unmatched_inside,
            tolerance_ms=fit.tolerance_s * 1e3,
            status=fit.status,
        )
        for key, fit in synced.probe_clocks.items()
    ]


def _missing_fraction(inputs: IngestedInputs | None, camera_id: str) -> np.ndarray:
    """The camera's fraction of frames without a position, from before its positions were
    released (:meth:`IngestedInputs.release_pose_positions`) or counted now."""
    assert inputs is not None
    kept = inputs.pose_missing_fraction.get(camera_id)
    if kept is not None:
        return kept
    return missing_position_fraction(inputs.pose[camera_id].positions)


def _pose_frame_times(timing: CameraTiming | None, n_pose_frames: int) -> np.ndarray | None:
    """``(n_frames,) float64`` reference times of the pose frames; None when not one-to-one."""
    if timing is None or timing.frame_times_s.shape != (n_pose_frames,):
        return None
    return timing.frame_times_s


def _frame_timeline(timing: CameraTiming) -> FrameTimeline:
    """A camera's frame times with its drops, interpolated frames and video-file starts."""
    from w2t_bkin.report.qc_inputs import FrameTimeline

    a = timing.alignment
    if a is None:  # no TTL: times from the video or the rate, nothing found
        return FrameTimeline(timing.camera_id, timing.frame_times_s)
    return FrameTimeline(
        camera_id=timing.camera_id,
        frame_times_s=a.frame_times_s,
        dropped_after_frame_idx=a.dropped_after_frame_idx,
        dropped_per_gap=a.dropped_per_gap,
        interpolated_frame_idx=np.flatnonzero(~a.frame_has_pulse),
        chunk_starting_frame=a.chunk_starting_frame,
    )


def _trial_states(
    ctx: SessionContext, inputs: IngestedInputs | None, synced: SyncedSession | None
) -> TrialStates | None:
    """Every Bpod state visit on the reference clock, relative to its trial's sync pulse.

    A trial's anchor is its recorded sync pulse; without one, its sync onset through the Bpod
    clock model; without a sync onset, its start through the clock model.
    """
    from w2t_bkin.report.qc_inputs import TrialStates

    if inputs is None or inputs.bpod is None or synced is None or synced.trials is None:
        return None
    bpod, trials = inputs.bpod, synced.trials
    to_reference = trials.to_reference
    anchor_s = np.asarray(to_reference(bpod.trial_start_s), dtype=np.float64)
    anchor_kind = np.full(bpod.n_trials, "trial start", dtype=object)
    for channel, alignment in trials.per_channel.items():
        onset = np.isfinite(alignment.sync_times_s)
        rows = alignment.bpod_trial_idx[onset]
        anchor_s[rows], anchor_kind[rows] = alignment.sync_times_s[onset], "model"
        matched = alignment.matched_pulse_idx >= 0
        rows = alignment.bpod_trial_idx[matched]
        pulses_s = (synced.ttl or inputs.verified.ttl)[channel].times_s
        anchor_s[rows] = pulses_s[alignment.matched_pulse_idx[matched]]
        anchor_kind[rows] = "pulse"
    visit_anchor_s = anchor_s[bpod.state_trial_idx]
    meta = ctx.metadata.bpod
    sync_states = (
        tuple(dict.fromkeys(rule.sync_signal for rule in meta.sync.trial_types))
        if meta is not None
        else ()
    )
    return TrialStates(
        state_names=tuple(bpod.state_names),
        visit_trial_idx=bpod.state_trial_idx,
        visit_state_idx=bpod.state_name_idx,
        visit_start_s=to_reference(bpod.state_start_s) - visit_anchor_s,
        visit_stop_s=to_reference(bpod.state_stop_s) - visit_anchor_s,
        anchor_kind=anchor_kind.astype(str),
        sync_states=sync_states,
    )
