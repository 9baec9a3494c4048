"""Dispatch: turn the streams of a data folder into validated, portable sorting-job files.

For every stream :func:`~w2t_bkin.ephys.discovery.discover` finds: open it (metadata only),
check its timestamps segment by segment (streamed), split it by segment (unless concatenated
or told not to) and by channel group (unless told not to), clip it in debug mode, drop jobs
shorter than the minimum duration **as dispatched**, serialise it with paths relative to the
data folder, reload it from a relocated copy of the folder, and write ``job_<id>.json``.
A stream that fails is recorded in the manifest with the reason; the others go on. Zero jobs
is an error that lists why each candidate was left out.

Outputs in ``RESULTS_DIR``: ``job_<job_id>.json`` per job and ``dispatch_manifest.json``
(parameters, flag/file conflicts, jobs, skipped items with reasons, ``max_duration_min``).
Job files of an earlier dispatch that this one does not produce are removed, so a sorter
never picks up a stale job.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from w2t_bkin import __version__
from w2t_bkin.ephys._spikeinterface import require_spikeinterface
from w2t_bkin.ephys.discovery import Skipped, StreamSource, discover
from w2t_bkin.ephys.errors import NoJobsError
from w2t_bkin.ephys.jobs import (
    JobProvenance,
    SegmentKind,
    SortingJob,
    SyncTTLSource,
    TimestampCheck,
    job_file_name,
    job_id_of,
    write_job,
)
from w2t_bkin.ephys.params import DispatchParams, ParamConflict
from w2t_bkin.ephys.portable import (
    inputs_fingerprint,
    lexical_abspath,
    portable_dict,
    verify_relocated_reload,
)
from w2t_bkin.ephys.timestamps import TimestampRules, check_recording_segment
from w2t_bkin.io_utils import atomic_write_json
from w2t_bkin.runtime.fingerprint import json_digest

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

log = logging.getLogger(__name__)

__all__ = ["MANIFEST_NAME", "DispatchResult", "dispatch", "recording_name_of"]

MANIFEST_NAME = "dispatch_manifest.json"


@dataclass(frozen=True)
class DispatchResult:
    """What a dispatch produced.

    Attributes
    ----------
    jobs
        The jobs, in discovery order.
    job_files
        Their files (empty for a dry run).
    skipped
        Candidates that produced no job, with reasons.
    conflicts
        Keys on which flags and the params file disagreed (the flag won).
    manifest_path
        ``dispatch_manifest.json`` (``None`` for a dry run).
    removed_stale
        Job files of an earlier dispatch that were removed.
    """

    jobs: tuple[SortingJob, ...]
    job_files: tuple[Path, ...]
    skipped: tuple[Skipped, ...]
    conflicts: tuple[ParamConflict, ...]
    manifest_path: Path | None
    removed_stale: tuple[Path, ...] = ()


def recording_name_of(
    source: StreamSource,
    segment: int | None,
    group: int | str | None,
    multi_session: bool,
) -> str:
    """Upstream ``recording_name``: ``{block}_{stream}_recording{k}[_group{g}]``.

    ``k`` counts from 1 and is absent when the job holds every segment; ``{session}__`` is
    prefixed with ``multi_session``. Kept for pipeline consumers; the job's structured fields
    say the same without parsing.
    """
    name = f"{source.name_block}_{source.name_stream}_recording"
    if segment is not None:
        name += str(segment + 1)
    if group is not None:
        name += f"_group{group}"
    return f"{source.session_name}__{name}" if multi_session else name


def _versions() -> dict[str, str]:
    out = {}
    for package in ("spikeinterface", "neo", "probeinterface"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def _provenance(params: DispatchParams, root: Path) -> JobProvenance:
    versions = _versions()
    values = params.digest_fields()
    return JobProvenance(
        tool_version=__version__,
        spikeinterface_version=versions["spikeinterface"],
        neo_version=versions["neo"],
        probeinterface_version=versions["probeinterface"],
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        params=values,
        params_digest=json_digest(values),
        data_dir_at_dispatch=str(root),
    )


def _rules(params: DispatchParams) -> TimestampRules:
    return TimestampRules(
        max_negative_count=params.timestamps_max_negative_count,
        negative_step_s=params.timestamps_negative_step_s,
        max_gap_s=params.timestamps_max_gap_s,
        max_zero_fraction=params.timestamps_max_zero_fraction,
        chunk_samples=params.timestamps_chunk_samples,
    )


def _has_locations(recording: BaseRecording) -> bool:
    return bool(recording.has_probe() or recording.get_property("location") is not None)


@dataclass(frozen=True)
class _Piece:
    """A recording cut from a stream: one segment, all of them, or all concatenated."""

    segment: int | None
    mode: SegmentKind
    segments: tuple[int, ...]
    recording: BaseRecording
    lfp: BaseRecording | None


def _clip(recording: BaseRecording, duration_s: float) -> BaseRecording:
    """First ``duration_s`` seconds of every segment."""
    import spikeinterface as si

    n_keep = max(1, int(duration_s * recording.get_sampling_frequency()))
    clips = [
        part.frame_slice(0, min(n_keep, part.get_num_samples(0)))
        for part in si.split_recording(recording)
    ]
    return clips[0] if len(clips) == 1 else si.append_recordings(clips)


def _pieces(
    recording: BaseRecording, lfp: BaseRecording | None, params: DispatchParams
) -> list[_Piece]:
    import spikeinterface as si

    def prepare(rec: BaseRecording, segments: Sequence[int]) -> BaseRecording:
        part = rec
        if list(segments) != list(range(rec.get_num_segments())):
            part = si.select_segment_recording(rec, list(segments))
        if params.debug:
            part = _clip(part, params.debug_duration_s)
        if params.concatenate and part.get_num_segments() > 1:
            part = si.concatenate_recordings([part])
        return part

    n_segments = recording.get_num_segments()
    if params.split_segments and not params.concatenate:
        return [
            _Piece(k, "split", (k,), prepare(recording, [k]), prepare(lfp, [k]) if lfp else None)
            for k in range(n_segments)
        ]
    every = tuple(range(n_segments))
    mode: SegmentKind = "concatenated" if params.concatenate else "all"
    return [
        _Piece(None, mode, every, prepare(recording, every), prepare(lfp, every) if lfp else None)
    ]


def _groups(
    recording: BaseRecording, lfp: BaseRecording | None, params: DispatchParams
) -> list[tuple[int | str | None, BaseRecording, BaseRecording | None, str | None]]:
    """``(group, recording, lfp, lfp_missing_reason)`` per channel group (one when not split)."""
    groups = recording.get_channel_groups()
    if not params.split_groups or groups is None or len(np.unique(groups)) < 2:
        return [(None, recording, lfp, None)]
    by_group = recording.split_by("group")
    lfp_by_group = lfp.split_by("group") if lfp is not None else {}
    out: list[tuple[int | str | None, BaseRecording, BaseRecording | None, str | None]] = []
    for group, part in by_group.items():
        partner = lfp_by_group.get(group)
        reason = None
        if lfp is not None and partner is None:
            reason = f"group {group!r} is not among the LFP stream's groups {list(lfp_by_group)}"
        elif partner is not None and partner.get_num_channels() != part.get_num_channels():
            reason = (
                f"group {group!r} has {part.get_num_channels()} AP but "
                f"{partner.get_num_channels()} LFP channels"
            )
            partner = None
        key = group.item() if isinstance(group, np.generic) else group
        out.append((key, part, partner, reason))
    return out


def _open_lfp(
    source: StreamSource, recording: BaseRecording
) -> tuple[BaseRecording | None, str | None]:
    if source.open_lfp is None:
        return None, source.lfp_missing_reason
    try:
        lfp = source.open_lfp()
    except Exception as exc:  # the AP job goes on without LFP; the reason is kept
        return None, f"LFP stream {source.lfp_stream!r} unreadable: {type(exc).__name__}: {exc}"
    if lfp.get_num_segments() != recording.get_num_segments():
        return None, (
            f"LFP stream {source.lfp_stream!r} has {lfp.get_num_segments()} segments, the AP "
            f"stream {recording.get_num_segments()}"
        )
    return lfp, None


def _timestamp_checks(
    source: StreamSource,
    recording: BaseRecording,
    lfp: BaseRecording | None,
    params: DispatchParams,
) -> dict[tuple[str, int], TimestampCheck]:
    if params.skip_timestamps_check:
        return {}
    rules = _rules(params)
    checks = {}
    for k in range(recording.get_num_segments()):
        checks["ap", k] = check_recording_segment(
            recording, k, rules, band="ap", timestamps_file=source.timestamps_file(k)
        )
        if lfp is not None:
            checks["lfp", k] = check_recording_segment(
                lfp, k, rules, band="lfp", timestamps_file=source.lfp_timestamps_file(k)
            )
    return checks


class _Context:
    """What every job of one dispatch shares."""

    def __init__(self, root: Path, params: DispatchParams) -> None:
        self.root = root
        self.params = params
        self.provenance = _provenance(params, root)


def _jobs_of_source(
    source: StreamSource, context: _Context
) -> tuple[list[SortingJob], list[Skipped]]:
    params = context.params
    recording = source.open()
    if not _has_locations(recording):
        reason = "no channel locations (no probe): a spike sorter needs them"
        return [], [Skipped(source.session_name, source.block, source.stream, reason)]
    lfp, lfp_reason = _open_lfp(source, recording)
    checks = _timestamp_checks(source, recording, lfp, params)
    jobs: list[SortingJob] = []
    skipped: list[Skipped] = []
    for piece in _pieces(recording, lfp, params):
        for group, part, lfp_part, group_reason in _groups(piece.recording, piece.lfp, params):
            outcome = _job(
                source, context, piece, group, part, lfp_part, group_reason or lfp_reason, checks
            )
            if isinstance(outcome, Skipped):
                skipped.append(outcome)
            else:
                jobs.append(outcome)
    return jobs, skipped


def _job(
    source: StreamSource,
    context: _Context,
    piece: _Piece,
    group: int | str | None,
    recording: BaseRecording,
    lfp: BaseRecording | None,
    lfp_reason: str | None,
    checks: dict[tuple[str, int], TimestampCheck],
) -> SortingJob | Skipped:
    params = context.params

    def skip(reason: str) -> Skipped:
        return Skipped(
            source.session_name, source.block, source.stream, reason, piece.segment, group
        )

    rate_hz = float(recording.get_sampling_frequency())
    n_samples = sum(recording.get_num_samples(k) for k in range(recording.get_num_segments()))
    duration_s = n_samples / rate_hz
    if params.min_recording_duration_s > 0 and duration_s < params.min_recording_duration_s:
        return skip(
            f"duration {duration_s:.3f} s is below min_recording_duration "
            f"{params.min_recording_duration_s:g} s (measured on the job, after split and clip)"
        )
    spec = portable_dict(recording, context.root)
    lfp_spec = portable_dict(lfp, context.root) if lfp is not None else None
    if params.verify_reload:
        for name, rec, pd in (("AP", recording, spec), ("LFP", lfp, lfp_spec)):
            if rec is not None and pd is not None:
                problem = verify_relocated_reload(pd.spec, context.root, rec)
                if problem:
                    return skip(f"{name} recording fails the relocation check: {problem}")
    job_checks = tuple(check for (band, k), check in sorted(checks.items()) if k in piece.segments)
    reasons = tuple(
        f"{c.band} segment {c.segment}: {', '.join(c.failed_rules)}"
        for c in job_checks
        if c.failed_rules
    )
    dropped = spec.dropped_time_vectors + (lfp_spec.dropped_time_vectors if lfp_spec else 0)
    if dropped:
        reasons += (f"{dropped} embedded time vector(s) not serialised",)
    inputs = inputs_fingerprint(spec.spec, context.root)
    provenance = context.provenance.model_copy(
        update={
            "inputs_digest": inputs.digest,
            "input_files": inputs.n_files,
            "input_bytes": inputs.size_bytes,
        }
    )
    session_dir = source.session_dir
    sync_ttl = tuple(
        SyncTTLSource(
            segment=k,
            format=source.sync_format,
            path=lexical_abspath(found[0]).relative_to(context.root).as_posix(),
            line=found[1],
        )
        for k in piece.segments
        if source.sync_format is not None
        and (found := source.sync_file(k)) is not None
        and lexical_abspath(found[0]).is_relative_to(context.root)
    )
    return SortingJob(
        job_id=job_id_of(
            source.session_name, source.block, source.stream, piece.segment, piece.mode, group
        ),
        session_name=source.session_name,
        recording_name=recording_name_of(source, piece.segment, group, params.multi_session),
        block=source.block,
        block_index=source.block_index,
        stream=source.stream,
        segment=piece.segment,
        n_segments=recording.get_num_segments(),
        segment_mode=piece.mode,
        group=group,
        recording_dict=spec.spec,
        recording_lfp_dict=lfp_spec.spec if lfp_spec else None,
        lfp_stream=source.lfp_stream if lfp is not None else None,
        lfp_missing_reason=None if lfp is not None else lfp_reason,
        skip_times=bool(reasons),
        skip_times_reasons=reasons,
        duration_s=duration_s,
        num_samples=n_samples,
        num_channels=recording.get_num_channels(),
        sampling_frequency_hz=rate_hz,
        debug=params.debug,
        debug_duration_s=params.debug_duration_s if params.debug else None,
        input_format=params.input,
        input_folder=(
            session_dir.relative_to(context.root).as_posix() or "."
            if session_dir is not None and context.root in (session_dir, *session_dir.parents)
            else None
        ),
        multi_input=params.multi_session,
        timestamp_checks=job_checks,
        sync_ttl=sync_ttl,
        provenance=provenance,
    )


def dispatch(
    data_dir: str | Path,
    results_dir: str | Path,
    params: DispatchParams,
    *,
    conflicts: Sequence[ParamConflict] = (),
    dry_run: bool = False,
) -> DispatchResult:
    """Write one sorting-job file per recording to sort (see the module docstring).

    Parameters
    ----------
    data_dir
        Folder holding the session(s); job paths are relative to it.
    results_dir
        Where ``job_<id>.json`` and ``dispatch_manifest.json`` go (created if missing).
    params
        Dispatch parameters (see :func:`~w2t_bkin.ephys.params.resolve_params`).
    conflicts
        Flag/file conflicts to record in the manifest.
    dry_run
        Do everything but write files.

    Returns
    -------
    DispatchResult

    Raises
    ------
    NoJobsError
        No job remains; the message lists why each candidate was left out (the manifest is
        written first, unless ``dry_run``).
    """
    require_spikeinterface(f"dispatching ephys sessions from {data_dir}")
    root = lexical_abspath(data_dir)
    results = lexical_abspath(results_dir)
    found = discover(root, params)
    context = _Context(root, params)
    jobs: list[SortingJob] = []
    skipped = list(found.skipped)
    for source in found.sources:
        try:
            made, left = _jobs_of_source(source, context)
        except Exception as exc:  # one bad stream is reported, never fatal for the others
            log.warning("%s %s %s: %s", source.session_name, source.block, source.stream, exc)
            reason = f"cannot dispatch: {type(exc).__name__}: {exc}"
            left, made = [Skipped(source.session_name, source.block, source.stream, reason)], []
        skipped.extend(left)
        jobs.extend(_unique(made, jobs, skipped))
    files: list[Path] = []
    stale: list[Path] = []
    manifest_path = None
    if not dry_run:
        files = [write_job(job, results, compact=params.compact_json) for job in jobs]
        stale = _remove_stale(results, {f.name for f in files})
        manifest_path = _write_manifest(results, root, params, conflicts, jobs, skipped, stale)
    if not jobs:
        raise _no_jobs(root, skipped, manifest_path)
    return DispatchResult(
        tuple(jobs), tuple(files), tuple(skipped), tuple(conflicts), manifest_path, tuple(stale)
    )


def _unique(
    made: list[SortingJob], earlier: list[SortingJob], skipped: list[Skipped]
) -> list[SortingJob]:
    """Drop a job whose id or recording name another job has (sessions named alike)."""
    seen_ids = {job.job_id for job in earlier}
    seen_names = {job.recording_name for job in earlier}
    out = []
    for job in made:
        if job.job_id in seen_ids or job.recording_name in seen_names:
            skipped.append(
                Skipped(
                    job.session_name,
                    job.block,
                    job.stream,
                    f"recording name {job.recording_name!r} is already used by another job "
                    "(two sessions with the same name?)",
                    job.segment,
                    job.group,
                )
            )
            continue
        seen_ids.add(job.job_id)
        seen_names.add(job.recording_name)
        out.append(job)
    return out


def _remove_stale(results: Path, keep: set[str]) -> list[Path]:
    stale = [p for p in sorted(results.glob("job_*.json")) if p.name not in keep]
    for path in stale:
        path.unlink(missing_ok=True)
        log.info("removed job file of an earlier dispatch: %s", path)
    return stale


def _write_manifest(
    results: Path,
    root: Path,
    params: DispatchParams,
    conflicts: Sequence[ParamConflict],
    jobs: Sequence[SortingJob],
    skipped: Sequence[Skipped],
    stale: Sequence[Path],
) -> Path:
    durations = [job.duration_s for job in jobs]
    manifest: dict[str, Any] = {
        "schema_version": 1,
        "tool": "w2t-bkin",
        "tool_version": __version__,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data_dir": str(root),
        "params": params.digest_fields(),
        "conflicts": [
            {"key": c.key, "file_value": c.file_value, "flag_value": c.flag_value, "used": "flag"}
            for c in conflicts
        ],
        "n_jobs": len(jobs),
        "n_skipped": len(skipped),
        # upstream's max_duration: whole minutes, at least 1 (SLURM time limits); never fails
        "max_duration_min": max(1, round(max(durations) / 60)) if durations else None,
        "jobs": [
            {
                "job_id": job.job_id,
                "file": job_file_name(job.job_id),
                "recording_name": job.recording_name,
                "session_name": job.session_name,
                "block": job.block,
                "stream": job.stream,
                "segment": job.segment,
                "group": job.group,
                "duration_s": job.duration_s,
                "skip_times": job.skip_times,
                "lfp_stream": job.lfp_stream,
                "lfp_missing_reason": job.lfp_missing_reason,
                "sync_ttl": [source.model_dump(mode="json") for source in job.sync_ttl],
            }
            for job in jobs
        ],
        "skipped": [item.as_json() for item in skipped],
        "removed_stale_job_files": [p.name for p in stale],
    }
    return atomic_write_json(results / MANIFEST_NAME, manifest)


def _no_jobs(root: Path, skipped: Sequence[Skipped], manifest: Path | None) -> NoJobsError:
    reasons = [
        f"{s.session_name}/{s.block or '-'}/{s.stream or '-'}"
        + (f"/segment {s.segment}" if s.segment is not None else "")
        + (f"/group {s.group}" if s.group is not None else "")
        + f": {s.reason}"
        for s in skipped
    ]
    listing = "; ".join(reasons[:8]) + (
        f"; ... ({len(reasons) - 8} more)" if len(reasons) > 8 else ""
    )
    where = f" (all {len(reasons)} listed in {manifest})" if manifest else ""
    return NoJobsError(
        f"no sorting job from {root}: {listing or 'no stream found'}{where}",
        path=root,
        hint="check --input, the stream rules (--include-stream/--exclude-stream) and "
        "--min-recording-duration",
    )
