"""A Dask worker killed with SIGKILL in the middle of a session, end to end through the CLI.

A real ``dask scheduler`` and two ``dask worker`` processes (each under its nanny, as users start
them) run on 127.0.0.1; ``w2t-bkin run --executor dask --scheduler ...`` runs in its own process
on a synthetic workspace of three sessions. The workers import a small test plugin
(``--preload``) that pauses ses02 at its commit point -- every sidecar written, ``status.json``
already saying "succeeded", the NWB file staged but not yet published -- and says where it is
paused (worker PID and address). The test then kills that worker process by its PID and checks
what users get: the session runs again on another worker (``--retries 1``) or is reported failed
as a lost worker (``--retries 0``), whatever the scheduler's own ``allowed-failures``; no
partial NWB, sidecar or staged file is left anywhere; the registry holds the attempts and the
error; a rerun processes only what is not done.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from _skip import skip_or_fail
from w2t_bkin.cli import main
from w2t_bkin.session import PHASES
from w2t_bkin.testing import ExperimentSpec, write_experiment

from ._sessions import replace_once

pytestmark = pytest.mark.slow

SPEC = ExperimentSpec(n_sessions=3, duration_s=2.0, rate_hz=20.0, n_trials=4, seed=11)
SESSIONS = ("ses01", "ses02", "ses03")
HELD = "ses02"
BIN = Path(sys.executable).parent
DEADLINE_S = 180.0
"""A generous bound on waiting for another process (never a timing assertion)."""

# The worker plugin: wraps the publishing of NWB files in the worker (finalize looks it up when it
# runs), so ses02 stops at its commit point: every sidecar written, status.json already saying
# "succeeded", the NWB file staged but not renamed -- the worst moment to die. It pauses once per
# hold request; the next attempt (on another worker, or the restarted one) runs through.
PLUGIN = textwrap.dedent(
    """
    import json, os, time
    from pathlib import Path


    def dask_setup(worker):
        import w2t_bkin.nwb.io as nwb_io
        import w2t_bkin.session.driver  # the pipeline's imports, before the first session

        control = Path(os.environ["W2T_TEST_HOLD_DIR"])
        publish = nwb_io.publish_file

        def held_publish(staged, target):
            request = control / "hold.json"
            hold = json.loads(request.read_text()) if request.is_file() else None
            if hold is not None and Path(target).name == hold["nwb_name"]:
                claim = Path(hold["claim"])
                try:  # the first attempt to get here claims the pause, once for all workers
                    os.close(os.open(f"{claim}.claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    pass  # paused once already: this attempt runs through
                else:
                    where = {"pid": os.getpid(), "worker": worker.address, "staged": str(staged)}
                    Path(f"{claim}.tmp").write_text(json.dumps(where))
                    os.replace(f"{claim}.tmp", claim)
                    end = time.monotonic() + float(hold["timeout_s"])
                    while time.monotonic() < end:  # until the test kills this process
                        time.sleep(0.05)
                    raise RuntimeError("the test never killed the paused worker")
            return publish(staged, target)

        nwb_io.publish_file = held_publish
    """
)


@dataclass
class Cluster:
    """A scheduler and two nanny-managed workers started by this test module."""

    address: str
    control: Path
    nannies: list[subprocess.Popen[bytes]]

    def worker_pids(self) -> set[int]:
        """PIDs of the worker processes our nannies run now (children of the nannies)."""
        nanny_pids = {p.pid for p in self.nannies}
        return {pid for pid in _all_pids() if _parent(pid) in nanny_pids}

    def wait_for_workers(self, n_workers: int) -> list[str]:
        """Wait until ``n_workers`` workers are connected; returns their addresses."""
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(n_workers, timeout=DEADLINE_S)
            return sorted(client.scheduler_info(n_workers=-1)["workers"])


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # field 4, after "(comm)"


def _wait_for(path: Path, coordinator: subprocess.Popen[str]) -> None:
    end = time.monotonic() + DEADLINE_S
    while not path.exists():
        assert coordinator.poll() is None, f"the run ended before {path} appeared"
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if importlib.util.find_spec("distributed") is None:  # make test installs it: CI fails
        skip_or_fail("dask.distributed is not installed (pip install -e '.[dask]')")
    folder = tmp_path_factory.mktemp("dask")
    plugin = folder / "w2t_hold_plugin.py"
    plugin.write_text(PLUGIN)
    control = folder / "control"
    control.mkdir()
    scheduler_file = folder / "scheduler.json"
    common = ["--scheduler-file", str(scheduler_file), "--no-dashboard"]
    env = {**os.environ, "W2T_TEST_HOLD_DIR": str(control)}
    logs = [(folder / f"{name}.log").open("wb") for name in ("scheduler", "worker1", "worker2")]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(
            subprocess.Popen(
                [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", *common],
                stdout=logs[0],
                stderr=subprocess.STDOUT,
                env=env,
            )
        )
        end = time.monotonic() + DEADLINE_S
        while not scheduler_file.exists():
            assert time.monotonic() < end, "the scheduler never wrote its file"
            time.sleep(0.05)
        address = json.loads(scheduler_file.read_text())["address"]
        for log in logs[1:]:
            processes.append(
                subprocess.Popen(
                    [
                        *(str(BIN / "dask"), "worker", "--host", "127.0.0.1"),
                        *("--nworkers", "1", "--nthreads", "1", "--preload", str(plugin)),
                        *("--local-directory", str(folder / "scratch")),
                        *common,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        ready = Cluster(address, control, processes[1:])
        ready.wait_for_workers(2)
        yield ready
    finally:
        for process in reversed(processes):  # our own processes, by PID
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        for log in logs:
            log.close()


def _hold(cluster: Cluster, tmp_path: Path) -> Path:
    """Ask the workers to pause ses02 once; returns the file where the paused one reports."""
    claim = tmp_path / "held.json"
    request = {"nwb_name": _nwb(Path(), HELD).name, "claim": str(claim), "timeout_s": DEADLINE_S}
    (cluster.control / "hold.json").write_text(json.dumps(request))
    return claim


@pytest.fixture
def root(tmp_path: Path, cluster: Cluster) -> Iterator[Path]:
    root = tmp_path / "exp"
    write_experiment(root, SPEC)
    # nwbinspector and the QC figures take most of a session's time and play no part here
    config = root / "configuration.toml"
    replace_once(config, "validate_nwb = true", "validate_nwb = false")
    replace_once(config, "qc_report = true", "qc_report = false")
    cluster.wait_for_workers(2)  # a worker killed by the previous test is back (its nanny)
    yield root
    (cluster.control / "hold.json").unlink(missing_ok=True)


def _run_and_kill(
    root: Path, cluster: Cluster, tmp_path: Path, retries: int
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``w2t-bkin run`` on the cluster; SIGKILL the worker that holds ses02 mid-session."""
    claim = _hold(cluster, tmp_path)
    command = [
        *(str(BIN / "w2t-bkin"), "run", str(root), "--executor", "dask"),
        *("--scheduler", cluster.address, "--retries", str(retries)),
    ]
    out, err = tmp_path / "run.out", tmp_path / "run.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        coordinator = subprocess.Popen(command, stdout=stdout, stderr=stderr, text=True)
        try:
            _wait_for(claim, coordinator)
            held = json.loads(claim.read_text())
            # the session is half made: sidecars written, its NWB file staged, not published
            staged, folder = Path(held["staged"]), _nwb(root, HELD).parent
            assert staged.is_file() and staged.name.endswith(".partial.nwb")
            assert staged.parent == folder and not _nwb(root, HELD).exists()
            assert json.loads((folder / "status.json").read_text())["status"] == "succeeded"
            # kill the worker process we started (through its nanny), by its PID
            assert held["pid"] in cluster.worker_pids()
            os.kill(held["pid"], signal.SIGKILL)
            code = coordinator.wait(timeout=DEADLINE_S)
        finally:
            if coordinator.poll() is None:
                coordinator.kill()
                coordinator.wait(timeout=30)
    done = subprocess.CompletedProcess(command, code, out.read_text(), err.read_text())
    return done, held


def _nwb(root: Path, session: str) -> Path:
    return root / f"data/processed/mouse01/{session}/sub-mouse01_ses-{session}.nwb"


def _leftovers(root: Path) -> list[str]:
    """Partial or staged files anywhere under data/processed."""
    processed = root / "data/processed"
    found = [p for p in processed.rglob("*") if "partial" in p.name or ".w2t-" in p.name]
    return sorted(str(p.relative_to(processed)) for p in found)


def _runs(root: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["runs", "list", str(root), "--format", "json"]) == 0
    runs: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return runs


def _show(root: Path, run_id: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["runs", "show", run_id, "--root", str(root), "--format", "json"]) == 0
    shown: dict[str, Any] = json.loads(capsys.readouterr().out)
    return shown


def _workers_of(stdout: str, session: str) -> list[str]:
    """The workers that reported phases of ``session`` (plain progress lines), in order."""
    prefix = f"  mouse01/{session}: phase "
    return [line.rsplit(" on ", 1)[1] for line in stdout.splitlines() if line.startswith(prefix)]


def test_a_killed_worker_s_session_is_retried_on_another_worker(
    root: Path, cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, held = _run_and_kill(root, cluster, tmp_path, retries=1)
    assert run.returncode == 0, run.stdout + run.stderr
    for session in SESSIONS:
        assert f"succeeded mouse01/{session}" in run.stdout
    # the second attempt ran on another worker (the survivor, or the one the nanny restarted)
    workers = _workers_of(run.stdout, HELD)
    assert workers[0] == held["worker"] and workers[-1] != held["worker"]
    assert all(_nwb(root, s).is_file() for s in SESSIONS)
    assert _leftovers(root) == []
    assert not (root / "data/processed/mouse01" / HELD / "previous").exists()
    status = json.loads((_nwb(root, HELD).parent / "status.json").read_text())
    assert status["status"] == "succeeded"

    (listed,) = _runs(root, capsys)
    shown = _show(root, listed["run_id"], capsys)
    assert shown["status"] == "succeeded"
    tasks = {t["session"]: t for t in shown["tasks"]}
    assert {k: (t["status"], t["attempts"]) for k, t in tasks.items()} == {
        "mouse01/ses01": ("done", 1),
        "mouse01/ses02": ("done", 2),
        "mouse01/ses03": ("done", 1),
    }
    assert all(t["error"] is None for t in tasks.values())

    # a rerun (local executor) finds everything done: nothing is processed again
    mtimes = {s: _nwb(root, s).stat().st_mtime_ns for s in SESSIONS}
    capsys.readouterr()
    assert main(["run", str(root)]) == 0
    plans = [line for line in capsys.readouterr().out.splitlines() if line.startswith("cached")]
    assert plans == [f"cached mouse01/{s}" for s in SESSIONS]
    assert {s: _nwb(root, s).stat().st_mtime_ns for s in SESSIONS} == mtimes


def test_without_retries_a_killed_worker_s_session_is_reported_lost(
    root: Path, cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, held = _run_and_kill(root, cluster, tmp_path, retries=0)
    assert run.returncode == 70, run.stdout + run.stderr
    assert f"failed mouse01/{HELD} in phase execution" in run.stderr
    assert "worker lost" in run.stderr
    for session in ("ses01", "ses03"):
        assert f"succeeded mouse01/{session}" in run.stdout
    # every phase ran on the killed worker, and no second attempt anywhere
    assert _workers_of(run.stdout, HELD) == [held["worker"]] * len(PHASES)
    # nothing of the killed attempt looks like an output: no NWB, staged file or sidecar; its
    # log stays, ending with what happened and what was removed
    folder = _nwb(root, HELD).parent
    assert sorted(p.name for p in folder.iterdir()) == ["pipeline.log"]
    assert _leftovers(root) == []
    last = (folder / "pipeline.log").read_text().splitlines()[-1]
    assert "ERROR w2t_bkin.batch: the run stopped outside its session code" in last
    assert f"worker lost: Dask worker {held['worker']} died" in last
    removed = "alignment_stats.json, provenance.json, status.json, " + Path(held["staged"]).name
    assert last.endswith(f"removed what it left unfinished: {removed}")

    (listed,) = _runs(root, capsys)
    assert listed["status"] == "failed"
    tasks = {t["session"]: t for t in _show(root, listed["run_id"], capsys)["tasks"]}
    assert (tasks["mouse01/ses02"]["status"], tasks["mouse01/ses02"]["attempts"]) == ("failed", 1)
    assert "worker lost" in tasks["mouse01/ses02"]["error"]
    assert held["worker"] in tasks["mouse01/ses02"]["error"]
    assert [tasks[f"mouse01/{s}"]["status"] for s in ("ses01", "ses03")] == ["done", "done"]

    # a rerun (local executor) processes exactly the session that is not done
    mtimes = {s: _nwb(root, s).stat().st_mtime_ns for s in ("ses01", "ses03")}
    capsys.readouterr()
    assert main(["run", str(root)]) == 0
    out = capsys.readouterr().out
    assert "cached mouse01/ses01" in out and "cached mouse01/ses03" in out
    assert "succeeded mouse01/ses02" in out
    assert {s: _nwb(root, s).stat().st_mtime_ns for s in ("ses01", "ses03")} == mtimes
    assert _nwb(root, HELD).is_file() and _leftovers(root) == []
