"""Batches: cached reruns with reasons, the registry, busy sessions, retries, kill -9 resume.

Every check runs real sessions (synthetic workspaces with ground truth) through
:func:`w2t_bkin.batch.run_batch` or the CLI, and reads the registry back.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from w2t_bkin.batch import SessionPlanned, SessionProgress, run_batch
from w2t_bkin.cli import main
from w2t_bkin.errors import ConfigError
from w2t_bkin.runtime.registry import Registry, registry_path
from w2t_bkin.runtime.tasks import TaskEvent, TaskOutcome, TaskSpec
from w2t_bkin.session import PHASES, session_lock
from w2t_bkin.testing import ExperimentSpec, write_experiment

SPEC = ExperimentSpec(n_sessions=3, duration_s=2.0, rate_hz=20.0, n_trials=4, seed=9)
SESSIONS = ("ses01", "ses02", "ses03")


def _nwb(root: Path, session: str) -> Path:
    return root / f"data/processed/mouse01/{session}/sub-mouse01_ses-{session}.nwb"


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace whose three sessions ran once (the state every test starts from)."""
    root = tmp_path_factory.mktemp("batch") / "exp"
    write_experiment(root, SPEC)
    batch = run_batch(root, invocation=["test"])
    assert [r.status for r in batch.results] == ["succeeded"] * 3
    return root


@pytest.fixture
def root(processed: Path, workspace_copy: Callable[[Path], Path]) -> Path:
    return workspace_copy(processed)


def _plans(root: Path, **options: Any) -> dict[str, tuple[str, tuple[str, ...]]]:
    events: list[Any] = []
    run_batch(root, dry_run=True, on_event=events.append, **options)
    return {
        e.ref.session: (e.decision.state, e.decision.reasons)
        for e in events
        if isinstance(e, SessionPlanned)
    }


def test_an_unchanged_workspace_is_cached_and_a_rerun_processes_nothing(root: Path) -> None:
    assert _plans(root) == {s: ("cached", ()) for s in SESSIONS}
    mtimes = {s: _nwb(root, s).stat().st_mtime_ns for s in SESSIONS}
    batch = run_batch(root, invocation=["again"])
    assert [r.status for r in batch.results] == ["cached"] * 3
    assert batch.exit_code == 0
    assert {s: _nwb(root, s).stat().st_mtime_ns for s in SESSIONS} == mtimes
    run = Registry(registry_path(root)).get_run(batch.run_id or "")
    assert (run.status, run.command) == ("succeeded", ("again",))
    assert sorted((t.task_key, t.status) for t in run.tasks) == [
        (f"mouse01/{s}", "cached") for s in SESSIONS
    ]


def test_a_changed_input_reruns_exactly_its_session_and_says_why(root: Path) -> None:
    cue = root / "data/raw/mouse01/ses02/TTLs/cue.txt"
    lines = cue.read_text().splitlines()
    lines[0] = f"{float(lines[0]) + 0.0005:.9f}"
    cue.write_text("\n".join(lines) + "\n")
    assert _plans(root) == {
        "ses01": ("cached", ()),
        "ses02": ("stale", ("input changed: TTLs/cue.txt",)),
        "ses03": ("cached", ()),
    }
    batch = run_batch(root)
    assert [r.status for r in batch.results] == ["cached", "succeeded", "cached"]
    assert _plans(root) == {s: ("cached", ()) for s in SESSIONS}


def test_a_deleted_or_altered_output_reruns_its_session(root: Path) -> None:
    _nwb(root, "ses01").unlink()
    provenance = root / "data/processed/mouse01/ses03/provenance.json"
    provenance.write_text(provenance.read_text().replace('"pipeline"', '"pipeline" ', 1))
    plans = _plans(root)
    assert plans["ses01"] == ("stale", ("output missing: sub-mouse01_ses-ses01.nwb",))
    assert plans["ses03"] == ("stale", ("output changed: provenance.json (checksum differs)",))
    batch = run_batch(root)
    assert [r.status for r in batch.results] == ["succeeded", "cached", "succeeded"]
    assert _nwb(root, "ses01").is_file()


def test_force_reruns_everything(root: Path) -> None:
    assert {s: p[0] for s, p in _plans(root, force=True).items()} == dict.fromkeys(SESSIONS, "run")
    batch = run_batch(root, force=True, session="ses01")
    assert [r.status for r in batch.results] == ["succeeded"]


def test_a_session_another_run_holds_is_busy_not_failed(root: Path) -> None:
    with session_lock(root, "mouse01", "ses02"):
        batch = run_batch(root, force=True)
    assert [r.status for r in batch.results] == ["succeeded", "busy", "succeeded"]
    assert batch.exit_code == 6
    run = Registry(registry_path(root)).get_run(batch.run_id or "")
    assert {t.task_key: t.status for t in run.tasks}["mouse01/ses02"] == "busy"
    assert run.status == "failed"


def test_transient_io_errors_are_retried_and_bad_input_is_not(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import w2t_bkin.session.verify as verify

    real = verify.load_ttl_channel
    failures = {"left": 2}  # the preflight reads the TTL files first, then the run

    def flaky(*args: Any, **kwargs: Any) -> Any:  # a network disk failing with EIO on one file
        if args[0] == "ttl_cue" and failures["left"]:
            failures["left"] -= 1
            raise OSError(errno.EIO, "Input/output error", str(args[1][0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(verify, "load_ttl_channel", flaky)
    batch = run_batch(root, force=True, session="ses01", retries=1)
    assert [r.status for r in batch.results] == ["succeeded"]
    run = Registry(registry_path(root)).get_run(batch.run_id or "")
    assert run.tasks[0].attempts == 2

    failures["left"] = 2
    batch = run_batch(root, force=True, session="ses01", retries=0)
    (result,) = batch.results
    assert (result.status, result.transient, result.failed_phase) == (
        "failed",
        True,
        "verification",
    )
    assert "Input/output error" in (result.error or "")

    # bad input is never retried: a missing TTL file fails once, with retries left
    (root / "data/raw/mouse01/ses01/TTLs/cue.txt").unlink()
    batch = run_batch(root, session="ses01", retries=3)
    (result,) = batch.results
    assert (result.status, result.transient) == ("failed", False)
    assert Registry(registry_path(root)).get_run(batch.run_id or "").tasks[0].attempts == 1


def test_a_batch_killed_midway_resumes_without_redoing_finished_sessions(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    write_experiment(root, SPEC)
    code = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        import w2t_bkin.batch as batch
        import w2t_bkin.session.driver as driver

        real = driver.process_session

        def dies_in_ses02(root, subject, session, **kwargs):
            if session == "ses02":
                os._exit(9)  # like kill -9: no cleanup, no registry update
            return real(root, subject, session, **kwargs)

        driver.process_session = dies_in_ses02  # the batch looks it up when a session runs
        batch.run_batch(Path({str(root)!r}), invocation=["first"])
        """
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=300, check=False).returncode == 9
    assert _nwb(root, "ses01").is_file() and not _nwb(root, "ses02").exists()
    ses01_mtime = _nwb(root, "ses01").stat().st_mtime_ns

    registry = Registry(registry_path(root))
    (killed,) = registry.list_runs()
    assert killed.status == "interrupted"  # its coordinator is gone

    batch = run_batch(root, invocation=["resume"])
    assert [r.status for r in batch.results] == ["cached", "succeeded", "succeeded"]
    assert _nwb(root, "ses01").stat().st_mtime_ns == ses01_mtime  # not redone
    assert not list(root.rglob("*.partial*"))
    statuses = [r.status for r in registry.list_runs()]
    assert statuses == ["succeeded", "interrupted"]  # newest first


def test_cli_dry_run_lists_each_session_with_its_reason(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / "data/raw/mouse01/ses03/TTLs/cue.txt").write_text("1.0\n2.0\n")
    capsys.readouterr()
    assert main(["run", str(root), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "cached mouse01/ses01" in out
    assert "stale mouse01/ses03: input changed: TTLs/cue.txt" in out
    assert "dry run: nothing processed" in out


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "dask"])
def test_two_workers_process_the_batch_and_report_phases_from_the_workers(
    root: Path, executor: str
) -> None:
    import os

    events: list[Any] = []
    batch = run_batch(
        root,
        force=True,
        jobs=2,
        executor=executor,
        on_event=events.append,  # type: ignore[arg-type]
    )
    assert [r.status for r in batch.results] == ["succeeded"] * 3, [
        (r.failed_phase, r.error) for r in batch.results
    ]
    progress = [e for e in events if isinstance(e, SessionProgress)]
    # every phase of every session was reported while it ran, from a worker process
    for session in SESSIONS:
        phases = [e.detail for e in progress if e.ref.session == session]
        assert phases == [f"phase {name}" for name in PHASES]
    assert all(e.worker and e.worker != f"pid {os.getpid()}" for e in progress)
    run = Registry(registry_path(root)).get_run(batch.run_id or "")
    assert sorted(t.status for t in run.tasks) == ["done"] * 3


NO_SCHEDULER = "/nonexistent/scheduler.json"
"""A Dask scheduler file that does not exist: making a Dask executor for it fails at once."""


def test_an_all_cached_batch_starts_no_executor(root: Path) -> None:
    # nothing to run: the (unusable) Dask scheduler is never contacted
    batch = run_batch(root, executor="dask", scheduler=NO_SCHEDULER)
    assert [r.status for r in batch.results] == ["cached"] * 3
    assert batch.exit_code == 0


def test_an_executor_that_cannot_start_fails_the_batch_after_the_preflight(root: Path) -> None:
    # the Dask executor is made while the preflight runs; its error arrives after the plans
    runs_before = [run.run_id for run in Registry(registry_path(root)).list_runs(None)]
    events: list[Any] = []
    with pytest.raises(ConfigError, match="neither an address nor an existing scheduler file"):
        run_batch(
            root,
            force=True,
            executor="dask",
            scheduler=NO_SCHEDULER,
            on_event=events.append,  # type: ignore[arg-type]
        )
    assert [e.ref.session for e in events if isinstance(e, SessionPlanned)] == list(SESSIONS)
    assert all(_nwb(root, s).is_file() for s in SESSIONS)  # the earlier outputs stand
    # nothing ran: no run is recorded (not one left "interrupted")
    assert [run.run_id for run in Registry(registry_path(root)).list_runs(None)] == runs_before


@pytest.mark.slow
def test_ctrl_c_before_the_sessions_run_stops_the_starting_cluster(root: Path) -> None:
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}

    def interrupt(event: object) -> None:
        if isinstance(event, SessionPlanned):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(root, force=True, executor="dask", jobs=1, on_event=interrupt)
    for thread in threading.enumerate():  # a cluster still starting would be up after this
        if thread.name == "w2t-executor-start":
            thread.join(timeout=60)
    left = [
        p.cmdline()
        for p in psutil.Process().children(recursive=True)
        # multiprocessing's resource tracker serves this interpreter until it exits
        if p.pid not in before and "resource_tracker" not in " ".join(p.cmdline())
    ]
    assert left == []  # the LocalCluster started beside the preflight was closed
    assert all(_nwb(root, s).is_file() for s in SESSIONS)


def test_slurm_workers_are_requested_as_the_configuration_says() -> None:
    from w2t_bkin.batch import slurm_cluster
    from w2t_bkin.config import ExecutionConfig

    execution = ExecutionConfig(
        executor="dask",
        slurm_jobs=8,
        slurm_queue="short",
        slurm_account="mylab",
        slurm_cores=4,
        slurm_memory="16GB",
        slurm_walltime="03:30:00",
    )
    cluster = slurm_cluster(execution)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in (
        "#SBATCH -p short",
        "#SBATCH -A mylab",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH -t 03:30:00",
    ):
        assert line in script.splitlines(), script
    assert "--nthreads 1" in script  # one session at a time per worker
    # and it imports the session code as it starts
    assert "--preload=w2t_bkin.session.preload" in script, script
    # and its nanny keeps glibc's adaptive malloc thresholds for it
    assert "--preload-nanny=w2t_bkin.runtime.executors.dask_nanny" in script, script


class _WorkerDiesEveryTime:
    """An executor whose worker dies inside every attempt (e.g. out of memory each time).

    Like the real executors it spends ``retries`` itself and reports the lost worker once.
    """

    def __init__(self) -> None:
        self.rounds: list[list[str]] = []

    def run(
        self,
        tasks: Sequence[TaskSpec],
        *,
        on_event: Callable[[TaskEvent], None],
        on_outcome: Callable[[TaskOutcome], None],
        retries: int = 0,
    ) -> None:
        self.rounds.append([task.key for task in tasks])
        for task in tasks:
            on_outcome(
                TaskOutcome(
                    task.key,
                    error="worker lost: the worker died while running it",
                    transient=True,
                    attempts=1 + retries,
                    worker="tcp://127.0.0.1:1",
                )
            )

    def close(self) -> None:
        pass


def test_a_lost_worker_spends_the_retries_once(root: Path) -> None:
    executor = _WorkerDiesEveryTime()
    batch = run_batch(root, force=True, session="ses01", retries=1, executor=executor)
    (result,) = batch.results
    assert (result.status, result.failed_phase) == ("failed", "execution")
    assert "worker lost" in (result.error or "")
    # the executor ran it 1 + 1 times; the batch must not start another round on top
    assert executor.rounds == [["mouse01/ses01"]]
    assert Registry(registry_path(root)).get_run(batch.run_id or "").tasks[0].attempts == 2


_FREEZE_PROBE = """
import gc, json, sys
from w2t_bkin.cli import main
sys.argv = ["w2t-bkin", "run", *sys.argv[1:]]
as_command = sys.argv[-1] != "--as-program"
args = [a for a in sys.argv[2:] if a != "--as-program"]
code = main() if as_command else main(["run", *args])
print(json.dumps({"code": code, "frozen": gc.get_freeze_count(),
                  "preloaded": "w2t_bkin.session.preload" in sys.modules}))
"""


def _probe_freeze(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _FREEZE_PROBE, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_command_line_runs_sessions_preloaded_and_a_program_keeps_its_gc(root: Path) -> None:
    # The console script exits after its batch: the session modules are loaded and frozen out
    # of the garbage collector's full passes before its first in-process session.
    command = _probe_freeze(str(root), "--session", "ses01", "--force")
    assert (command["code"], command["preloaded"]) == (0, True)
    assert command["frozen"] > 100_000
    # main(argv) is a caller that goes on (a test, a program): nothing of its is frozen
    program = _probe_freeze(str(root), "--session", "ses01", "--force", "--as-program")
    assert program == {"code": 0, "frozen": 0, "preloaded": False}
    # nothing to run: nothing loaded (an all-cached rerun stays fast); the console script
    # still freezes what it holds as it returns, so the exit does not collect it
    cached = _probe_freeze(str(root))
    assert (cached["code"], cached["preloaded"]) == (0, False)
    assert cached["frozen"] > 0
