"""The Prefect flows (extra ``prefect``) against Prefect's local test harness.

Real sessions of a synthetic workspace run through ``process-session`` and
``batch-process-sessions``; what the tests read back is what a Prefect user sees (flow and task
run states and names, read from the harness's API) and what ``w2t-bkin run`` leaves (NWB files,
run registry rows). The harness (a temporary Prefect API on SQLite, no network) is started
once for the module: it takes ~20 s on a loaded machine.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from _skip import skip_or_fail
from w2t_bkin.runtime.registry import Registry, registry_path
from w2t_bkin.session import PHASES
from w2t_bkin.testing import ExperimentSpec, write_experiment

if importlib.util.find_spec("prefect") is None:  # the extra is optional; CI installs it
    skip_or_fail(
        "the `prefect` extra is not installed (pip install -e '.[prefect]')",
        allow_module_level=True,
    )

SPEC = ExperimentSpec(n_sessions=3, duration_s=1.0, rate_hz=20.0, n_trials=4, seed=21)


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with pytest.MonkeyPatch.context() as patch:
        # the harness's server process inherits these: no telemetry, no network
        patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        patch.setenv("DO_NOT_TRACK", "1")
        with prefect_test_harness(server_startup_timeout=120):
            yield


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three sessions, never processed, and ``fast.toml``: the workspace configuration
    without NWB validation and QC report (finalization is then quick)."""
    root = tmp_path_factory.mktemp("prefect") / "exp"
    write_experiment(root, SPEC)
    text = (root / "configuration.toml").read_text()
    assert "validate_nwb = true" in text and "qc_report = true" in text
    fast = text.replace("validate_nwb = true", "validate_nwb = false")
    (root / "fast.toml").write_text(fast.replace("qc_report = true", "qc_report = false"))
    return root


@pytest.fixture
def root(experiment: Path, workspace_copy: Callable[[Path], Path]) -> Path:
    return workspace_copy(experiment)


def _nwb(root: Path, session: str) -> Path:
    return root / f"data/processed/mouse01/{session}/sub-mouse01_ses-{session}.nwb"


def _task_runs(state: Any, expected: int) -> list[Any]:
    """The ``expected`` task runs of the flow run that ended in ``state``, from the Prefect API.

    Task run states reach the API as events that its server records asynchronously: wait
    until all of them are there and final (at most a minute), then return what is there.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    flow_run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    with get_client(sync_client=True) as client:
        for _ in range(300):
            runs = list(client.read_task_runs(flow_run_filter=flow_run_filter))
            settled = all(r.state is not None and r.state.is_final() for r in runs)
            if len(runs) >= expected and settled and all(r.end_time for r in runs):
                break
            time.sleep(0.2)
    return runs


def _session_intervals(runs: list[Any]) -> list[tuple[datetime, datetime]]:
    """Start and end of every session task run (named ``subject/session``, no phase)."""
    sessions = [r for r in runs if ":" not in r.name]
    assert all(r.start_time is not None and r.end_time is not None for r in sessions)
    return sorted((r.start_time, r.end_time) for r in sessions)


def _most_at_once(intervals: list[tuple[datetime, datetime]]) -> int:
    """The largest number of intervals that overlap at one instant."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = most = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        most = max(most, running)
    return most


def test_process_session_writes_the_nwb_and_registry_rows_with_phases_as_tasks(
    harness: None, root: Path
) -> None:
    from w2t_bkin.deploy.prefect_flows import process_session_flow

    state = process_session_flow(
        str(root), "mouse01", "ses02", config=str(root / "fast.toml"), return_state=True
    )
    assert state.is_completed(), state.message
    summary = state.result()
    assert _nwb(root, "ses02").is_file()
    assert not _nwb(root, "ses01").exists()  # one session, not the batch
    assert summary["sessions"]["mouse01/ses02"]["status"] == "succeeded"
    assert summary["sessions"]["mouse01/ses02"]["outputs"]["nwb"] == str(_nwb(root, "ses02"))

    run = Registry(registry_path(root)).get_run(summary["run_id"])
    assert run.status == "succeeded"
    assert run.command[:2] == ("prefect", "process-session")
    (task_row,) = run.tasks
    assert (task_row.task_key, task_row.status) == ("mouse01/ses02", "done")
    assert set(task_row.phase_durations_s) == set(PHASES)

    runs = {r.name: r.state_name for r in _task_runs(state, 1 + len(PHASES))}
    assert runs == {"mouse01/ses02": "Completed"} | {
        f"mouse01/ses02: {phase}": "Completed" for phase in PHASES
    }

    # unchanged inputs: cached, as with `w2t-bkin run`; the session is not run again
    written_ns = _nwb(root, "ses02").stat().st_mtime_ns
    again = process_session_flow(
        str(root), "mouse01", "ses02", config=str(root / "fast.toml"), return_state=True
    )
    assert again.is_completed()
    cached = Registry(registry_path(root)).get_run(again.result()["run_id"])
    assert [(t.task_key, t.status) for t in cached.tasks] == [("mouse01/ses02", "cached")]
    assert _nwb(root, "ses02").stat().st_mtime_ns == written_ns


def test_a_failing_session_is_a_failed_task_and_the_others_finish_two_at_a_time(
    harness: None, root: Path
) -> None:
    from w2t_bkin.deploy.prefect_flows import batch_process_sessions_flow

    (root / "data/raw/mouse01/ses02/TTLs/cue.txt").unlink()
    state = batch_process_sessions_flow(
        str(root), config=str(root / "fast.toml"), max_parallel=2, return_state=True
    )
    assert state.is_failed()
    assert "1 of 3 sessions did not succeed" in state.message
    assert "mouse01/ses02: failed in phase discovery" in state.message

    runs = _task_runs(state, 2 * (1 + len(PHASES)) + 3)  # ses02: itself and two phases
    by_name = {r.name: r for r in runs}
    assert {name: by_name[name].state_name for name in ("mouse01/ses01", "mouse01/ses03")} == {
        "mouse01/ses01": "Completed",
        "mouse01/ses03": "Completed",
    }
    failed = by_name["mouse01/ses02"]
    assert failed.state_name == "Failed"
    assert failed.state.message.startswith("mouse01/ses02 failed in phase discovery:")
    assert "cue" in failed.state.message  # the missing file is named
    # the phases before the failing one stay completed (not rolled back); none after it ran
    assert by_name["mouse01/ses02: configuration"].state_name == "Completed"
    assert by_name["mouse01/ses02: discovery"].state_name == "Failed"
    assert not [name for name in by_name if name.startswith("mouse01/ses02: verification")]
    for session in ("ses01", "ses03"):
        assert _nwb(root, session).is_file()
        assert all(by_name[f"mouse01/{session}: {p}"].state_name == "Completed" for p in PHASES)
    assert not _nwb(root, "ses02").exists()

    # three sessions, two threads: two ran at once, never three
    assert _most_at_once(_session_intervals(runs)) == 2

    registry = Registry(registry_path(root))
    (run,) = [r for r in registry.list_runs() if r.command[:2] == ("prefect", BATCH)]
    run = registry.get_run(run.run_id)
    assert run.status == "failed"
    assert sorted((t.task_key, t.status) for t in run.tasks) == [
        ("mouse01/ses01", "done"),
        ("mouse01/ses02", "failed"),
        ("mouse01/ses03", "done"),
    ]


BATCH = "batch-process-sessions"


def test_max_parallel_one_runs_no_two_sessions_at_the_same_time(harness: None, root: Path) -> None:
    from w2t_bkin.deploy.prefect_flows import batch_process_sessions_flow

    state = batch_process_sessions_flow(
        str(root), session="ses0[13]", config=str(root / "fast.toml"), return_state=True
    )
    assert state.is_completed(), state.message
    assert sorted(state.result()["sessions"]) == ["mouse01/ses01", "mouse01/ses03"]
    intervals = _session_intervals(_task_runs(state, 2 * (1 + len(PHASES))))
    assert len(intervals) == 2
    assert _most_at_once(intervals) == 1
    (_, first_end), (second_start, _) = intervals
    assert first_end <= second_start


def test_bad_flow_parameters_fail_the_flow_run_with_the_fix(harness: None, root: Path) -> None:
    from w2t_bkin.deploy.prefect_flows import batch_process_sessions_flow, process_session_flow

    state = batch_process_sessions_flow(str(root), max_parallel=0, return_state=True)
    assert state.is_failed()
    assert "max_parallel must be at least 1; found 0" in state.message
    state = process_session_flow(str(root), "mouse01", "ses*", return_state=True)
    assert state.is_failed()
    assert "session_id must be one session's ID; found 'ses*'" in state.message
    assert "batch-process-sessions" in state.message
    assert not (root / "data/processed/mouse01").exists()


def test_deployments_name_the_workspace_and_prefill_its_path(experiment: Path) -> None:
    from w2t_bkin.deploy.prefect_flows import (
        batch_process_sessions_flow,
        deployments,
        process_session_flow,
    )

    served = deployments(experiment, experiment / "fast.toml")
    assert [(d.flow_name, d.name) for d in served] == [
        ("process-session", "w2t-bkin exp"),
        ("batch-process-sessions", "w2t-bkin exp"),
    ]
    for deployment in served:
        assert deployment.parameters == {
            "root": str(experiment.resolve()),
            "config": str((experiment / "fast.toml").resolve()),
        }
    assert [d.entrypoint for d in served] == [
        "w2t_bkin.deploy.prefect_flows.process_session_flow",
        "w2t_bkin.deploy.prefect_flows.batch_process_sessions_flow",
    ]
    # what the Prefect UI's run form offers
    form = batch_process_sessions_flow.parameters
    assert form.required == ["root"]
    assert {"subject", "session", "config", "max_parallel", "force", "retries"} <= set(
        form.properties
    )
    assert form.properties["max_parallel"]["default"] == 1
    assert process_session_flow.parameters.required == ["root", "subject_id", "session_id"]


@pytest.mark.slow
def test_server_start_prefect_serves_deployments_that_process_a_session(
    harness: None, root: Path, tmp_path: Path
) -> None:
    """End to end: the CLI serves the deployments to the harness's API; a run started through
    the API (as the Prefect UI's "Run" does) is executed by the served process."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PREFECT_API_URL=str(PREFECT_API_URL.value()))
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    log = (tmp_path / "serve.log").open("w")
    served = subprocess.Popen(
        [sys.executable, "-m", "w2t_bkin", "server", "start", str(root), "--prefect"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        name = "process-session/w2t-bkin exp"
        with get_client(sync_client=True) as client:
            for _ in range(240):  # the runner registers the deployments once it has started
                if served.poll() is not None:
                    break
                try:
                    client.read_deployment_by_name(name)
                    break
                except ObjectNotFound:
                    time.sleep(0.5)
        assert served.poll() is None, (tmp_path / "serve.log").read_text()
        flow_run = run_deployment(
            name,
            parameters={
                "subject_id": "mouse01",
                "session_id": "ses03",
                "config": str(root / "fast.toml"),
            },
            timeout=300,
        )
        assert flow_run.state is not None and flow_run.state.is_completed(), (
            tmp_path / "serve.log"
        ).read_text()
    finally:
        served.terminate()  # the process this test started, by its id
        try:
            served.wait(timeout=30)
        except subprocess.TimeoutExpired:
            served.kill()
            served.wait()
        log.close()
    assert _nwb(root, "ses03").is_file()
    assert "serving Prefect deployments process-session/w2t-bkin exp" in (
        (tmp_path / "serve.log").read_text()
    )


def test_continue_on_error_false_skips_the_rest_after_a_failure_as_the_cli_does(
    harness: None, root: Path
) -> None:
    from w2t_bkin.deploy.prefect_flows import batch_process_sessions_flow

    strict = root / "strict.toml"
    text = (root / "fast.toml").read_text()
    assert "continue_on_error = true" in text
    strict.write_text(text.replace("continue_on_error = true", "continue_on_error = false"))
    (root / "data/raw/mouse01/ses03/TTLs/cue.txt").unlink()
    state = batch_process_sessions_flow(
        str(root), config=str(strict), max_parallel=2, return_state=True
    )
    assert state.is_failed()
    assert "3 of 3 sessions did not succeed" in state.message
    assert "mouse01/ses03: failed in phase discovery" in state.message
    assert "mouse01/ses01: skipped" in state.message
    # the preflight put the failing session first; the others never became task runs
    runs = _task_runs(state, 3)
    assert sorted(r.name for r in runs if ":" not in r.name) == ["mouse01/ses03"]
    assert not (root / "data/processed/mouse01/ses01").exists()
