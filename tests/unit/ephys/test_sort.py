"""``ephys sort`` without running a sorter: preprocessing, sorter checks, the finished-job rule,
failures that never reach a sorter, staging and the lock."""

from __future__ import annotations

import importlib.util
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from w2t_bkin.cli import main
from w2t_bkin.ephys.dispatch import MANIFEST_NAME
from w2t_bkin.ephys.errors import NoJobsError
from w2t_bkin.ephys.jobs import SortingJob, write_job
from w2t_bkin.ephys.sort import (
    SORTING_DIR,
    STAGING_DIR,
    SUMMARY_NAME,
    SorterUnavailableError,
    SortParams,
    SortSummary,
    _inputs,
    _move_into_place,
    check_sorter,
    default_n_jobs,
    job_kwargs,
    job_output_dir,
    plan_jobs,
    preprocess,
    sort_results,
)
from w2t_bkin.errors import ConfigError
from w2t_bkin.runtime.locks import LockHeldError, exclusive_lock
from w2t_bkin.runtime.registry import Registry, registry_path

from .conftest import make_job, save_binary_recording

FS_HZ = 30_000.0


@pytest.fixture
def one_job(tmp_path: Path) -> tuple[Path, Path, SortingJob]:
    """``(data_dir, results_dir, job)``: one short recording with a probe and its job file."""
    data_dir = tmp_path / "data"
    recording = save_binary_recording(data_dir / "rec", duration_s=0.2)
    job = make_job(data_dir, recording, "rec")
    results = tmp_path / "results"
    write_job(job, results)
    return data_dir, results, job


def write_summary(results: Path, job: SortingJob, params: SortParams) -> Path:
    """A finished job's summary, as sort_job_task writes it."""
    job_file = results / f"job_{job.job_id}.json"
    summary = SortSummary(
        job_id=job.job_id,
        recording_name=job.recording_name,
        session_name=job.session_name,
        block=job.block,
        stream=job.stream,
        segment=job.segment,
        group=job.group,
        inputs=_inputs(job_file, params),
        sorter=params.sorter,
        sorter_version="x",
        sorter_params={},
        preprocessing={},
        versions={},
        duration_s=job.duration_s,
        sampling_frequency_hz=job.sampling_frequency_hz,
        num_channels=job.num_channels,
        num_segments=1,
        n_units=2,
        n_spikes=7,
        units=(),
        wall_time_s={"total_s": 1.5},
        outputs={},
        data_dir="/data",
        created_at="2026-01-01T00:00:00+00:00",
        host="h",
    )
    folder = job_output_dir(results, job.job_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SUMMARY_NAME
    path.write_text(summary.model_dump_json())
    return path


# -- preprocessing ------------------------------------------------------------------------


def test_preprocess_removes_the_common_signal_and_out_of_band_drift() -> None:
    from spikeinterface.core import NumpyRecording

    t_s = np.arange(int(FS_HZ)) / FS_HZ
    common = 50.0 * np.sin(2 * np.pi * 1000.0 * t_s) + 80.0 * np.sin(2 * np.pi * 20.0 * t_s)
    own = 30.0 * np.sin(2 * np.pi * 1500.0 * t_s)  # channel 0 only
    traces = np.repeat(common[:, None], 4, axis=1).astype(np.float32)
    traces[:, 0] += own.astype(np.float32)
    out = preprocess(NumpyRecording([traces], FS_HZ), SortParams())
    middle = slice(6000, 24_000)  # away from the filter's edge effects
    filtered = out.get_traces(start_frame=middle.start, end_frame=middle.stop)
    # median of (common + own, common, common, common) is exactly the common signal
    assert np.abs(filtered[:, 1:]).max() < 1e-3
    # channel 0 keeps its 1.5 kHz sine (in band: gain ~1), minus the 20 Hz drift
    amplitude = np.sqrt(2) * filtered[:, 0].std()
    assert amplitude == pytest.approx(30.0, rel=0.03)
    assert out.get_dtype() == np.float32


def test_bandpass_corners_are_checked() -> None:
    from spikeinterface.core import NumpyRecording

    with pytest.raises(ValidationError, match="low corner must be below the high corner"):
        SortParams(freq_min_hz=6000, freq_max_hz=300)
    slow = NumpyRecording([np.zeros((100, 2), np.float32)], 10_000.0)
    with pytest.raises(ConfigError, match=r"Nyquist \(5000 Hz\)") as info:
        preprocess(slow, SortParams())
    assert info.value.exit_code == 2


def test_n_jobs_is_not_part_of_the_result_identity() -> None:
    assert SortParams(n_jobs=1).digest() == SortParams(n_jobs=8).digest()
    assert SortParams().digest() != SortParams(sorter_params={"seed": 1}).digest()
    assert default_n_jobs(1) >= default_n_jobs(2) >= 1


# -- sorters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nope", "'nope': not a SpikeInterface sorter"),
        ("kilosort4", "'kilosort4' runs an external program"),
    ],
)
def test_unusable_sorters_are_refused(name: str, message: str) -> None:
    with pytest.raises(SorterUnavailableError, match=message) as info:
        check_sorter(name)
    assert info.value.exit_code == 2
    assert "spykingcircus2, tridesclous2, simple" in (info.value.hint or "")


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed")
def test_internal_sorter_missing_its_dependency_is_refused() -> None:
    with pytest.raises(SorterUnavailableError, match="'lupin': not installed"):
        check_sorter("lupin")


def test_unknown_sorter_param_fails_before_any_job(one_job: tuple[Path, Path, Any]) -> None:
    _, results, _ = one_job
    params = SortParams(sorter="simple", sorter_params={"detect_treshold": 4})
    with pytest.raises(SorterUnavailableError, match=r"unknown key\(s\) detect_treshold"):
        sort_results(results, params)
    assert not registry_path(results).exists()


# -- which jobs run ------------------------------------------------------------------------


def test_finished_jobs_are_skipped_until_an_input_changes(
    one_job: tuple[Path, Path, SortingJob],
) -> None:
    _, results, job = one_job
    params = SortParams(sorter="simple")
    ((first,),) = [plan_jobs(results, params, force=False)]
    assert (first.action, first.reason) == ("sort", "no summary yet")

    write_summary(results, job, params)
    (planned,) = plan_jobs(results, params.model_copy(update={"n_jobs": 7}), force=False)
    assert (planned.action, planned.job_id) == ("skip", job.job_id)
    (planned,) = plan_jobs(results, params, force=True)
    assert (planned.action, planned.reason) == ("sort", "forced")
    for changed in (
        SortParams(sorter="simple", sorter_params={"detect_threshold": 4.0}),
        SortParams(sorter="simple", freq_min_hz=400.0),
        SortParams(sorter="tridesclous2"),
    ):
        (planned,) = plan_jobs(results, changed, force=False)
        assert (planned.action, planned.reason) == ("sort", "inputs changed since the last sorting")

    (planned,) = plan_jobs(results, params, force=False, nwb=True)
    assert (planned.action, planned.reason) == ("nwb", "finished; NWB units asked for and missing")

    write_job(job.model_copy(update={"debug": True}), results)  # same id, new content
    (planned,) = plan_jobs(results, params, force=False)
    assert planned.reason == "inputs changed since the last sorting"

    (job_output_dir(results, job.job_id) / SUMMARY_NAME).write_text("{not json")
    (planned,) = plan_jobs(results, params, force=False)
    assert planned.reason == "no summary yet"


def test_no_job_files_is_an_error_with_exit_code_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(NoJobsError, match=r"no job_\*\.json to sort"):
        plan_jobs(tmp_path, SortParams(), force=False)
    code = main(["ephys", "sort", str(tmp_path), "--sorter", "simple"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 4
    assert f"{tmp_path}: no job_*.json to sort" in err and "Traceback" not in err


def test_broken_jobs_fail_alone_and_are_recorded(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    results = tmp_path / "results"
    recording = save_binary_recording(data_dir / "rec", duration_s=0.2)
    write_job(make_job(data_dir, recording, "rec"), results)
    shutil.rmtree(data_dir / "rec")  # its recording is gone
    (results / "job_0123456789abcdef.json").write_text("{}")  # not a job
    (results / MANIFEST_NAME).write_text(
        json.dumps({"data_dir": str(data_dir), "jobs": [{"file": "job_ffffffffffffffff.json",
                    "job_id": "ffffffffffffffff", "recording_name": "gone"}]})
    )  # fmt: skip
    report = sort_results(results, SortParams(sorter="simple"))
    rows = {row.job_id: row for row in report.rows}
    assert {k: r.status for k, r in rows.items()} == dict.fromkeys(
        [make_job(data_dir, recording, "rec").job_id, "0123456789abcdef", "ffffffffffffffff"],
        "failed",
    )
    assert rows["ffffffffffffffff"].error == (
        f"job_ffffffffffffffff.json is listed in {MANIFEST_NAME} but missing from {results}"
    )
    assert "JobFileError" in (rows["0123456789abcdef"].error or "")
    missing = rows[make_job(data_dir, recording, "rec").job_id].error or ""
    assert missing.startswith("JobFileError: ") and "is not under the data folder" in missing
    assert report.n_failed == 3
    run = Registry(registry_path(results)).get_run(report.run_id)
    assert run.status == "failed" and dict(run.task_counts) == {"failed": 3}


def test_recordings_without_probe_fail_with_the_reason_in_worker_processes(
    tmp_path: Path,
) -> None:
    import spikeinterface as si

    data_dir = tmp_path / "data"
    results = tmp_path / "results"
    for name in ("bare1", "bare2"):
        bare = si.generate_recording(
            num_channels=4, sampling_frequency=10_000.0, durations=[0.2], set_probe=False, seed=1
        ).save(folder=data_dir / name, verbose=False, progress_bar=False)
        write_job(make_job(data_dir, bare, name), results)
    # two worker processes: the error text crosses the process boundary intact
    report = sort_results(results, SortParams(sorter="simple"), jobs=2, data_dir=data_dir)
    assert [row.recording_name for row in report.rows] == [
        "block0_bare1_recording1",
        "block0_bare2_recording1",
    ]
    for row in report.rows:
        assert row.status == "failed"
        # the message names the job file, what is missing and the fix
        assert (row.error or "").startswith(
            f"NoProbeError: {results / f'job_{row.job_id}.json'}: job {row.job_id} "
            f"({row.recording_name}): the recording has no probe (no channel locations)"
        )
        assert "spikeinterface_info.probe_paths" in (row.error or "")
        assert not job_output_dir(results, row.job_id).exists()
    assert not (results / SORTING_DIR / STAGING_DIR).exists()
    run = Registry(registry_path(results)).get_run(report.run_id)
    # the registry lists tasks as they finished (2 workers: either order), the report by name
    recorded = sorted(t.error or "" for t in run.tasks)
    assert recorded == sorted(row.error or "" for row in report.rows)


def test_unknown_executor_is_refused_before_the_run(
    one_job: tuple[Path, Path, SortingJob], capsys: pytest.CaptureFixture[str]
) -> None:
    _, results, _ = one_job
    code = main(["ephys", "sort", str(results), "--sorter", "simple", "--executor", "slurm"])
    assert code == 2 and "--executor 'slurm': expected local or dask" in capsys.readouterr().err
    assert not registry_path(results).exists()


# -- outputs ------------------------------------------------------------------------------


def test_move_into_place_replaces_an_older_folder(tmp_path: Path) -> None:
    final = tmp_path / "sorting" / "abc"
    final.mkdir(parents=True)
    (final / "old.txt").write_text("old")
    staging = tmp_path / "sorting" / STAGING_DIR / "abc-1"
    staging.mkdir(parents=True)
    (staging / "new.txt").write_text("new")
    _move_into_place(staging, final)
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert list(staging.parent.iterdir()) == []


def test_staging_leftovers_are_removed_and_one_sort_runs_at_a_time(
    one_job: tuple[Path, Path, SortingJob],
) -> None:
    data_dir, results, job = one_job
    leftover = results / SORTING_DIR / STAGING_DIR / f"{job.job_id}-99-deadbeef"
    leftover.mkdir(parents=True)
    lock = results / ".w2t" / "ephys-sort.lock"
    with exclusive_lock(lock), pytest.raises(LockHeldError):
        sort_results(results, SortParams(sorter="simple"), data_dir=data_dir)
    assert leftover.is_dir()  # the lock holder's staging is never touched
    shutil.rmtree(data_dir)  # the job fails at once: this test is about the leftovers
    sort_results(results, SortParams(sorter="simple"), data_dir=data_dir)
    assert not leftover.exists()


def test_cli_reports_bad_options_without_traceback(
    one_job: tuple[Path, Path, SortingJob], capsys: pytest.CaptureFixture[str]
) -> None:
    _, results, _ = one_job
    code = main(["ephys", "sort", str(results), "--freq-min", "7000", "--freq-max", "300"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "low corner must be below the high corner" in err
    code = main(["ephys", "sort", str(results), "--sorter-params", "{detect: 4}"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1 and "--sorter-params: not JSON" in err and "Traceback" not in err
    code = main(["ephys", "sort", str(results), "--sorter", "kilosort4"])
    assert code == 2 and "runs an external program" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--nwb"], "--nwb needs --session-start-time: job files record no session start"),
        (["--nwb", "--session-start-time", "2026-01-02T10:00:00"], "has no time zone"),
        (["--nwb", "--session-start-time", "yesterday"], "not an ISO 8601 date and time"),
        (["--session-start-time", "2026-01-02T10:00:00+01:00"], "only used with --nwb"),
    ],
)
def test_nwb_needs_an_aware_session_start(
    one_job: tuple[Path, Path, SortingJob],
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    _, results, _ = one_job
    code = main(["ephys", "sort", str(results), "--sorter", "simple", *extra])
    assert code == 2 and message in " ".join(capsys.readouterr().err.split())
    assert not registry_path(results).exists()


def test_library_refuses_a_naive_session_start(one_job: tuple[Path, Path, SortingJob]) -> None:
    import datetime as dt

    _, results, _ = one_job
    with pytest.raises(ConfigError, match="2026-01-02T10:00:00 has no time zone"):
        sort_results(results, SortParams(), nwb_session_start=dt.datetime(2026, 1, 2, 10))


def _job_kwargs_into(queue: Any) -> None:
    queue.put(job_kwargs(2))


def test_job_kwargs_use_threads_inside_daemonic_workers() -> None:
    import multiprocessing

    # a Dask worker is daemonic and may not start processes: SpikeInterface gets threads
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_job_kwargs_into, args=(queue,), daemon=True)
    child.start()
    inside = queue.get(timeout=60)
    child.join(timeout=60)
    assert inside == {"n_jobs": 2, "progress_bar": False, "pool_engine": "thread"}
    assert job_kwargs(2) == {"n_jobs": 2, "progress_bar": False}
    assert job_kwargs(1) == {"n_jobs": 1, "progress_bar": False}


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed")
def test_motion_preset_needing_torch_is_refused_before_any_job(
    one_job: tuple[Path, Path, SortingJob], capsys: pytest.CaptureFixture[str]
) -> None:
    _, results, _ = one_job
    argv = ["ephys", "sort", str(results), "--sorter", "simple", "--motion-correction"]
    code = main([*argv, "--motion-preset", "dredge_fast"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "--motion-preset dredge_fast: needs the 'torch' package, which is not installed" in err
    assert "nonrigid_fast_and_accurate" in err and not registry_path(results).exists()


@pytest.mark.slow
def test_motion_correction_interpolates_the_preprocessed_recording() -> None:
    from spikeinterface.generation import generate_ground_truth_recording

    recording, _ = generate_ground_truth_recording(
        durations=[5.0], num_channels=16, num_units=4, seed=2205
    )
    params = SortParams(motion_correction=True, n_jobs=1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="spikeinterface")
        out = preprocess(recording, params)
    assert type(out).__name__ == "InterpolateMotionRecording"
    assert (out.get_num_samples(0), out.get_num_channels()) == (
        recording.get_num_samples(0),
        recording.get_num_channels(),
    )
    assert out.get_traces(start_frame=0, end_frame=300).dtype == np.float32
