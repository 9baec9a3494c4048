"""``configuration.toml``: how sessions are processed (policies, tolerances, outputs).

One versioned pydantic v2 schema with ``extra="forbid"``. Every key changes what the pipeline
does; defaults are valid. The template written by ``w2t-bkin data init`` is generated from this
schema (:func:`render_config_template`), so it always validates.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from w2t_bkin.errors import ConfigError
from w2t_bkin.layout_constants import CONFIG_FILENAME as CONFIG_FILENAME
from w2t_bkin.runtime.fingerprint import json_digest
from w2t_bkin.tomlerrors import format_validation_error, read_toml

CONFIG_SCHEMA_VERSION: Final = 1


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class VerificationConfig(_Section):
    """Checks run before any expensive work."""

    frame_pulse_policy: Literal["fail", "warn", "repair"] = Field(
        "fail",
        description=(
            "When a camera has more frames than its TTL channel has pulses and the pulse gaps "
            "cannot say which frames lost their pulse: 'fail' stops the session, 'warn' and "
            "'repair' fill the earliest empty pulse slots and warn (camera status 'mismatch' "
            "or 'repaired'; every frame is flagged as having no pulse of its own, since the "
            "guess vouches for none). Localisable lost "
            "pulses are always repaired and flagged; more pulses than frames that the video's "
            "timestamps cannot place stop the session under every policy."
        ),
    )
    pose_frame_policy: Literal["fail", "warn"] = Field(
        "fail",
        description="When a pose file has a different number of frames than its video.",
    )


class SynchronizationConfig(_Section):
    """Mapping every stream onto the acquisition (TTL/DAQ) reference clock."""

    trial_match_tolerance_s: float = Field(
        0.005,
        gt=0,
        description="Largest difference between a predicted Bpod sync onset and its TTL pulse.",
    )
    min_matched_trials: int = Field(
        3, ge=2, description="Fewest matched trials needed to fit the Bpod clock."
    )
    unaligned_trial_policy: Literal["flag", "fail"] = Field(
        "flag",
        description=(
            "Trials whose sync state was never visited (no onset to match), and sessions where "
            "fewer than 80% of the sync onsets found a pulse: 'flag' maps every trial through "
            "the fitted clock model, labels it and warns, 'fail' stops the session. Visited "
            "onsets without a pulse are always mapped through the model and labelled "
            "'interpolated' or 'extrapolated'."
        ),
    )
    clock_model: Literal["auto", "linear", "piecewise"] = Field(
        "auto",
        description=(
            "Bpod clock model. 'linear': offset + constant drift; the session fails if a "
            "piecewise-linear model matches more trials or differs from it by more than 0.5 ms "
            "(the drift is not constant). 'piecewise': continuous piecewise-linear, one drift "
            "per piecewise_segment_s. 'auto': linear, switching to piecewise-linear (and saying "
            "so in pipeline.log) when that check finds the drift not constant."
        ),
    )
    piecewise_segment_s: float = Field(
        300.0, gt=0, description="Segment length of the piecewise-linear clock model."
    )
    pulse_gap_factor: float = Field(
        1.5,
        gt=1.0,
        description=(
            "An inter-pulse interval longer than this many nominal frame periods marks missing "
            "pulses (a gap of k periods is k-1 missing pulses)."
        ),
    )
    spurious_pulse_factor: float = Field(
        0.5,
        gt=0,
        lt=1.0,
        description="A pulse closer than this fraction of a period to its predecessor is spurious.",
    )


class IngestionConfig(_Section):
    """Reading raw files."""

    video_decode_timeout_s: float = Field(
        300.0,
        gt=0,
        description="Time limit for counting frames by decoding when demuxing cannot count them.",
    )
    cache_video_probes: bool = Field(
        True, description="Cache video probe results by (path, size, mtime) under ROOT/.w2t/cache."
    )


class AssemblyConfig(_Section):
    """Building the NWB file."""

    compression: Literal["gzip", "none"] = Field(
        "gzip", description="Compression of large datasets (pose, timestamps, TTL events)."
    )
    compression_level: int = Field(4, ge=0, le=9, description="gzip level.")
    shuffle: bool = Field(
        True,
        description="HDF5 byte-shuffle filter before gzip: smaller files and faster writes for "
        "float arrays (a standard filter every HDF5 reader has).",
    )
    chunk_rows: int = Field(
        65536, ge=1024, description="Rows per HDF5 chunk along the time axis of large arrays."
    )
    write_videos: bool = Field(
        True, description="Link each camera's videos as external ImageSeries."
    )
    write_pose: bool = Field(True, description="Write pose tracks (ndx-pose).")
    write_ttl: bool = Field(True, description="Write TTL pulses as an EventsTable.")
    write_bpod: bool = Field(True, description="Write Bpod task, states, events and trials.")


class FinalizationConfig(_Section):
    """After the NWB file is written."""

    validate_nwb: bool = Field(True, description="Run nwbinspector and write validation.json.")
    inspector_config: Literal["dandi", "default"] = Field(
        "dandi", description="nwbinspector importance configuration."
    )
    fail_on_critical: bool = Field(
        True,
        description="Fail the session on blocking validation findings (nwbinspector CRITICAL, "
        "PyNWB schema errors, or a file that cannot be read back).",
    )
    qc_report: bool = Field(True, description="Write qc/report.html.")
    provenance: bool = Field(True, description="Write provenance.json.")
    checksum_inputs: bool = Field(True, description="SHA-256 of every input in provenance.json.")


class ExecutionConfig(_Section):
    """How sessions are run."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Level of each session's pipeline.log."
    )
    continue_on_error: bool = Field(
        True,
        description=(
            "After a session of a batch fails, process the remaining ones (true) or stop and "
            "report them as skipped (false). Either way the run exits non-zero."
        ),
    )
    executor: Literal["local", "dask"] = Field(
        "local",
        description=(
            "Where sessions run: 'local' (this machine: in this process with jobs = 1, else a "
            "pool of `jobs` worker processes) or 'dask' (a Dask cluster: `scheduler`, else "
            "SLURM jobs when slurm_jobs > 0, else a local cluster of `jobs` workers). "
            "`run --executor` overrides it."
        ),
    )
    jobs: int = Field(1, ge=1, description="Sessions processed at once (`run --jobs`).")
    helper_process: bool = Field(
        True,
        description=(
            "Let a session validate its NWB file in a forked child process while it draws the "
            "QC figures, when it has a CPU to spare (it runs one thread, is not a Dask worker, "
            "and the batch leaves it 2 CPUs); false: one process per session. Outputs are the "
            "same either way."
        ),
    )
    scheduler: str = Field(
        "",
        description="Address of a running Dask scheduler, e.g. 'tcp://10.0.0.5:8786' (empty: "
        "none; `run --scheduler`).",
    )
    retries: int = Field(
        0,
        ge=0,
        description="Retries of a session whose failure is transient (an I/O error, a lost "
        "worker); bad input is never retried (`run --retries`).",
    )
    slurm_jobs: int = Field(
        0,
        ge=0,
        description="With executor = 'dask' and no scheduler: SLURM jobs to start through "
        "dask-jobqueue, one Dask worker (one session at a time) each; 0: no SLURM.",
    )
    slurm_queue: str = Field("", description="SLURM partition (sbatch -p); empty: the default.")
    slurm_account: str = Field("", description="SLURM account (sbatch -A); empty: none.")
    slurm_cores: int = Field(4, ge=1, description="CPU cores per SLURM job.")
    slurm_memory: str = Field("16GB", description="Memory per SLURM job, e.g. '16GB'.")
    slurm_walltime: str = Field("02:00:00", description="Time limit per SLURM job (HH:MM:SS).")


CONTENT_SECTIONS = ("schema_version", "verification", "synchronization", "assembly")
"""Configuration sections that change what a session's NWB file holds.

They alone enter the file's identifier (and, for batches, the cache key): ``ingestion`` (decode
time limit, probe cache), ``finalization`` (validation, QC, provenance) and ``execution`` (log
level, batch policy) change how a run goes, never the file's content.
"""


class Config(BaseModel):
    """The whole ``configuration.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    schema_version: Literal[1] = Field(
        CONFIG_SCHEMA_VERSION, description="Version of this schema; bump on breaking changes."
    )
    verification: VerificationConfig = VerificationConfig()
    synchronization: SynchronizationConfig = SynchronizationConfig()
    ingestion: IngestionConfig = IngestionConfig()
    assembly: AssemblyConfig = AssemblyConfig()
    finalization: FinalizationConfig = FinalizationConfig()
    execution: ExecutionConfig = ExecutionConfig()

    def config_hash(self, sections: Iterable[str] | None = None) -> str:
        """SHA-256 (hex) of the canonical JSON of this configuration (or of ``sections`` only)."""
        include = None if sections is None else set(sections)
        return json_digest(self.model_dump(mode="json", include=include))


def parse_config(
    data: dict[str, Any], source: Path | None = None, text: str | None = None
) -> Config:
    """Validate a configuration mapping; errors name the key, the line and the fix."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(exc, Config, source=source, text=text),
            hint="fix the keys above; `w2t-bkin config schema` lists every valid key",
            path=source,
        ) from None


def load_config(path: Path) -> Config:
    """Read and validate ``configuration.toml``."""
    data, text = read_toml(path, ConfigError)
    return parse_config(data, source=path, text=text)


def load_workspace_config(root: Path, override: Path | None = None) -> Config:
    """The effective configuration of a workspace: ``override`` or ROOT/configuration.toml."""
    path = override if override is not None else root / CONFIG_FILENAME
    if not path.exists():
        if override is not None:
            raise ConfigError(f"configuration file not found: {path}", hint="check --config")
        return Config()
    return load_config(path)


def config_json_schema() -> dict[str, Any]:
    return Config.model_json_schema()


def render_config_template(config: Config | None = None) -> str:
    """TOML text of ``config`` (defaults when None) with each key's description as a comment."""
    config = config or Config()
    lines = [
        "# w2t-bkin configuration: how sessions are processed.",
        "# Every key is optional; `w2t-bkin config schema` documents each one.",
        f"schema_version = {config.schema_version}",
    ]
    for section_name in Config.model_fields:
        if section_name == "schema_version":
            continue
        section = getattr(config, section_name)
        lines += ["", f"[{section_name}]"]
        doc = type(section).__doc__
        if doc:
            lines.insert(len(lines) - 1, f"# {doc.strip()}")
        for key, sub_field in type(section).model_fields.items():
            if sub_field.description:
                lines += textwrap.wrap(
                    sub_field.description, 98, initial_indent="# ", subsequent_indent="# "
                )
            lines.append(f"{key} = {_toml_value(getattr(section, key))}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)
