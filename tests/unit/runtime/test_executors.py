"""Executors: real worker processes and real Dask clusters running the tasks of
``w2t_bkin.testing.tasks``, which coordinate through files (no timing assumptions).

The Dask tests are marked ``slow`` (a cluster starts in a second or two; a lost worker restarts
in about as long).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed
import pytest

from w2t_bkin.errors import ConfigError, DiscoveryError, MissingExtraError
from w2t_bkin.runtime.executors import DaskExecutor, LocalExecutor, make_executor
from w2t_bkin.runtime.executors.common import is_transient
from w2t_bkin.runtime.tasks import Executor, TaskEvent, TaskOutcome, TaskSpec

TASKS = "w2t_bkin.testing.tasks"
BIN = Path(sys.executable).parent


def spec(key: str, name: str, **kwargs: object) -> TaskSpec:
    return TaskSpec(key, f"{TASKS}:{name}", kwargs)


class Recorder:
    """Collects events and outcomes in arrival order, and the threads that delivered them."""

    def __init__(self) -> None:
        self.log: list[TaskEvent | TaskOutcome] = []
        self.threads: set[int] = set()

    def on_event(self, event: TaskEvent) -> None:
        self.threads.add(threading.get_ident())
        self.log.append(event)

    def on_outcome(self, outcome: TaskOutcome) -> None:
        self.threads.add(threading.get_ident())
        self.log.append(outcome)

    def run(self, executor: Executor, tasks: list[TaskSpec], retries: int = 0) -> None:
        executor.run(tasks, on_event=self.on_event, on_outcome=self.on_outcome, retries=retries)

    @property
    def outcomes(self) -> dict[str, TaskOutcome]:
        found = [o for o in self.log if isinstance(o, TaskOutcome)]
        assert len(found) == len({o.key for o in found}), "one outcome per task"
        return {o.key: o for o in found}

    def events(self, key: str) -> list[tuple[str, str]]:
        return [(e.kind, e.detail) for e in self.log if isinstance(e, TaskEvent) and e.key == key]


def wait_for_file(path: Path, deadline_s: float = 60.0) -> None:
    """Wait for another process to create ``path`` (a generous bound, not a timing assert)."""
    end = time.monotonic() + deadline_s
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.02)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def local() -> Iterator[LocalExecutor]:
    with LocalExecutor(2) as executor:
        yield executor


@pytest.fixture(scope="module")
def dask_local() -> Iterator[DaskExecutor]:
    with DaskExecutor(2) as executor:
        yield executor


# --------------------------------------------------------------------------------------------
# make_executor and the retry policy


@pytest.mark.parametrize("jobs", [0, -2])
def test_jobs_below_one_is_refused(jobs: int) -> None:
    with pytest.raises(ConfigError) as info:
        make_executor("local", jobs)
    assert info.value.message == f"jobs must be a whole number of 1 or more, got {jobs}"
    assert info.value.exit_code == 2


def test_a_scheduler_with_the_local_executor_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        make_executor("local", 2, scheduler="tcp://10.0.0.5:8786")
    assert info.value.message == (
        "a Dask scheduler (tcp://10.0.0.5:8786) was given, but the executor is 'local'"
    )
    assert info.value.hint is not None and "--executor dask" in info.value.hint


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown executor 'slurm'") as info:
        make_executor("slurm", 2)  # type: ignore[arg-type]
    assert info.value.hint == "choose one of: local, dask"


def test_dask_without_the_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingExtraError) as info:
        make_executor("dask", 2)
    assert info.value.message == (
        "running tasks on a Dask cluster (--executor dask) needs the optional dependency "
        "'distributed', which is not installed"
    )
    assert info.value.hint == "install it with: pip install 'w2t-bkin[dask]'"
    assert info.value.exit_code == 7


def test_a_scheduler_that_is_neither_address_nor_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither an address nor an existing scheduler file"):
        make_executor("dask", 1, scheduler=str(tmp_path / "absent.json"))


def test_make_executor_gives_a_local_pool_of_jobs_workers() -> None:
    executor = make_executor("local", 3)
    assert isinstance(executor, LocalExecutor) and executor.jobs == 3
    executor.close()


def test_repeated_task_keys_are_refused(local: LocalExecutor) -> None:
    with pytest.raises(ConfigError, match="task keys must be unique within a run; repeated: a"):
        Recorder().run(local, [spec("a", "echo", value=1), spec("a", "echo", value=2)])


def test_only_plain_os_errors_are_transient() -> None:
    assert is_transient(OSError("share unavailable"))
    assert is_transient(TimeoutError("timed out"))
    assert not is_transient(DiscoveryError("no video", path="Video/cam0.avi"))
    assert not is_transient(ValueError("bad frame count"))


# --------------------------------------------------------------------------------------------
# LocalExecutor


def test_two_local_workers_run_two_tasks_at_once(local: LocalExecutor, tmp_path: Path) -> None:
    # each task waits for the file the other writes: both finish only if they ran together
    rec = Recorder()
    rec.run(
        local,
        [
            spec("a", "meet", folder=str(tmp_path), me="a", other="b", timeout_s=30),
            spec("b", "meet", folder=str(tmp_path), me="b", other="a", timeout_s=30),
        ],
    )
    a, b = rec.outcomes["a"], rec.outcomes["b"]
    assert (a.error, b.error) == (None, None)
    assert a.value != b.value
    assert sorted([a.value, b.value]) == local.worker_pids  # exactly jobs=2 workers, both used
    assert (a.worker, b.worker) == (f"pid {a.value}", f"pid {b.value}")


def test_local_workers_fork_no_helper_process_unless_each_has_two_cpus(
    local: LocalExecutor,
) -> None:
    from w2t_bkin.runtime.beside import available_cpus

    rec = Recorder()
    rec.run(local, [spec("a", "cpus_shared")])
    assert rec.outcomes["a"].error is None
    assert rec.outcomes["a"].value is (available_cpus() < 2 * local.jobs)


NATIVE_THREADS_SCRIPT = """
import json, os, sys
from w2t_bkin.batch import _executor
from w2t_bkin.config import ExecutionConfig
from w2t_bkin.runtime.executors import make_executor
from w2t_bkin.runtime.tasks import TaskSpec
outcomes = []
kind, made_by = sys.argv[1], sys.argv[2]
if made_by == "batch":  # the executor a batch of sessions runs on
    made = _executor(kind, 2, None, ExecutionConfig())
else:  # a pool for other jobs (spike sorting, pose estimation)
    made = make_executor(kind, 2)
with made as executor:
    executor.run(
        [TaskSpec("a", "w2t_bkin.testing.tasks:native_threads", {})],
        on_event=lambda event: None,
        on_outcome=outcomes.append,
    )
here = {name: os.environ.get(name) for name in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}
print(json.dumps({"error": outcomes[0].error, "value": outcomes[0].value, "here": here}))
"""


def native_threads_in_a_fresh_interpreter(kind: str, made_by: str) -> dict[str, Any]:
    """What the ``native_threads`` task saw in a worker of a ``kind`` executor that a new
    interpreter made (its fork server started there) for a batch of sessions (``made_by`` =
    "batch") or for other jobs ("jobs"), where the user set OMP_NUM_THREADS=3."""
    environ = {k: v for k, v in os.environ.items() if not k.endswith("_THREADS")}
    environ["OMP_NUM_THREADS"] = "3"
    done = subprocess.run(
        [sys.executable, "-c", NATIVE_THREADS_SCRIPT, kind, made_by],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert found["error"] is None
    return found


def test_local_session_workers_run_native_libraries_on_one_thread_unless_the_user_said() -> None:
    # idle OpenBLAS threads spin on the CPUs the other workers need
    found = native_threads_in_a_fresh_interpreter("local", "batch")
    worker = found["value"]
    assert worker["environ"]["OMP_NUM_THREADS"] == "3"  # set by the user: kept
    assert worker["environ"]["OPENBLAS_NUM_THREADS"] == "1"
    assert worker["environ"]["NUMBA_NUM_THREADS"] == "1"
    assert worker["blas_threads"] and set(worker["blas_threads"]) == {1}
    assert "multiprocessing.forkserver" in worker["parent"]
    # the coordinator's own environment is left as it was
    assert found["here"] == {"OPENBLAS_NUM_THREADS": None, "NUMBA_NUM_THREADS": None}


def test_local_workers_of_other_jobs_keep_the_environment() -> None:
    # a spike sorter's n_jobs or a pose model threads as this process would
    worker = native_threads_in_a_fresh_interpreter("local", "jobs")["value"]
    assert worker["environ"]["OMP_NUM_THREADS"] == "3"
    assert worker["environ"]["OPENBLAS_NUM_THREADS"] is None
    assert worker["environ"]["NUMBA_NUM_THREADS"] is None


@pytest.mark.slow
def test_local_cluster_workers_are_forked_with_the_nannys_environment() -> None:
    # as distributed's nanny sets for a worker it spawns: one BLAS/OpenMP thread
    found = native_threads_in_a_fresh_interpreter("dask", "jobs")
    worker = found["value"]
    assert worker["environ"]["OMP_NUM_THREADS"] == "3"  # set by the user: kept
    assert worker["environ"]["OPENBLAS_NUM_THREADS"] == "1"
    assert worker["blas_threads"] and set(worker["blas_threads"]) == {1}
    assert "multiprocessing.forkserver" in worker["parent"]
    assert found["here"]["NUMBA_NUM_THREADS"] is None


def test_events_arrive_in_order_before_the_outcome_in_the_calling_thread(
    local: LocalExecutor,
) -> None:
    rec = Recorder()
    rec.run(
        local,
        [
            spec("s1", "echo", value={"frames": 10}, steps=["discover", "ingest", "sync"]),
            spec("s2", "echo", value=2, steps=["discover"]),
        ],
    )
    assert rec.events("s1") == [
        ("started", "attempt 1"),
        ("progress", "discover"),
        ("progress", "ingest"),
        ("progress", "sync"),
        ("finished", "ok"),
    ]
    assert rec.events("s2") == [
        ("started", "attempt 1"),
        ("progress", "discover"),
        ("finished", "ok"),
    ]
    assert rec.outcomes["s1"] == TaskOutcome(
        "s1", value={"frames": 10}, attempts=1, worker=rec.outcomes["s1"].worker
    )
    for key in ("s1", "s2"):
        last_event = max(
            i for i, x in enumerate(rec.log) if isinstance(x, TaskEvent) and x.key == key
        )
        outcome_at = rec.log.index(rec.outcomes[key])
        assert last_event < outcome_at
        assert {e.worker for e in rec.log if isinstance(e, TaskEvent) and e.key == key} == {
            rec.outcomes[key].worker
        }
    assert rec.threads == {threading.get_ident()}


def test_a_raising_task_reports_its_error_and_is_not_retried(local: LocalExecutor) -> None:
    rec = Recorder()
    rec.run(local, [spec("bad", "fail", message="frame count 10 != pulses 12")], retries=3)
    assert rec.outcomes["bad"] == TaskOutcome(
        "bad",
        error="ValueError: frame count 10 != pulses 12",
        attempts=1,
        worker=rec.outcomes["bad"].worker,
    )
    assert rec.events("bad") == [
        ("started", "attempt 1"),
        ("finished", "ValueError: frame count 10 != pulses 12"),
    ]


def test_an_os_error_is_retried_then_reported_transient(
    local: LocalExecutor, tmp_path: Path
) -> None:
    tally = tmp_path / "tally"
    rec = Recorder()
    rec.run(local, [spec("io", "fail_io", tally=str(tally))], retries=2)
    outcome = rec.outcomes["io"]
    assert (outcome.error, outcome.transient, outcome.attempts) == (
        "OSError: share unavailable (run 3)",
        True,
        3,
    )
    assert len(tally.read_text().splitlines()) == 3
    assert [d for k, d in rec.events("io") if k == "started"] == [
        "attempt 1",
        "attempt 2",
        "attempt 3",
    ]


def test_a_killed_worker_is_retried_on_a_fresh_one(local: LocalExecutor, tmp_path: Path) -> None:
    marker = tmp_path / "died"
    rec = Recorder()
    rec.run(local, [spec("crash", "die_once", marker=str(marker))], retries=1)
    dead_pid = int(marker.read_text())
    outcome = rec.outcomes["crash"]
    assert outcome.error is None and outcome.attempts == 2
    assert outcome.value == f"survived in {outcome.worker.removeprefix('pid ')}"
    assert outcome.worker != f"pid {dead_pid}" and gone(dead_pid)
    assert rec.events("crash") == [
        ("started", "attempt 1"),
        ("started", "attempt 2"),
        ("finished", "ok"),
    ]


def test_a_lost_worker_without_retries_fails_transient_and_spares_its_neighbour(
    local: LocalExecutor, tmp_path: Path
) -> None:
    # "calm" runs beside "crash" when the pool breaks; it is re-run without using a retry
    marker, tally = tmp_path / "died", tmp_path / "calm"
    rec = Recorder()
    rec.run(
        local,
        [
            spec("calm", "block_first_run", tally=str(tally)),
            spec("crash", "die_once", marker=str(marker), after=str(tally)),
        ],
    )
    dead_pid = int(marker.read_text())
    crash = rec.outcomes["crash"]
    assert crash == TaskOutcome(
        "crash",
        error=f"worker lost: process {dead_pid} exited with code 9",
        transient=True,
        attempts=1,
        worker=f"pid {dead_pid}",
    )
    calm = rec.outcomes["calm"]
    assert (calm.value, calm.error, calm.attempts) == ("run 2", None, 1)


CTRL_C_SCRIPT = """
import json, sys
from w2t_bkin.runtime.executors import LocalExecutor
from w2t_bkin.runtime.tasks import TaskSpec

def main(folder):
    outcomes = []
    tasks = [TaskSpec(k, "w2t_bkin.testing.tasks:block", {"pid_file": f"{folder}/{k}.pid"})
             for k in ("a", "b", "c")]
    executor = LocalExecutor(2)
    try:
        executor.run(tasks, on_event=lambda e: None, on_outcome=outcomes.append)
    except KeyboardInterrupt:
        print(json.dumps([[o.key, o.cancelled, o.error, o.attempts] for o in outcomes]))
        sys.stdout.flush()
        raise

if __name__ == "__main__":
    main(sys.argv[1])
"""


def test_ctrl_c_cancels_every_task_and_terminates_the_workers(tmp_path: Path) -> None:
    script = tmp_path / "coordinator.py"
    script.write_text(textwrap.dedent(CTRL_C_SCRIPT))
    coordinator = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        wait_for_file(tmp_path / "a.pid")  # two workers: "a" and "b" run, "c" waits
        wait_for_file(tmp_path / "b.pid")
        coordinator.send_signal(signal.SIGINT)
        out, _ = coordinator.communicate(timeout=60)
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
    assert coordinator.returncode == -signal.SIGINT  # KeyboardInterrupt re-raised
    cancelled = "cancelled: the run was interrupted (Ctrl-C)"
    assert sorted(json.loads(out)) == [
        ["a", True, cancelled, 1],
        ["b", True, cancelled, 1],
        ["c", True, cancelled, 0],
    ]
    assert not (tmp_path / "c.pid").exists()
    for key in ("a", "b"):
        assert gone(int((tmp_path / f"{key}.pid").read_text()))


# --------------------------------------------------------------------------------------------
# DaskExecutor


@pytest.mark.slow
def test_dask_runs_tasks_in_parallel_with_ordered_events(
    dask_local: DaskExecutor, tmp_path: Path
) -> None:
    rec = Recorder()
    rec.run(
        dask_local,
        [
            spec("a", "meet", folder=str(tmp_path), me="a", other="b", timeout_s=30),
            spec("b", "meet", folder=str(tmp_path), me="b", other="a", timeout_s=30),
            spec("s", "echo", value=[1, 2], steps=["ingest", "sync"]),
        ],
    )
    a, b, s = rec.outcomes["a"], rec.outcomes["b"], rec.outcomes["s"]
    assert (a.error, b.error, s.error) == (None, None, None)
    assert a.value != b.value and a.worker != b.worker  # two worker processes at once
    assert {a.worker, b.worker} == set(dask_local.client.scheduler_info()["workers"])
    assert s.value == [1, 2]
    assert rec.events("s") == [
        ("started", "attempt 1"),
        ("progress", "ingest"),
        ("progress", "sync"),
        ("finished", "ok"),
    ]
    assert rec.log.index(s) > max(
        i for i, x in enumerate(rec.log) if isinstance(x, TaskEvent) and x.key == "s"
    )
    assert rec.threads == {threading.get_ident()}


@pytest.mark.slow
def test_dask_retries_os_errors_but_not_other_errors(
    dask_local: DaskExecutor, tmp_path: Path
) -> None:
    tally = tmp_path / "tally"
    rec = Recorder()
    rec.run(
        dask_local,
        [spec("io", "fail_io", tally=str(tally)), spec("bad", "fail", message="no trials")],
        retries=2,
    )
    io, bad = rec.outcomes["io"], rec.outcomes["bad"]
    assert (io.error, io.transient, io.attempts) == ("OSError: share unavailable (run 3)", True, 3)
    assert len(tally.read_text().splitlines()) == 3
    assert (bad.error, bad.transient, bad.attempts) == ("ValueError: no trials", False, 1)
    assert rec.events("bad") == [("started", "attempt 1"), ("finished", "ValueError: no trials")]


def test_a_local_cluster_runs_without_the_dashboard_diagnostics(dask_local: DaskExecutor) -> None:
    # what the workers and the scheduler actually run with, not what was asked for
    import dask

    from w2t_bkin.runtime.executors.dask_cluster import QUIET_CLUSTER

    keys = [*QUIET_CLUSTER, "distributed.scheduler.allowed-failures"]

    def settings() -> list[object]:
        return [dask.config.get(key) for key in keys]

    expected = [*QUIET_CLUSTER.values(), 0]
    workers = dask_local.client.run(settings)
    assert len(workers) == 2 and all(got == expected for got in workers.values())

    def scheduler_settings(dask_scheduler: Any) -> tuple[object, float]:  # read at its start
        tick = dask_scheduler.periodic_callbacks["tick"].callback_time
        return dask_scheduler.allowed_failures, tick

    assert dask_local.client.run_on_scheduler(scheduler_settings) == (0, 1000)
    # the coordinator's own configuration is left as it was
    assert dask.config.get("distributed.worker.profile.enabled") is True


def test_local_cluster_workers_keep_the_adaptive_malloc_thresholds(
    dask_local: DaskExecutor,
) -> None:
    # distributed's nanny fixes MALLOC_TRIM_THRESHOLD_ (every large array a fresh mmap); ours
    # keeps the rest of its environment (one BLAS thread per worker)
    import os

    import dask

    def environ() -> tuple[str | None, str | None]:
        return os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS")

    workers = dask_local.client.run(environ)
    assert len(workers) == 2 and set(workers.values()) == {(None, "1")}
    # distributed's default, which the nanny preload removes as the nanny starts
    assert "MALLOC_TRIM_THRESHOLD_" in dask.config.get("distributed.nanny.pre-spawn-environ")


def test_local_cluster_workers_are_forked_from_one_server(dask_local: DaskExecutor) -> None:
    # the server imported distributed and the session code once; the workers share its pages
    from w2t_bkin.testing.tasks import native_threads

    workers = dask_local.client.run(native_threads)
    assert len(workers) == 2
    parents = {worker["parent_pid"] for worker in workers.values()}
    assert len(parents) == 1 and parents != {os.getpid()}
    assert all("multiprocessing.forkserver" in w["parent"] for w in workers.values())


def test_local_cluster_workers_import_the_session_code_as_they_start(
    dask_local: DaskExecutor,
) -> None:
    import sys

    from w2t_bkin.runtime.executors.common import WORKER_PRELOAD

    def preloaded(dask_worker: Any) -> tuple[list[str], list[bool]]:
        names = [preload.name for preload in dask_worker.preloads]
        # what the preload brings: the NWB and validation libraries, PyAV, matplotlib
        heavy = (*WORKER_PRELOAD, "pynwb", "ndx_pose", "nwbinspector", "av", "PIL.PngImagePlugin")
        return names, [name in sys.modules for name in heavy]

    workers = dask_local.client.run(preloaded)
    assert len(workers) == 2
    for names, imported in workers.values():
        assert names == list(WORKER_PRELOAD)
        assert all(imported)


def test_the_how_to_preloads_what_the_workers_preload() -> None:
    import re

    from w2t_bkin.runtime.executors.common import NANNY_PRELOAD, WORKER_PRELOAD

    page = Path(__file__).parents[3] / "docs/how-to/batches.md"
    # the `dask worker ... --preload` line users copy for workers they start themselves
    assert re.findall(r"--preload\s+([\w.]+)", page.read_text()) == list(WORKER_PRELOAD)
    assert re.findall(r"--preload-nanny\s+([\w.]+)", page.read_text()) == [NANNY_PRELOAD]


@pytest.mark.slow
def test_dask_retries_a_task_whose_worker_died(dask_local: DaskExecutor, tmp_path: Path) -> None:
    marker = tmp_path / "died"
    rec = Recorder()
    rec.run(dask_local, [spec("crash", "die_once", marker=str(marker))], retries=1)
    outcome = rec.outcomes["crash"]
    assert outcome.error is None and outcome.attempts == 2
    assert outcome.value != f"survived in {marker.read_text()}"
    assert gone(int(marker.read_text()))
    assert [d for k, d in rec.events("crash") if k == "started"] == ["attempt 1", "attempt 2"]


@pytest.mark.slow
def test_dask_ctrl_c_cancels_the_futures(dask_local: DaskExecutor, tmp_path: Path) -> None:
    def interrupt_once_started(event: TaskEvent) -> None:
        if event.kind == "started":
            raise KeyboardInterrupt

    outcomes: list[TaskOutcome] = []
    tasks = [
        spec(k, "meet", folder=str(tmp_path), me=k, other="release", timeout_s=60)
        for k in ("a", "b", "c")
    ]
    with pytest.raises(KeyboardInterrupt):
        dask_local.run(tasks, on_event=interrupt_once_started, on_outcome=outcomes.append)
    assert sorted(o.key for o in outcomes) == ["a", "b", "c"]
    assert all(o.cancelled for o in outcomes)
    assert sum(o.attempts for o in outcomes) == 1  # only the first to start had started
    (tmp_path / "release").write_text("")  # let the running task end: a thread can't be killed

    def these_tasks(dask_scheduler: distributed.Scheduler) -> list[str]:
        names = [str(k) for k in dask_scheduler.tasks]
        return [n for n in names if n.startswith(("w2t-a-", "w2t-b-", "w2t-c-"))]

    assert dask_local.client.run_on_scheduler(these_tasks) == []  # forgotten, none queued


@pytest.mark.slow
def test_dask_executor_uses_a_scheduler_started_elsewhere(tmp_path: Path) -> None:
    from w2t_bkin.runtime.executors.common import NANNY_PRELOAD

    scheduler_file = tmp_path / "scheduler.json"
    common = ["--scheduler-file", str(scheduler_file), "--no-dashboard"]
    scheduler = subprocess.Popen(
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", *common],
        stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        wait_for_file(scheduler_file)
        worker = subprocess.Popen(
            # with the nanny preload of the how-to (docs/how-to/batches.md)
            [
                str(BIN / "dask"),
                "worker",
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                *common,
                "--preload-nanny",
                NANNY_PRELOAD,
            ],
            stderr=subprocess.DEVNULL,
        )
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        rec = Recorder()
        with make_executor("dask", 1, scheduler=address) as executor:
            rec.run(
                executor, [spec("s", "echo", value=7, steps=["x"]), spec("f", "fail", message="m")]
            )
        assert rec.outcomes["s"].value == 7 and rec.outcomes["s"].worker.startswith("tcp://")
        assert rec.outcomes["f"].error == "ValueError: m"
        assert rec.events("s") == [("started", "attempt 1"), ("progress", "x"), ("finished", "ok")]
        with make_executor("dask", 1, scheduler=address) as executor:
            trim = executor.client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert list(trim.values()) == [None]  # the nanny dropped distributed's fixed threshold
        rec = Recorder()
        with make_executor("dask", 1, scheduler=str(scheduler_file)) as executor:
            rec.run(executor, [spec("t", "echo", value="by file")])
        assert rec.outcomes["t"].value == "by file"
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def test_the_serial_executor_prepares_once_before_its_first_task_and_not_for_none() -> None:
    from w2t_bkin.runtime.tasks import SerialExecutor

    recorder = Recorder()
    prepared: list[int] = []

    def prepare() -> None:
        prepared.append(len(recorder.log))  # what had happened before it

    executor = SerialExecutor(before_first=prepare)
    recorder.run(executor, [])
    assert prepared == []
    recorder.run(executor, [spec("a", "echo", value=1), spec("b", "echo", value=2)])
    recorder.run(executor, [spec("c", "echo", value=3)])
    assert prepared == [0]
    assert {k: o.value for k, o in recorder.outcomes.items()} == {"a": 1, "b": 2, "c": 3}
