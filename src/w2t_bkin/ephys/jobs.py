"""The sorting job: one recording to spike-sort, as a validated, portable JSON file.

A dispatch writes one ``job_<job_id>.json`` per job; ``w2t-bkin ephys sort`` (and any
AIND-pipeline consumer) reads them back. The file keeps the upstream contract
(``session_name``, ``recording_name``, ``recording_dict``, ``recording_lfp_dict``,
``skip_times``, ``duration``, ``input_folder``, ``debug``, ``multi_input``) and adds what
consumers should use instead of parsing names: ``block``, ``stream``, ``segment``, ``group``,
``schema_version`` and ``provenance``.

Paths inside ``recording_dict`` are relative to the data folder (lexically: symlinks are not
resolved), so :func:`load_recording` works from any working directory once it is told where
the data folder is now. ``job_id`` is a digest of the job's identity (session, block, stream,
segment, group), so the same recording gets the same file name on every dispatch.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field, model_validator

from w2t_bkin.ephys.errors import JobFileError
from w2t_bkin.ephys.params import InputFormat
from w2t_bkin.io_utils import atomic_write_text

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

__all__ = [
    "JOB_SCHEMA_VERSION",
    "JobProvenance",
    "SortingJob",
    "SyncTTLSource",
    "TimestampCheck",
    "job_file_name",
    "job_id_of",
    "job_json_schema",
    "load_recording",
    "read_job",
    "read_jobs",
    "write_job",
]

JOB_SCHEMA_VERSION: Literal[1] = 1
"""Version of the job file layout; :func:`read_job` refuses files of another version."""

SegmentKind = Literal["split", "all", "concatenated"]


class TimestampCheck(BaseModel):
    """Result of the streamed timestamp check of one segment of one band (AP or LFP).

    Attributes
    ----------
    band
        ``"ap"`` (the sorted stream) or ``"lfp"``.
    segment
        Segment index in the source recording.
    source
        Where the times come from: ``"regular"`` (``t_start + i / fs``: nothing to check),
        ``"timestamps.npy"`` (Open Ephys), ``"time_vector"`` (the recording's own).
    n_samples
        Timestamps checked.
    n_negative_steps, n_zero_steps, n_gaps
        Steps below ``-negative_step_s``, equal to zero, above ``max_gap_s``.
    max_step_s, min_step_s
        Largest and smallest step (``None`` for regular times or one sample).
    first_gap_s
        Time of the first gap, ``None`` when there is none.
    failed_rules
        Rules broken (``"negative_steps"``, ``"gap"``, ``"zero_steps"``, and ``"length"`` when
        a side timestamps file has another length than the segment); any -> ``skip_times``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    band: Literal["ap", "lfp"]
    segment: int
    source: Literal["regular", "timestamps.npy", "time_vector"]
    n_samples: int
    n_negative_steps: int = 0
    n_zero_steps: int = 0
    n_gaps: int = 0
    max_step_s: float | None = None
    min_step_s: float | None = None
    first_gap_s: float | None = None
    failed_rules: tuple[str, ...] = ()


class SyncTTLSource(BaseModel):
    """Where a segment's sync-line edges are, as a ``[[TTLs]]`` channel the session can read.

    ``path`` is relative to the data folder; ``format`` and ``line`` are the ``[[TTLs]]`` keys
    (``spikeglx``: bit of the imec sync word, 6 = sync input; ``openephys``: TTL line).
    Fitting these edges against the same square wave on the session's reference clock puts
    the probe's samples on the session clock.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment: int = Field(ge=0)
    format: Literal["spikeglx", "openephys"]
    path: str
    line: int = Field(ge=0)


class JobProvenance(BaseModel):
    """What produced a job file: tool versions, parameters, when, from where."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str = "w2t-bkin"
    tool_version: str
    spikeinterface_version: str
    neo_version: str
    probeinterface_version: str
    created_at: str
    params: dict[str, Any]
    params_digest: str
    data_dir_at_dispatch: str = Field(
        description="Absolute data folder at dispatch time (information only: paths in the "
        "recording dicts are relative to whatever data folder the reader passes)."
    )
    inputs_digest: str | None = Field(
        None,
        description="SHA-256 of (relative path, size, mtime_ns) of every file the recording "
        "reads (stat only): changes when an input file is replaced or rewritten.",
    )
    input_files: int | None = None
    input_bytes: int | None = None


class SortingJob(BaseModel):
    """One recording to spike-sort (see the module docstring for the file contract).

    Attributes
    ----------
    schema_version
        :data:`JOB_SCHEMA_VERSION`.
    job_id
        16 hex digits, a digest of (session, block, stream, segment, group): stable.
    session_name
        Session folder name (or NWB file stem, or ``data_description.json`` name for aind).
    recording_name
        Upstream name: ``{block}_{stream}_recording{k}[_group{g}]`` (``k`` from 1; no number
        when segments are not split), prefixed ``{session}__`` with ``multi_session``.
        Consumers should read ``block``/``stream``/``segment``/``group`` instead.
    block, block_index
        Block (Open Ephys experiment folder name, SpikeGLX run name, ``block0`` for NWB) and
        its index among the session's blocks.
    stream
        Reader stream (``imec0.ap``, ``Record Node 101#Neuropix-PXI-100.ProbeB``, NWB
        ElectricalSeries path).
    segment, n_segments, segment_mode
        Segment index in the source (``None`` when the job holds all segments), how many
        segments the job's recording has, and how segments were handled.
    group
        Channel group (shank number, NWB electrode group name), ``None`` when not split.
    recording_dict, recording_lfp_dict
        SpikeInterface dicts (``si.load(d, base_folder=DATA)``); paths relative to DATA.
    lfp_stream, lfp_missing_reason
        The LFP partner stream, or why there is none.
    skip_times, skip_times_reasons
        Consumers must ``reset_times()`` after loading (the timestamp check failed).
    duration_s, num_samples, num_channels, sampling_frequency_hz
        Of the job's recording (after split and debug clip); ``num_samples`` sums segments.
    debug, debug_duration_s
        Debug clipping applied, and its length.
    input_format, input_folder, multi_input
        Input loader; session folder relative to DATA (``None`` for NWB/SpikeInterface
        inputs); whether several sessions were dispatched together.
    timestamp_checks
        Per-segment timestamp reports (AP and LFP).
    sync_ttl
        Per-segment sync-line sources (empty when the format records none).
    provenance
        Versions, parameters and time of the dispatch.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = JOB_SCHEMA_VERSION
    job_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    session_name: str
    recording_name: str
    block: str
    block_index: int = Field(ge=0)
    stream: str
    segment: int | None = Field(ge=0)
    n_segments: int = Field(ge=1)
    segment_mode: SegmentKind
    group: int | str | None
    recording_dict: dict[str, Any]
    recording_lfp_dict: dict[str, Any] | None = None
    lfp_stream: str | None = None
    lfp_missing_reason: str | None = None
    skip_times: bool = False
    skip_times_reasons: tuple[str, ...] = ()
    duration_s: float = Field(ge=0)
    num_samples: int = Field(ge=0)
    num_channels: int = Field(ge=1)
    sampling_frequency_hz: float = Field(gt=0)
    debug: bool = False
    debug_duration_s: float | None = None
    input_format: InputFormat
    input_folder: str | None = None
    multi_input: bool = False
    timestamp_checks: tuple[TimestampCheck, ...] = ()
    sync_ttl: tuple[SyncTTLSource, ...] = ()
    provenance: JobProvenance

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration(self) -> float:
        """Upstream ``duration`` (seconds, 2 decimals), kept for pipeline consumers."""
        return round(self.duration_s, 2)

    @model_validator(mode="before")
    @classmethod
    def _drop_computed(cls, data: Any) -> Any:
        # ``duration`` is written for upstream readers and recomputed on reading
        if isinstance(data, dict) and "duration" in data:
            data = {k: v for k, v in data.items() if k != "duration"}
        return data


def job_id_of(
    session_name: str,
    block: str,
    stream: str,
    segment: int | None,
    segment_mode: SegmentKind,
    group: int | str | None,
) -> str:
    """Stable 16-hex-digit id of a job's identity (not of its content or parameters)."""
    identity = json.dumps(
        [session_name, block, stream, segment, segment_mode, group], separators=(",", ":")
    )
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]


def job_file_name(job_id: str) -> str:
    """``job_<job_id>.json``."""
    return f"job_{job_id}.json"


def write_job(job: SortingJob, results_dir: str | Path, *, compact: bool = True) -> Path:
    """Write ``results_dir/job_<job_id>.json`` atomically and return its path.

    ``compact`` writes no indentation (a 384-channel recording dict is ~6x smaller).
    """
    payload = job.model_dump(mode="json")
    text = json.dumps(payload, separators=(",", ":")) if compact else json.dumps(payload, indent=2)
    return atomic_write_text(Path(results_dir) / job_file_name(job.job_id), text + "\n")


def read_job(path: str | Path) -> SortingJob:
    """Read and validate one job file.

    Raises
    ------
    JobFileError
        The file is missing, not JSON, of another schema version, or a field is wrong; the
        message names the file and the field, what was expected and what was found.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobFileError(
            f"{path}: job file not found", path=path, hint="run w2t-bkin ephys dispatch first"
        ) from None
    except json.JSONDecodeError as exc:
        raise JobFileError(
            f"{path}: not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}",
            path=path,
            hint="the file is damaged or was edited by hand; dispatch again",
        ) from None
    if not isinstance(raw, dict):
        raise JobFileError(f"{path}: expected a JSON object, found {type(raw).__name__}", path=path)
    version = raw.get("schema_version")
    if version != JOB_SCHEMA_VERSION:
        raise JobFileError(
            f"{path}: schema_version is {version!r}, this w2t-bkin reads version "
            f"{JOB_SCHEMA_VERSION}",
            path=path,
            hint="dispatch the session again with this w2t-bkin version (files of upstream "
            "aind-ephys-job-dispatch have no schema_version)",
        )
    try:
        return SortingJob.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(job)"
        found = first.get("input")
        shown = "" if isinstance(found, dict | list) else f", found {found!r}"
        raise JobFileError(
            f"{path}: field '{loc}': {first['msg']}{shown} ({exc.error_count()} error(s))",
            path=path,
            hint="the file does not match `w2t-bkin ephys schema`; dispatch again",
        ) from None


def read_jobs(results_dir: str | Path) -> list[SortingJob]:
    """Every ``job_*.json`` of a results folder, validated, sorted by ``recording_name``."""
    files = sorted(Path(results_dir).glob("job_*.json"))
    return sorted((read_job(f) for f in files), key=lambda job: job.recording_name)


def job_json_schema() -> dict[str, Any]:
    """JSON Schema of a job file (as written, including the computed ``duration``)."""
    schema = SortingJob.model_json_schema(mode="serialization")
    schema["$id"] = f"https://w2t-bkin/schemas/ephys-job/{JOB_SCHEMA_VERSION}"
    return schema


def load_recording(
    job: SortingJob, data_dir: str | Path, *, lfp: bool = False, apply_skip_times: bool = True
) -> BaseRecording:
    """Load the job's recording (or its LFP partner) with the data folder at ``data_dir``.

    ``si.load(recording_dict, base_folder=data_dir)``; when the job says ``skip_times`` the
    times are reset to ``t_start = 0`` and regular sampling, as the job asks consumers to.

    Raises
    ------
    JobFileError
        ``lfp`` asked for a job without LFP partner, or a file the recording needs is not
        under ``data_dir`` (wrong data folder?).
    """
    from w2t_bkin.ephys._spikeinterface import require_spikeinterface

    si = require_spikeinterface(f"loading the recording of job {job.job_id}")
    data_dir = Path(data_dir)
    spec = job.recording_lfp_dict if lfp else job.recording_dict
    if spec is None:
        raise JobFileError(
            f"job {job.job_id} ({job.recording_name}) has no LFP recording: "
            f"{job.lfp_missing_reason or 'none was paired'}",
            hint="load the AP recording (lfp=False)",
        )
    from w2t_bkin.ephys.portable import missing_relative_paths

    missing = missing_relative_paths(spec, data_dir)
    if missing:
        raise JobFileError(
            f"job {job.job_id} ({job.recording_name}): {missing[0]!r} is not under the data "
            f"folder {data_dir} ({len(missing)} missing path(s))",
            path=data_dir,
            hint="pass the folder that held the data at dispatch time (paths in the job are "
            "relative to it), wherever it is now",
        )
    recording = si.load(spec, base_folder=data_dir)
    if apply_skip_times and job.skip_times:
        recording.reset_times()
    return recording
