"""Spike sorting of dispatched jobs: ``w2t-bkin ephys sort RESULTS_DIR``.

Each ``job_<id>.json`` of a results folder (written by :mod:`~w2t_bkin.ephys.dispatch`) is one
runtime task (:class:`~w2t_bkin.runtime.tasks.TaskSpec` naming :func:`sort_job_task`): reload
the recording relative to the data folder, preprocess (bandpass, common median reference,
optional motion correction), run an in-process SpikeInterface sorter (no external binaries),
and write, per job::

    RESULTS_DIR/sorting/<job_id>/sorting/        SpikeInterface sorting folder (si.load)
    RESULTS_DIR/sorting/<job_id>/summary.json    units, spike counts, rates, versions, times
    RESULTS_DIR/sorting/<job_id>/units.nwb       NWB units table (``--nwb`` only)
    RESULTS_DIR/sorting/<job_id>/spikeinterface_log.json   the sorter's own log

A job is sorted into ``sorting/.staging/<job_id>-<unique>/`` and renamed into place, so a
folder under ``sorting/<job_id>`` is always complete. A job is *finished* when its summary
exists and records the same inputs (digest of the job file, sorter, digest of the
parameters that change the result); reruns skip finished jobs unless ``force``. The
coordinating process (never a worker) records every job in the run registry
``RESULTS_DIR/.w2t/registry.sqlite``. A failing job is reported and the others go on.

Preprocessing happens once, here: a sorter's own filtering and motion correction
(``apply_preprocessing``, ``apply_motion_correction``) are switched off unless
``sorter_params`` sets them. SpikeInterface is imported inside the functions that run it
(the ``ephys`` extra).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import platform
import shutil
import socket
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from w2t_bkin import __version__
from w2t_bkin.ephys._spikeinterface import cache_numba_kernels, kernel_modules_for
from w2t_bkin.ephys.dispatch import MANIFEST_NAME
from w2t_bkin.ephys.errors import NoJobsError
from w2t_bkin.ephys.jobs import SortingJob, load_recording, read_job
from w2t_bkin.errors import ConfigError, IngestError, OutputError, W2TError
from w2t_bkin.io_utils import atomic_write_json
from w2t_bkin.runtime.fingerprint import file_digest, json_digest
from w2t_bkin.runtime.locks import exclusive_lock
from w2t_bkin.runtime.registry import OutputRecord, Registry, TaskRecord, registry_path, utc_now
from w2t_bkin.runtime.tasks import Executor, TaskEvent, TaskOutcome, TaskSpec, report_progress

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording, BaseSorting

__all__ = [
    "SORTING_DIR",
    "SUMMARY_NAME",
    "NoProbeError",
    "SortParams",
    "SortReport",
    "SortRow",
    "SortSummary",
    "SorterUnavailableError",
    "job_output_dir",
    "plan_jobs",
    "preprocess",
    "read_summary",
    "sort_job_task",
    "sort_results",
]

log = logging.getLogger(__name__)

SORTING_DIR = "sorting"
"""Folder of ``RESULTS_DIR`` holding one folder per sorted job."""
STAGING_DIR = ".staging"
SUMMARY_NAME = "summary.json"
SORTING_FOLDER = "sorting"
NWB_NAME = "units.nwb"
LOCK_NAME = "ephys-sort.lock"
SUMMARY_SCHEMA_VERSION: Literal[1] = 1
TASK_FUNCTION = "w2t_bkin.ephys.sort:sort_job_task"

MotionPreset = Literal[
    "dredge",
    "medicine",
    "dredge_fast",
    "nonrigid_accurate",
    "nonrigid_fast_and_accurate",
    "rigid_fast",
    "kilosort_like",
]
"""Presets of SpikeInterface 0.105's ``correct_motion``."""

_PRESET_NEEDS: dict[str, str] = {
    "dredge": "torch",
    "dredge_fast": "torch",
    "rigid_fast": "torch",
    "medicine": "medicine",
}
"""Motion presets that import an optional package (measured with SpikeInterface 0.105.3)."""

INTERNAL_SORTERS = ("spykingcircus2", "tridesclous2", "simple")
"""SpikeInterface sorters that run in-process with no external binary, container or torch."""


class NoProbeError(IngestError):
    """The job's recording has no probe (channel locations): no sorter can use it. Exit 4."""


class SorterUnavailableError(ConfigError):
    """The sorter is unknown, not installed, or needs an external binary. Exit 2."""


class SortParams(BaseModel):
    """How each job is preprocessed and sorted (the ``ephys sort`` options).

    Attributes
    ----------
    sorter
        One of :data:`INTERNAL_SORTERS` (or another installed SpikeInterface sorter that runs
        in-process).
    sorter_params
        Overrides of the sorter's defaults (``spikeinterface.sorters.get_default_sorter_params``).
    freq_min_hz, freq_max_hz
        Bandpass corners (Butterworth, SpikeInterface's ``bandpass_filter``).
    reference
        Common median reference over all channels (``"global"``), or none.
    motion_correction, motion_preset
        Estimate and interpolate out probe motion (``correct_motion(preset=...)``).
    n_jobs
        Worker threads/processes SpikeInterface uses inside one job (``job_kwargs``); not part
        of the result's identity.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sorter: str = "spykingcircus2"
    sorter_params: dict[str, Any] = Field(default_factory=dict)
    freq_min_hz: float = Field(300.0, gt=0)
    freq_max_hz: float = Field(6000.0, gt=0)
    reference: Literal["global", "none"] = "global"
    motion_correction: bool = False
    motion_preset: MotionPreset = "nonrigid_fast_and_accurate"
    n_jobs: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _band(self) -> SortParams:
        if self.freq_min_hz >= self.freq_max_hz:
            raise ValueError(
                f"bandpass {self.freq_min_hz:g}-{self.freq_max_hz:g} Hz: the low corner must be "
                "below the high corner"
            )
        return self

    def identity(self) -> dict[str, Any]:
        """The fields that change the sorting (everything but ``n_jobs``)."""
        return self.model_dump(mode="json", exclude={"n_jobs"})

    def digest(self) -> str:
        return json_digest(self.identity())


class SortInputs(BaseModel):
    """What a sorting was made of: a rerun with the same inputs skips the job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_digest: str
    sorter: str
    params_digest: str


class UnitStats(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_id: str
    n_spikes: int
    firing_rate_hz: float


class SortSummary(BaseModel):
    """``sorting/<job_id>/summary.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SUMMARY_SCHEMA_VERSION
    job_id: str
    recording_name: str
    session_name: str
    block: str
    stream: str
    segment: int | None
    group: int | str | None
    inputs: SortInputs
    sorter: str
    sorter_version: str
    sorter_params: dict[str, Any]
    preprocessing: dict[str, Any]
    versions: dict[str, str]
    duration_s: float
    sampling_frequency_hz: float
    num_channels: int
    num_segments: int
    n_units: int
    n_spikes: int
    units: tuple[UnitStats, ...]
    wall_time_s: dict[str, float]
    outputs: dict[str, str]
    warnings: tuple[str, ...] = ()
    nwb_session_start: str | None = None
    data_dir: str
    created_at: str
    host: str


# --------------------------------------------------------------------------------------------
# paths and the finished-job rule


def job_output_dir(results_dir: str | Path, job_id: str) -> Path:
    """``RESULTS_DIR/sorting/<job_id>``."""
    return Path(results_dir) / SORTING_DIR / job_id


def read_summary(path: str | Path) -> SortSummary | None:
    """The summary at ``path``, or ``None`` when it is missing or unreadable (not finished)."""
    try:
        return SortSummary.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError):
        return None


def _inputs(job_file: Path, params: SortParams) -> SortInputs:
    return SortInputs(
        job_digest=file_digest(job_file), sorter=params.sorter, params_digest=params.digest()
    )


# --------------------------------------------------------------------------------------------
# inside a task (a worker process or the coordinator with one job)


def check_sorter(name: str) -> None:
    """Raise :class:`SorterUnavailableError` unless ``name`` is an installed in-process sorter."""
    import spikeinterface.sorters as ss

    known = ss.sorter_dict.get(name)
    if known is None:
        raise SorterUnavailableError(
            f"--sorter {name!r}: not a SpikeInterface sorter",
            hint=f"choose one that needs no external binary: {', '.join(INTERNAL_SORTERS)}",
        )
    # external sorters run a binary, MATLAB or a container: not what this command manages
    if not known.__module__.startswith("spikeinterface.sorters.internal"):
        raise SorterUnavailableError(
            f"--sorter {name!r} runs an external program; ephys sort runs in-process sorters only",
            hint=f"choose one of {', '.join(INTERNAL_SORTERS)}, or run {name} yourself on the "
            "job's recording (w2t_bkin.ephys.jobs.load_recording)",
        )
    if not known.is_installed():
        raise SorterUnavailableError(
            f"--sorter {name!r}: not installed in this environment "
            f"({getattr(known, 'installation_mesg', '').strip() or 'a dependency is missing'})",
            hint=f"use one of {', '.join(INTERNAL_SORTERS)} (they need nothing more)",
        )


def check_motion_preset(params: SortParams) -> None:
    """Raise :class:`ConfigError` when motion correction's preset needs a missing package."""
    import importlib.util

    needed = _PRESET_NEEDS.get(params.motion_preset)
    if params.motion_correction and needed and importlib.util.find_spec(needed) is None:
        raise ConfigError(
            f"--motion-preset {params.motion_preset}: needs the '{needed}' package, which is "
            "not installed",
            hint=f"pip install {needed}, or use --motion-preset nonrigid_fast_and_accurate "
            "(needs nothing more)",
        )


def preprocess(recording: BaseRecording, params: SortParams) -> BaseRecording:
    """Bandpass, common median reference and (optionally) motion correction, lazily.

    Parameters
    ----------
    recording
        The job's recording (any dtype; filtered output is float32).
    params
        Filter corners, reference and motion options.

    Returns
    -------
    BaseRecording
        A lazy chain: traces are computed chunk by chunk when the sorter reads them.
    """
    import spikeinterface.preprocessing as spre

    nyquist_hz = recording.get_sampling_frequency() / 2
    if not params.freq_min_hz < params.freq_max_hz < nyquist_hz:
        raise ConfigError(
            f"bandpass {params.freq_min_hz}-{params.freq_max_hz} Hz: expected "
            f"freq_min < freq_max < Nyquist ({nyquist_hz:g} Hz)",
            hint="pass --freq-min/--freq-max within the recording's band",
        )
    out = spre.bandpass_filter(
        recording, freq_min=params.freq_min_hz, freq_max=params.freq_max_hz, dtype="float32"
    )
    if params.reference == "global":
        out = spre.common_reference(out, reference="global", operator="median")
    if params.motion_correction:
        out = spre.correct_motion(out, preset=params.motion_preset, **job_kwargs(params.n_jobs))
    return out


def _effective_sorter_params(params: SortParams) -> dict[str, Any]:
    import spikeinterface.sorters as ss

    defaults = ss.get_default_sorter_params(params.sorter)
    unknown = sorted(set(params.sorter_params) - set(defaults))
    if unknown:
        raise SorterUnavailableError(
            f"sorter_params for {params.sorter}: unknown key(s) {', '.join(unknown)}",
            hint=f"valid keys: {', '.join(sorted(defaults))}",
        )
    merged = _merge(defaults, params.sorter_params)
    # we preprocess once, in preprocess(): a sorter that filters (or corrects motion) again
    # would do it twice; an explicit sorter_params entry still wins
    for own_step in ("apply_preprocessing", "apply_motion_correction"):
        if own_step in merged and own_step not in params.sorter_params:
            merged[own_step] = False
    if "job_kwargs" in merged:
        merged["job_kwargs"] = {**(merged.get("job_kwargs") or {}), **job_kwargs(params.n_jobs)}
    return merged


def job_kwargs(n_jobs: int) -> dict[str, Any]:
    """SpikeInterface ``job_kwargs`` for ``n_jobs`` workers inside this process.

    A daemonic process (a Dask worker) may not start child processes, so there the
    workers are threads; elsewhere SpikeInterface's default process pool is used.
    """
    import multiprocessing

    kwargs: dict[str, Any] = {"n_jobs": n_jobs, "progress_bar": False}
    if n_jobs > 1 and multiprocessing.current_process().daemon:
        kwargs["pool_engine"] = "thread"
    return kwargs


def _merge(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` updated by ``overrides``; nested dicts merge key by key."""
    merged = dict(defaults)
    for key, value in overrides.items():
        base = merged.get(key)
        if isinstance(base, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge(base, value)
        else:
            merged[key] = value
    return merged


def _unit_stats(sorting: BaseSorting, duration_s: float) -> tuple[UnitStats, ...]:
    counts = sorting.count_num_spikes_per_unit(outputs="dict")
    return tuple(
        UnitStats(
            unit_id=str(uid),
            n_spikes=int(counts[uid]),
            firing_rate_hz=float(counts[uid]) / duration_s if duration_s > 0 else 0.0,
        )
        for uid in sorting.unit_ids
    )


def _versions() -> dict[str, str]:
    import numpy
    import probeinterface
    import spikeinterface

    return {
        "w2t_bkin": __version__,
        "spikeinterface": spikeinterface.__version__,
        "probeinterface": probeinterface.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def _move_into_place(staging: Path, final: Path) -> None:
    """Rename the finished staging folder to ``final``, replacing an older one."""
    old: Path | None = None
    if final.exists():
        old = staging.parent / f"{final.name}-old-{uuid.uuid4().hex[:8]}"
        final.rename(old)
    staging.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def sort_job_task(
    job_file: str,
    results_dir: str,
    data_dir: str,
    params: dict[str, Any],
    nwb_session_start: str | None = None,
    nwb_only: bool = False,
) -> dict[str, Any]:
    """Sort one job (a runtime task: small picklable arguments, a JSON-able result).

    Parameters
    ----------
    job_file
        Path of the ``job_<id>.json``.
    results_dir
        The results folder (outputs go to ``sorting/<job_id>``).
    data_dir
        The folder the job's recording paths are relative to.
    params
        :class:`SortParams` as a dict.
    nwb_session_start
        ISO 8601 time with offset: also write ``units.nwb`` with this session start.
    nwb_only
        The job is sorted already: only add ``units.nwb`` to its folder (no sorting).

    Returns
    -------
    dict
        The :class:`SortSummary` as JSON-able dict.

    Raises
    ------
    NoProbeError
        The recording has no channel locations.
    JobFileError
        The job file is bad, or its recording is not under ``data_dir``.
    """
    started = time.perf_counter()
    # a new worker process pays these imports once: counted in load_s, not in preprocess_s
    import spikeinterface.preprocessing  # noqa: F401
    import spikeinterface.sorters as ss

    sort_params = SortParams.model_validate(params)
    job_path = Path(job_file)
    results = Path(results_dir)
    job = read_job(job_path)
    if nwb_only:
        if nwb_session_start is None:
            raise ValueError("nwb_only needs nwb_session_start")
        return _add_nwb(job, results, data_dir, sort_params, nwb_session_start)
    inputs = _inputs(job_path, sort_params)
    check_sorter(sort_params.sorter)
    wall: dict[str, float] = {}
    with warnings.catch_warnings(record=True) as caught:
        # sorter chatter (e.g. "not serializable"): kept in the summary, never fatal
        warnings.simplefilter("always")
        report_progress("loading recording")
        recording = load_recording(job, data_dir)
        if not (recording.has_probe() or recording.get_property("location") is not None):
            raise NoProbeError(
                f"job {job.job_id} ({job.recording_name}): the recording has no probe "
                "(no channel locations); spike sorters place spikes on the probe and cannot "
                "run without one",
                path=job_path,
                hint="dispatch again with a probe attached: SpikeGLX and Open Ephys readers "
                "take it from the metadata; for --input spikeinterface give "
                "spikeinterface_info.probe_paths (a probeinterface JSON)",
            )
        # each worker process would compile SpikeInterface's numba kernels again: load them
        cache_numba_kernels(kernel_modules_for(sort_params.sorter))
        wall["load_s"] = time.perf_counter() - started
        mark = time.perf_counter()
        report_progress("preprocessing")
        prepared = preprocess(recording, sort_params)
        wall["preprocess_s"] = time.perf_counter() - mark
        staging_root = results / SORTING_DIR / STAGING_DIR
        staging_root.mkdir(parents=True, exist_ok=True)
        staging = staging_root / f"{job.job_id}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            summary = _sort_into(staging, job, prepared, sort_params, inputs, wall, data_dir, ss)
            if nwb_session_start is not None:
                mark = time.perf_counter()
                report_progress("writing NWB units")
                _write_nwb(staging / NWB_NAME, job, summary, prepared, nwb_session_start)
                summary = summary.model_copy(
                    update={
                        "outputs": {**summary.outputs, "nwb": NWB_NAME},
                        "nwb_session_start": nwb_session_start,
                    }
                )
                wall["nwb_s"] = time.perf_counter() - mark
            summary = summary.model_copy(
                update={
                    "warnings": tuple(sorted({str(w.message) for w in caught})),
                    "wall_time_s": {**wall, "total_s": time.perf_counter() - started},
                }
            )
            atomic_write_json(staging / SUMMARY_NAME, summary.model_dump(mode="json"))
            _move_into_place(staging, job_output_dir(results, job.job_id))
            with contextlib.suppress(OSError):
                staging_root.rmdir()  # only when no other job is staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return summary.model_dump(mode="json")


def _sort_into(
    staging: Path,
    job: SortingJob,
    prepared: BaseRecording,
    params: SortParams,
    inputs: SortInputs,
    wall: dict[str, float],
    data_dir: str,
    ss: Any,
) -> SortSummary:
    # n_jobs reaches the sorter through its job_kwargs; SpikeInterface's global job settings
    # stay untouched (with --jobs 1 the sort runs in the caller's process)
    sorter_params = _effective_sorter_params(params)
    report_progress(f"sorting with {params.sorter}")
    mark = time.perf_counter()
    work = staging / "sorter"
    sorting = ss.run_sorter(
        params.sorter,
        prepared,
        folder=work,
        remove_existing_folder=True,
        delete_output_folder=False,
        verbose=False,
        raise_error=True,
        **sorter_params,
    )
    wall["sort_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    report_progress("saving sorting")
    saved = sorting.save(folder=staging / SORTING_FOLDER, overwrite=False)
    log_file = work / "spikeinterface_log.json"
    if log_file.is_file():
        shutil.copy2(log_file, staging / log_file.name)
    shutil.rmtree(work, ignore_errors=True)  # sorter scratch (waveforms, caches): not kept
    duration_s = float(
        sum(prepared.get_num_samples(k) for k in range(prepared.get_num_segments()))
        / prepared.get_sampling_frequency()
    )
    units = _unit_stats(saved, duration_s)
    outputs = {"sorting": SORTING_FOLDER, "summary": SUMMARY_NAME}
    wall["save_s"] = time.perf_counter() - mark
    sorter_cls = ss.sorter_dict[params.sorter]
    return SortSummary(
        job_id=job.job_id,
        recording_name=job.recording_name,
        session_name=job.session_name,
        block=job.block,
        stream=job.stream,
        segment=job.segment,
        group=job.group,
        inputs=inputs,
        sorter=params.sorter,
        sorter_version=str(sorter_cls.get_sorter_version()),
        sorter_params=json.loads(json.dumps(sorter_params, default=str)),
        preprocessing={
            "bandpass_hz": [params.freq_min_hz, params.freq_max_hz],
            "reference": params.reference,
            "operator": "median" if params.reference == "global" else None,
            "motion_correction": params.motion_correction,
            "motion_preset": params.motion_preset if params.motion_correction else None,
            "n_jobs": params.n_jobs,
        },
        versions=_versions(),
        duration_s=duration_s,
        sampling_frequency_hz=float(prepared.get_sampling_frequency()),
        num_channels=int(prepared.get_num_channels()),
        num_segments=int(prepared.get_num_segments()),
        n_units=len(units),
        n_spikes=sum(u.n_spikes for u in units),
        units=units,
        wall_time_s={},
        outputs=outputs,
        data_dir=str(data_dir),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        host=socket.gethostname(),
    )


def _write_nwb(
    path: Path, job: SortingJob, summary: SortSummary, recording: BaseRecording, start: str
) -> None:
    import spikeinterface as si

    from w2t_bkin.nwb.ephys_units import UnitsForNWB, write_units_nwb

    sorting = si.load(path.parent / SORTING_FOLDER)
    write_units_nwb(
        path,
        UnitsForNWB(
            identifier=f"{job.job_id}-{summary.inputs.params_digest[:12]}",
            session_description=f"{summary.sorter} sorting of {job.recording_name}",
            session_start_time=dt.datetime.fromisoformat(start),
            unit_ids=tuple(str(u) for u in sorting.unit_ids),
            spike_times_s=tuple(_unit_times_s(sorting, recording, u) for u in sorting.unit_ids),
            sorter=summary.sorter,
            recording_name=job.recording_name,
        ),
    )


def _add_nwb(
    job: SortingJob, results: Path, data_dir: str, params: SortParams, start: str
) -> dict[str, Any]:
    """Write ``units.nwb`` into a finished job's folder and record it in its summary."""
    folder = job_output_dir(results, job.job_id)
    summary = read_summary(folder / SUMMARY_NAME)
    if summary is None:
        raise OutputError(
            f"{folder / SUMMARY_NAME}: missing or unreadable, cannot add NWB units",
            path=folder,
            hint="sort the job again: w2t-bkin ephys sort RESULTS_DIR --force",
        )
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        recording = load_recording(job, data_dir)  # for its clock: times, not traces
        # the file is written beside the final one and renamed: readers never see half of it
        _write_nwb(folder / NWB_NAME, job, summary, recording, start)
    summary = summary.model_copy(
        update={"outputs": {**summary.outputs, "nwb": NWB_NAME}, "nwb_session_start": start}
    )
    atomic_write_json(folder / SUMMARY_NAME, summary.model_dump(mode="json"))
    return summary.model_dump(mode="json")


def _unit_times_s(sorting: BaseSorting, recording: BaseRecording, unit_id: Any) -> Any:
    """``(n_spikes,) float64`` times in seconds of one unit, on the recording's clock."""
    import numpy as np

    parts = [
        recording.sample_index_to_time(
            np.asarray(sorting.get_unit_spike_train(unit_id, segment_index=k)), segment_index=k
        )
        for k in range(recording.get_num_segments())
    ]
    return np.concatenate(parts).astype(np.float64)


# --------------------------------------------------------------------------------------------
# the coordinator


@dataclass(frozen=True)
class PlannedJob:
    """One ``job_*.json`` and what the run will do with it.

    ``action`` is ``"sort"``, ``"skip"`` (finished with the same inputs), ``"nwb"`` (finished,
    but NWB units were asked for and are missing: only they are written) or ``"fail"`` (the
    job file could not be read); ``reason`` says why.
    """

    job_file: Path
    job_id: str
    recording_name: str
    action: Literal["sort", "skip", "nwb", "fail"]
    reason: str
    job: SortingJob | None = None


@dataclass(frozen=True)
class SortRow:
    """One job's result in a run: ``status`` is ``done``, ``cached`` or ``failed``."""

    job_id: str
    recording_name: str
    status: str
    n_units: int | None = None
    n_spikes: int | None = None
    duration_s: float | None = None
    wall_s: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class SortReport:
    """What ``ephys sort`` did: one row per job, the run id, the data folder used."""

    results_dir: Path
    run_id: str
    data_dir: Path | None
    rows: tuple[SortRow, ...] = field(default_factory=tuple)

    @property
    def n_failed(self) -> int:
        return sum(row.status == "failed" for row in self.rows)


def _manifest(results: Path) -> dict[str, Any] | None:
    path = results / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IngestError(
            f"{path}: the dispatch manifest is not readable JSON ({exc})",
            path=path,
            hint="dispatch again (w2t-bkin ephys dispatch ... --output RESULTS_DIR)",
        ) from None
    return data if isinstance(data, dict) else None


def plan_jobs(
    results_dir: str | Path, params: SortParams, *, force: bool, nwb: bool = False
) -> list[PlannedJob]:
    """Each job of ``results_dir`` (files and manifest entries) with the action to take.

    Raises
    ------
    NoJobsError
        No ``job_*.json`` in the folder and none listed by a manifest.
    """
    results = Path(results_dir)
    files = sorted(results.glob("job_*.json"))
    manifest = _manifest(results) or {}
    listed = {str(j.get("file")): j for j in manifest.get("jobs", []) if isinstance(j, dict)}
    if not files and not listed:
        raise NoJobsError(
            f"{results}: no job_*.json to sort",
            path=results,
            hint=f"write the jobs first: w2t-bkin ephys dispatch DATA_DIR --output {results}",
        )
    planned: list[PlannedJob] = []
    present = {f.name for f in files}
    for name, entry in sorted(listed.items()):
        if name not in present:
            planned.append(
                PlannedJob(
                    results / name,
                    str(entry.get("job_id", name)),
                    str(entry.get("recording_name", "?")),
                    "fail",
                    f"{name} is listed in {MANIFEST_NAME} but missing from {results}",
                )
            )
    for file in files:
        try:
            job = read_job(file)
        except W2TError as exc:
            job_id = file.stem.removeprefix("job_")
            planned.append(PlannedJob(file, job_id, "?", "fail", f"{type(exc).__name__}: {exc}"))
            continue
        summary = read_summary(job_output_dir(results, job.job_id) / SUMMARY_NAME)
        same = summary is not None and summary.inputs == _inputs(file, params)
        if same and not force:
            assert summary is not None
            action: Literal["sort", "skip", "nwb"] = "skip"
            reason = "finished with the same job file, sorter and parameters"
            if nwb and "nwb" not in summary.outputs:
                action, reason = "nwb", "finished; NWB units asked for and missing"
        else:
            action = "sort"
            reason = (
                "forced"
                if same
                else "no summary yet"
                if summary is None
                else "inputs changed since the last sorting"
            )
        planned.append(PlannedJob(file, job.job_id, job.recording_name, action, reason, job))
    return sorted(planned, key=lambda p: (p.recording_name, p.job_id))


def _data_dir_of(
    data_dir: str | Path | None, manifest: Mapping[str, Any] | None, job: SortingJob
) -> Path:
    if data_dir is not None:
        return Path(data_dir)
    if manifest and manifest.get("data_dir"):
        return Path(str(manifest["data_dir"]))
    return Path(job.provenance.data_dir_at_dispatch)


def _outputs(folder: Path) -> dict[str, OutputRecord]:
    records = {}
    for name in (SUMMARY_NAME, NWB_NAME):
        path = folder / name
        if path.is_file():
            records[name] = OutputRecord(str(path), file_digest(path), path.stat().st_size)
    return records


def default_n_jobs(workers: int) -> int:
    """Threads per job: the machine's CPUs shared by the ``workers`` jobs running at once."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def sort_results(
    results_dir: str | Path,
    params: SortParams,
    *,
    executor: str = "local",
    jobs: int = 1,
    data_dir: str | Path | None = None,
    nwb_session_start: dt.datetime | None = None,
    force: bool = False,
    scheduler: str | None = None,
    command: Sequence[str] = ("w2t-bkin", "ephys", "sort"),
    on_event: Callable[[TaskEvent], None] | None = None,
) -> SortReport:
    """Sort every unfinished job of ``results_dir`` on an executor and record the run.

    Parameters
    ----------
    results_dir
        Folder of ``job_*.json`` and ``dispatch_manifest.json``.
    params
        Preprocessing and sorter (``params.n_jobs``: SpikeInterface workers inside each job).
    executor, jobs, scheduler
        ``"local"`` (``jobs == 1``: in this process; more: a pool of processes) or ``"dask"``.
    data_dir
        Where the recordings are now (default: the manifest's ``data_dir``, else each job's
        dispatch-time folder).
    nwb_session_start
        Also write ``units.nwb`` per job, with this session start (timezone-aware: job files
        record no session start, and none is invented). A finished job without units gets
        them without being sorted again.
    force
        Sort finished jobs again.

    Returns
    -------
    SortReport
        One row per job (failed jobs included: they never stop the others).

    Raises
    ------
    NoJobsError
        The folder holds no job.
    SorterUnavailableError
        The sorter cannot run here (checked once, before any job starts).
    ConfigError
        ``nwb_session_start`` has no time zone.
    """
    results = Path(results_dir)
    if executor not in ("local", "dask"):
        raise ConfigError(
            f"--executor {executor!r}: expected local or dask", hint="--executor local"
        )
    if nwb_session_start is not None and nwb_session_start.utcoffset() is None:
        raise ConfigError(
            f"session start {nwb_session_start.isoformat()} has no time zone",
            hint="give the offset, e.g. --session-start-time 2026-01-02T10:00:00+01:00",
        )
    start = None if nwb_session_start is None else nwb_session_start.isoformat()
    check_sorter(params.sorter)
    _effective_sorter_params(params)  # unknown keys fail here, before any job starts
    check_motion_preset(params)
    # one coordinator per results folder: two would sort the same job twice
    with exclusive_lock(results / ".w2t" / LOCK_NAME):
        _remove_staging_leftovers(results)
        return _sort_locked(
            results,
            params,
            executor,
            jobs,
            data_dir,
            start,
            force,
            scheduler,
            command,
            on_event,
        )


def _remove_staging_leftovers(results: Path) -> None:
    """Staging folders of a killed run (safe: the lock says no other sort is running)."""
    root = results / SORTING_DIR / STAGING_DIR
    for leftover in sorted(root.iterdir()) if root.is_dir() else []:
        log.warning("removing %s, left by an interrupted ephys sort", leftover)
        shutil.rmtree(leftover, ignore_errors=True)


def _sort_locked(
    results: Path,
    params: SortParams,
    executor: str,
    jobs: int,
    data_dir: str | Path | None,
    nwb_start: str | None,
    force: bool,
    scheduler: str | None,
    command: Sequence[str],
    on_event: Callable[[TaskEvent], None] | None,
) -> SortReport:
    planned = plan_jobs(results, params, force=force, nwb=nwb_start is not None)
    manifest = _manifest(results)
    registry = Registry(registry_path(results))
    registry.mark_stale_runs()
    config = {
        "params": params.model_dump(mode="json"),
        "executor": executor,
        "jobs": jobs,
        "data_dir": None if data_dir is None else str(data_dir),
        "nwb_session_start": nwb_start,
        "force": force,
    }
    run_id = registry.start_run(command, config)
    rows: dict[str, SortRow] = {}
    started_at: dict[str, str] = {}
    used_data_dir: Path | None = None
    specs: list[TaskSpec] = []
    for item in planned:
        fingerprint = {"inputs": None, "job_file": str(item.job_file)}
        if item.action == "fail":
            rows[item.job_id] = SortRow(
                item.job_id, item.recording_name, "failed", error=item.reason
            )
            registry.record_task(
                run_id,
                TaskRecord(item.job_id, "failed", error=item.reason, fingerprint=fingerprint),
            )
            continue
        assert item.job is not None
        folder = job_output_dir(results, item.job_id)
        if item.action == "skip":
            summary = read_summary(folder / SUMMARY_NAME)
            assert summary is not None
            rows[item.job_id] = _row(summary, "cached")
            registry.record_task(
                run_id,
                TaskRecord(
                    item.job_id,
                    "cached",
                    cache_key=summary.inputs.params_digest,
                    outputs=_outputs(folder),
                    fingerprint=summary.inputs.model_dump(),
                ),
            )
            continue
        where = _data_dir_of(data_dir, manifest, item.job)
        used_data_dir = used_data_dir or where
        specs.append(
            TaskSpec(
                item.job_id,
                TASK_FUNCTION,
                {
                    "job_file": str(item.job_file),
                    "results_dir": str(results),
                    "data_dir": str(where),
                    "params": params.model_dump(mode="json"),
                    "nwb_session_start": nwb_start,
                    "nwb_only": item.action == "nwb",
                },
            )
        )
    names = {p.job_id: p.recording_name for p in planned}

    def event(ev: TaskEvent) -> None:
        if ev.kind == "started":
            started_at.setdefault(ev.key, utc_now())
        if on_event is not None:
            on_event(ev)

    def outcome(out: TaskOutcome) -> None:
        rows[out.key] = _record_outcome(
            registry, run_id, out, names[out.key], started_at.get(out.key), results, params
        )

    status = "succeeded"
    try:
        if specs:
            runner = _executor(executor, jobs, scheduler)
            try:
                runner.run(specs, on_event=event, on_outcome=outcome)
            finally:
                runner.close()
    except KeyboardInterrupt:
        registry.finish_run(run_id, "interrupted")
        raise
    except BaseException:
        registry.finish_run(run_id, "failed")  # e.g. the Dask extra is missing
        raise
    ordered = tuple(rows[p.job_id] for p in planned if p.job_id in rows)
    if any(row.status == "failed" for row in ordered):
        status = "failed"
    registry.finish_run(run_id, status)
    return SortReport(results, run_id, used_data_dir, ordered)


def _executor(kind: str, jobs: int, scheduler: str | None) -> Executor:
    from w2t_bkin.runtime.executors import make_executor
    from w2t_bkin.runtime.tasks import SerialExecutor

    if kind == "local" and jobs == 1 and scheduler is None:
        # as `run --jobs 1`: no interpreter start, no second SpikeInterface import
        return SerialExecutor()
    return make_executor(kind, jobs, scheduler)  # type: ignore[arg-type]


def _row(summary: SortSummary, status: str) -> SortRow:
    return SortRow(
        summary.job_id,
        summary.recording_name,
        status,
        n_units=summary.n_units,
        n_spikes=summary.n_spikes,
        duration_s=summary.duration_s,
        wall_s=summary.wall_time_s.get("total_s"),
    )


def _record_outcome(
    registry: Registry,
    run_id: str,
    out: TaskOutcome,
    recording_name: str,
    started: str | None,
    results: Path,
    params: SortParams,
) -> SortRow:
    folder = job_output_dir(results, out.key)
    if out.error is None:
        summary = SortSummary.model_validate(out.value)
        registry.record_task(
            run_id,
            TaskRecord(
                out.key,
                "done",
                cache_key=summary.inputs.params_digest,
                started_at=started,
                finished_at=utc_now(),
                attempts=out.attempts,
                phase_durations_s=summary.wall_time_s,
                outputs=_outputs(folder),
                warnings=summary.warnings,
                fingerprint=summary.inputs.model_dump(),
            ),
        )
        return _row(summary, "done")
    status = "cancelled" if out.cancelled else "failed"
    log.error("ephys sort: job %s (%s) failed: %s", out.key, recording_name, out.error)
    registry.record_task(
        run_id,
        TaskRecord(
            out.key,
            status,
            cache_key=params.digest(),
            started_at=started,
            finished_at=utc_now(),
            attempts=out.attempts,
            error=out.error,
            fingerprint={"sorter": params.sorter, "params_digest": params.digest()},
        ),
    )
    return SortRow(out.key, recording_name, "failed", error=out.error)
