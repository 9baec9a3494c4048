"""``w2t-bkin ephys dispatch`` then ``ephys sort`` on a generated ground-truth recording.

One sorting run (``simple``, 10 s, 16 channels, 4 units, seed 2205) checks accuracy against the
ground truth, the outputs (sorting folder, summary), the run registry, a job whose recording is
gone failing alone and the moved data folder (``--data-dir``); a second run adds NWB units
without sorting again; a third skips the finished job.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.cli import main
from w2t_bkin.ephys.jobs import read_jobs
from w2t_bkin.ephys.sort import SUMMARY_NAME, job_output_dir, read_summary
from w2t_bkin.nwb.ephys_units import read_units_nwb
from w2t_bkin.runtime.registry import Registry, registry_path

DURATION_S = 10.0
N_UNITS = 4
WELL_DETECTED_ACCURACY = 0.8
MIN_WELL_DETECTED = 3
"""Measured with this seed: accuracies 0.92, 0.90, 0.52, 0.99 (simple, seed 0)."""


def _squash(text: str) -> str:
    return " ".join(text.split())


def write_ground_truth(data_dir: Path, gt_dir: Path) -> None:
    """The same generated recording saved twice (``a_rec``, ``b_rec``) and its true sorting."""
    from spikeinterface.generation import generate_ground_truth_recording

    recording, sorting = generate_ground_truth_recording(
        durations=[DURATION_S],
        sampling_frequency=30_000.0,
        num_channels=16,
        num_units=N_UNITS,
        seed=2205,
    )
    with warnings.catch_warnings():
        # the generator's lazy recording has no file provenance to record: expected
        warnings.filterwarnings("ignore", "The extractor is not serializable", UserWarning)
        saved = recording.save(folder=data_dir / "a_rec", verbose=False, progress_bar=False)
        sorting.save(folder=gt_dir)
    shutil.copytree(data_dir / "a_rec", data_dir / "b_rec")
    assert saved.has_probe()


def test_sort_end_to_end_with_ground_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import spikeinterface as si
    from pynwb import NWBHDF5IO
    from spikeinterface.comparison import compare_sorter_to_ground_truth

    data_dir, gt_dir, results = tmp_path / "data", tmp_path / "gt", tmp_path / "results"
    write_ground_truth(data_dir, gt_dir)
    info = json.dumps({"reader_type": "spikeinterface"})
    argv = ["ephys", "dispatch", str(data_dir), "--input", "spikeinterface"]
    assert main([*argv, "--spikeinterface-info", info, "-o", str(results)]) == 0
    job_a, job_b = read_jobs(results)
    assert (job_a.stream, job_b.stream) == ("a_rec", "b_rec")

    moved = tmp_path / "moved"
    data_dir.rename(moved)
    shutil.rmtree(moved / "b_rec")  # job b's recording is gone: it must fail alone
    capsys.readouterr()
    sort = ["ephys", "sort", str(results), "--sorter", "simple", "--data-dir", str(moved)]
    sort += ["--sorter-params", '{"seed": 0}']
    code = main(sort)
    captured = capsys.readouterr()
    out, err = _squash(captured.out), _squash(captured.err)
    assert code == 1
    assert "sorted 1, skipped 0 finished, failed 1 of 2 job(s)" in out
    assert f"failed {job_b.job_id} ({job_b.recording_name}): JobFileError: " in err
    assert "'b_rec' is not under the data folder" in err and "Traceback" not in err

    # accuracy against the ground truth
    folder = job_output_dir(results, job_a.job_id)
    sorting = si.load(folder / "sorting")
    truth = si.load(gt_dir)
    performance = compare_sorter_to_ground_truth(truth, sorting, exhaustive_gt=True)
    accuracy = performance.get_performance()["accuracy"].astype(float)
    assert len(accuracy) == N_UNITS
    assert int((accuracy >= WELL_DETECTED_ACCURACY).sum()) >= MIN_WELL_DETECTED

    # the summary describes the saved sorting exactly
    summary = read_summary(folder / SUMMARY_NAME)
    assert summary is not None
    counts = sorting.count_num_spikes_per_unit(outputs="dict")
    assert summary.n_units == sorting.get_num_units() == len(summary.units)
    assert {u.unit_id: u.n_spikes for u in summary.units} == {
        str(k): int(v) for k, v in counts.items()
    }
    assert [u.firing_rate_hz for u in summary.units] == [
        u.n_spikes / DURATION_S for u in summary.units
    ]
    assert summary.n_spikes == sum(counts.values())
    assert (summary.duration_s, summary.num_channels, summary.sorter) == (DURATION_S, 16, "simple")
    assert summary.sorter_params["seed"] == 0
    assert summary.sorter_params["apply_preprocessing"] is False  # we filtered once already
    assert summary.preprocessing["bandpass_hz"] == [300.0, 6000.0]
    assert summary.versions["spikeinterface"] == si.__version__
    assert summary.data_dir == str(moved)
    assert set(summary.wall_time_s) == {"load_s", "preprocess_s", "sort_s", "save_s", "total_s"}
    assert sorted(p.name for p in folder.iterdir()) == [
        "sorting",
        "spikeinterface_log.json",
        "summary.json",
    ]

    # the registry holds the run, written by this (coordinating) process
    registry = Registry(registry_path(results))
    (first,) = registry.list_runs()
    run = registry.get_run(first.run_id)
    assert run.status == "failed" and dict(run.task_counts) == {"done": 1, "failed": 1}
    done = next(t for t in run.tasks if t.status == "done")
    assert done.task_key == job_a.job_id and set(done.outputs) == {"summary.json"}
    assert done.fingerprint == summary.inputs.model_dump()

    # NWB units added later: no second sorting, the same spikes in seconds
    sorted_at = (folder / "sorting").stat().st_mtime_ns
    start = "2026-01-02T10:00:00+01:00"
    assert main([*sort, "--nwb", "--session-start-time", start]) == 1
    assert "sorted 1, skipped 0 finished, failed 1 of 2 job(s)" in _squash(capsys.readouterr().out)
    assert (folder / "sorting").stat().st_mtime_ns == sorted_at
    with_nwb = read_summary(folder / SUMMARY_NAME)
    assert with_nwb is not None and with_nwb.outputs["nwb"] == "units.nwb"
    assert with_nwb.nwb_session_start == start
    assert with_nwb.model_dump(exclude={"outputs", "nwb_session_start"}) == summary.model_dump(
        exclude={"outputs", "nwb_session_start"}
    )
    with NWBHDF5IO(str(folder / "units.nwb"), mode="r") as io:
        assert io.read().session_start_time == dt.datetime.fromisoformat(start)
    nwb_units = read_units_nwb(folder / "units.nwb")
    assert list(nwb_units) == [str(u) for u in sorting.unit_ids]
    for unit_id in sorting.unit_ids:
        frames = sorting.get_unit_spike_train(unit_id)
        np.testing.assert_allclose(nwb_units[str(unit_id)], frames / 30_000.0, rtol=0, atol=1e-9)

    (nwb_run, _) = registry.list_runs(limit=2)
    added = next(t for t in registry.get_run(nwb_run.run_id).tasks if t.status == "done")
    assert set(added.outputs) == {"summary.json", "units.nwb"}

    # a rerun skips the finished job and reports the broken one again
    stamp = (folder / SUMMARY_NAME).stat().st_mtime_ns
    code = main([*sort, "--nwb", "--session-start-time", start])
    out = _squash(capsys.readouterr().out)
    assert code == 1
    assert "sorted 0, skipped 1 finished, failed 1 of 2 job(s)" in out
    assert (folder / SUMMARY_NAME).stat().st_mtime_ns == stamp
    latest = registry.list_runs()[0]
    assert latest.run_id not in (first.run_id, nwb_run.run_id)
    assert dict(latest.task_counts) == {"cached": 1, "failed": 1}


@pytest.mark.slow
def test_sort_on_a_dask_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same job on a local Dask cluster (daemonic workers: SpikeInterface uses threads)."""
    import spikeinterface as si

    data_dir, gt_dir, results = tmp_path / "data", tmp_path / "gt", tmp_path / "results"
    write_ground_truth(data_dir, gt_dir)
    shutil.rmtree(data_dir / "b_rec")
    info = json.dumps({"reader_type": "spikeinterface"})
    argv = ["ephys", "dispatch", str(data_dir), "--input", "spikeinterface"]
    assert main([*argv, "--spikeinterface-info", info, "-o", str(results)]) == 0
    (job,) = read_jobs(results)
    sort = ["ephys", "sort", str(results), "--sorter", "simple", "--executor", "dask"]
    assert main([*sort, "--jobs", "1", "--n-jobs", "2"]) == 0
    assert "sorted 1, skipped 0 finished, failed 0 of 1 job(s)" in _squash(capsys.readouterr().out)
    summary = read_summary(job_output_dir(results, job.job_id) / SUMMARY_NAME)
    assert summary is not None and summary.sorter_params["job_kwargs"] == {
        "n_jobs": 2,
        "progress_bar": False,
        "pool_engine": "thread",
    }
    sorting = si.load(job_output_dir(results, job.job_id) / "sorting")
    assert summary.n_spikes == sum(sorting.count_num_spikes_per_unit(outputs="dict").values())
    (run,) = Registry(registry_path(results)).list_runs()
    assert run.config["executor"] == "dask" and dict(run.task_counts) == {"done": 1}
