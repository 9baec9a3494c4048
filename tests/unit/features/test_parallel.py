"""Parallel runs: the coordinator as one of N process workers, identical results in every mode,
one BLAS thread per worker, failures isolated in workers, and a killed worker leaves no partial
entry file."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from unit.features._features import Centered, NoseX, WorkerProbe, _blas_threads, add_linear_track
from w2t_bkin.features.dataset import FeatureDataset
from w2t_bkin.features.errors import FeatureRunError
from w2t_bkin.features.identity import Result
from w2t_bkin.features.keys import make_entry_key
from w2t_bkin.features.run import run_feature
from w2t_bkin.features.store import entry_path

N_ENTRIES = 6


@pytest.fixture
def six(tmp_path: Path) -> Iterator[FeatureDataset]:
    """Six sessions of one mouse; session ``s<i>`` moves at ``i + 1`` px/s, sampled at 10 Hz."""
    dataset = FeatureDataset(tmp_path / "six")
    for i in range(N_ENTRIES):
        add_linear_track(dataset, "m1", f"s{i}", speed_px_s=float(i + 1))
    yield dataset
    dataset.close()


def _probe(log_dir: Path, **params: object) -> WorkerProbe:
    log_dir.mkdir(exist_ok=True)
    return WorkerProbe({"log_dir": str(log_dir), "coordinator_pid": os.getpid(), **params})


def _outputs(ds: FeatureDataset, result: Result) -> dict[str, pd.DataFrame]:
    out = {}
    for track in ds.tracks():
        frame = ds.load_feature(result, track.group, track.sequence)
        assert frame is not None
        out[track.sequence] = frame
    return out


def _entry_files(ds: FeatureDataset, result: Result) -> dict[str, int]:
    """Entry key -> modification time (ns) of every output file of the run."""
    assert result.run_id is not None
    folder = entry_path(ds.run_dir(result.feature, result.run_id), "x").parent
    return {p.stem: p.stat().st_mtime_ns for p in folder.glob("*.parquet")}


def _loads_by_pid(log_dir: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for marker in log_dir.glob("load-*"):
        pid = int(marker.name.split("-")[1])
        counts[pid] = counts.get(pid, 0) + 1
    return counts


def test_process_mode_computes_in_the_coordinator_and_in_n_minus_1_workers(
    six: FeatureDataset, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    result = run_feature(
        six,
        _probe(logs, await_worker=True),
        parallel_workers=3,
        parallel_mode="process",
    )
    outputs = _outputs(six, result)
    computed_by = {int(f["pid"].iloc[0]) for f in outputs.values()}
    loads = _loads_by_pid(logs)
    workers = set(loads) - {os.getpid()}
    assert len(workers) == 2  # parallel_workers - 1 processes ...
    assert all(loads[pid] == 1 for pid in workers)  # ... each loading the state once
    # the coordinator: its readiness check, then the instance of its own worker thread
    assert loads[os.getpid()] == 2
    assert os.getpid() in computed_by and computed_by & workers
    assert computed_by <= workers | {os.getpid()}
    assert six.registry.entry_count("worker-probe", result.run_id) == N_ENTRIES


@pytest.mark.parametrize(
    ("mode", "workers"), [("thread", 1), ("thread", 2), ("process", 2), ("process", 3)]
)
def test_every_mode_gives_the_serial_results(
    six: FeatureDataset, tmp_path: Path, mode: str, workers: int
) -> None:
    nose = run_feature(six, NoseX({"offset_px": 0.5}))
    serial = _outputs(six, run_feature(six, Centered(inputs=[nose])))
    again = run_feature(
        six,
        Centered(inputs=[nose]),
        overwrite=True,
        parallel_workers=workers,
        parallel_mode=mode,
    )
    parallel = _outputs(six, again)
    assert parallel.keys() == serial.keys() and len(parallel) == N_ENTRIES
    for sequence, frame in serial.items():
        pd.testing.assert_frame_equal(parallel[sequence], frame)
    # known answer: x = speed * t + 0.5 with t = frame / 10 Hz; mean over 6 speeds 1..6 px/s
    # (positions are float32, hence the tolerance)
    t_s = np.arange(20) / 10.0
    mean_x = np.mean([speed * t_s + 0.5 for speed in range(1, 7)])
    np.testing.assert_allclose(
        parallel["s2/top/mouse"]["x_centered"].to_numpy(), 3.0 * t_s + 0.5 - mean_x, atol=1e-6
    )
    states = six.registry.entry_states("centered", again.run_id)
    assert {status for status, _ in states.values()} == {"done"}


def test_process_workers_run_one_blas_thread_and_the_coordinator_gets_its_threads_back(
    six: FeatureDataset, tmp_path: Path
) -> None:
    threads_before = _blas_threads()
    result = run_feature(
        six,
        _probe(tmp_path / "logs", await_worker=True),
        parallel_workers=2,
        parallel_mode="process",
    )
    outputs = _outputs(six, result)
    assert {int(f["blas_threads"].iloc[0]) for f in outputs.values()} == {1}
    in_workers = [f for f in outputs.values() if int(f["pid"].iloc[0]) != os.getpid()]
    assert in_workers and {str(f["omp_env"].iloc[0]) for f in in_workers} == {"1"}
    assert _blas_threads() == threads_before


@pytest.mark.parametrize("workers", [2, 3])
def test_a_killed_worker_leaves_no_partial_entry_file_and_the_rerun_completes(
    six: FeatureDataset, tmp_path: Path, workers: int
) -> None:
    feature = _probe(tmp_path / "logs", await_worker=True, kill_in_worker=True)
    with pytest.raises(FeatureRunError, match="a process worker died or could not start"):
        run_feature(six, feature, parallel_workers=workers, parallel_mode="process")
    run_dir = six.run_dir("worker-probe", six.registry.latest_run_id("worker-probe") or "")
    seen = [json.loads(p.read_text()) for p in run_dir.glob("seen-at-kill-*.json")]
    # killed mid-write: the temporary file was there (with 3 workers, the pool may stop the
    # second process before it reaches its write)
    assert 1 <= len(seen) <= workers - 1
    assert all(any(name.endswith(".tmp") for name in names) for names in seen)
    entries_dir = entry_path(run_dir, "x").parent
    left = sorted(p.name for p in entries_dir.iterdir())
    assert not [name for name in left if name.endswith(".tmp")]  # the coordinator removed it
    states = six.registry.entry_states("worker-probe", run_dir.name)
    # every recorded entry has its whole file, and every file is a recorded entry
    assert left == sorted(f"{make_entry_key(*e)}.parquet" for e in states)
    assert 0 < len(states) < N_ENTRIES

    rerun = run_feature(six, _probe(tmp_path / "logs2"))
    assert rerun.run_id == run_dir.name and not rerun.failed_entries
    outputs = _outputs(six, rerun)
    for i in range(N_ENTRIES):
        np.testing.assert_allclose(
            outputs[f"s{i}/top/mouse"]["x"].to_numpy(), (i + 1) * np.arange(20) / 10.0, atol=1e-6
        )


def test_entries_failing_in_worker_processes_are_isolated_listed_and_resumed(
    six: FeatureDataset, tmp_path: Path
) -> None:
    failing = _probe(tmp_path / "logs", await_worker=True, fail_in_worker=True)
    result = run_feature(six, failing, parallel_workers=2, parallel_mode="process")
    states = six.registry.list_entries("worker-probe", result.run_id).set_index("entry_key")
    failed = set(states.index[states["status"] == "failed"])
    assert set(result.failed_entries) == failed and 0 < len(failed) < N_ENTRIES
    assert all(
        e.startswith("ValueError: planned failure in worker")
        for e in states.loc[list(failed), "error"]
    )
    done = set(states.index[states["status"] == "done"])
    assert done | failed == set(states.index) and len(states) == N_ENTRIES
    written = _entry_files(six, result)
    assert set(written) == done  # a failed entry leaves no file

    fixed = run_feature(
        six, _probe(tmp_path / "logs2"), parallel_workers=2, parallel_mode="process"
    )
    assert fixed.run_id == result.run_id and fixed.failed_entries == ()
    after = _entry_files(six, fixed)
    assert set(after) == done | failed
    assert {key: after[key] for key in done} == written  # done entries were not recomputed


class _ReadiesWorkersOnFirstSubmit(ThreadPoolExecutor):
    """The coordinator's pool, which completes ``ready`` (the workers' start) as it is handed
    its first entry: just after the dispatcher found the workers' lane not ready."""

    def __init__(self, ready: Future[int]) -> None:
        super().__init__(1)
        self.ready = ready

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not self.ready.done():
            self.ready.set_result(1)
        return super().submit(fn, *args, **kwargs)


def test_workers_ready_between_a_fill_and_the_wait_get_entries_at_once() -> None:
    # The coordinator's first entry can only finish once a worker has taken one (as with
    # WorkerProbe's await_worker): a dispatcher that stops waiting on a readiness it has not
    # acted on sleeps until the coordinator's entry ends. The wait is bounded to end the test.
    from w2t_bkin.features.run import _dispatch, _Lane

    worker_took_one = threading.Event()
    waited_for_the_worker: list[bool] = []

    def in_worker(task: SimpleNamespace) -> str:
        worker_took_one.set()
        return f"worker {task.entry_key}"

    def in_coordinator(task: SimpleNamespace) -> str:
        if task.entry_key == "e0":
            waited_for_the_worker.append(worker_took_one.wait(timeout=30.0))
        return f"coordinator {task.entry_key}"

    recorded: dict[int, str] = {}
    progress = SimpleNamespace(on_entry_start=lambda index, total, key: None)
    tasks = [SimpleNamespace(entry_key=f"e{i}", out_path="/nonexistent/e") for i in range(4)]
    ready: Future[int] = Future()
    with ThreadPoolExecutor(1) as workers, _ReadiesWorkersOnFirstSubmit(ready) as coordinator:
        lanes = [
            _Lane(workers, in_worker, 1, ready=ready),  # type: ignore[arg-type]
            _Lane(coordinator, in_coordinator, 1),  # type: ignore[arg-type]
        ]
        _dispatch(tasks, lanes, 2, progress, recorded.__setitem__)  # type: ignore[arg-type]

    assert waited_for_the_worker == [True]  # the worker got an entry while e0 was computing
    assert recorded[0] == "coordinator e0" and recorded[1] == "worker e1"
    assert sorted(recorded) == [0, 1, 2, 3]
