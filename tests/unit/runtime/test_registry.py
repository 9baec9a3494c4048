"""The run registry: records round-trip, two coordinators write safely, killed runs show."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from w2t_bkin import __version__
from w2t_bkin.errors import RegistryError
from w2t_bkin.runtime.registry import OutputRecord, Registry, TaskRecord, registry_path

TASK = TaskRecord(
    task_key="mouse01/ses01",
    status="done",
    cache_key="c" * 64,
    started_at="2026-01-01T10:00:00.000+00:00",
    finished_at="2026-01-01T10:01:00.000+00:00",
    attempts=2,
    phase_durations_s={"configuration": 0.5, "assembly": 1.25},
    outputs={"nwb": OutputRecord("sub-mouse01_ses-ses01.nwb", "a" * 64, 1234)},
    warnings=("cam0: 1 dropped frame",),
    error=None,
    fingerprint={"config": {"synchronization": {"trial_match_tolerance_s": 0.005}}},
)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(registry_path(tmp_path))


def test_registry_lives_in_the_workspace_state_folder(tmp_path: Path) -> None:
    assert registry_path(tmp_path) == tmp_path / ".w2t" / "registry.sqlite"


def test_run_and_task_round_trip(registry: Registry) -> None:
    run_id = registry.start_run(["w2t-bkin", "run", "exp"], {"execution": {"workers": 2}})
    registry.record_task(run_id, TASK)
    failed = TaskRecord(task_key="mouse01/ses02", status="failed", error="sync failed: x\nmore")
    registry.record_task(run_id, failed)
    registry.finish_run(run_id, "failed")

    run = registry.get_run(run_id)
    assert run.run_id == run_id
    assert run.status == "failed"
    assert run.command == ("w2t-bkin", "run", "exp")
    assert run.config == {"execution": {"workers": 2}}
    assert run.version == __version__
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert run.task_counts == {"done": 1, "failed": 1}
    assert run.tasks == (
        TaskRecord(**{**TASK.__dict__, "run_id": run_id}),
        TaskRecord(**{**failed.__dict__, "run_id": run_id}),
    )
    assert registry.latest_task("mouse01/ses01") == run.tasks[0]
    assert registry.latest_task("mouse01/ses01", status_in=("failed",)) is None
    assert registry.latest_task("nobody/none") is None
    [listed] = registry.list_runs(10)
    assert listed.tasks == () and listed.task_counts == {"done": 1, "failed": 1}


def test_latest_task_is_the_last_recorded(registry: Registry) -> None:
    first = registry.start_run(["a"], {})
    registry.record_task(first, TASK)
    second = registry.start_run(["b"], {})
    registry.record_task(second, TaskRecord(task_key=TASK.task_key, status="cached"))
    latest = registry.latest_task(TASK.task_key)
    assert latest is not None and (latest.run_id, latest.status) == (second, "cached")
    done = registry.latest_task(TASK.task_key, status_in=("done",))
    assert done is not None and done.run_id == first
    assert [r.run_id for r in registry.list_runs(None)] == [second, first]
    assert [r.run_id for r in registry.list_runs(1)] == [second]


def test_wal_mode_and_schema_version(registry: Registry) -> None:
    registry.start_run(["a"], {})
    with sqlite3.connect(registry.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(1,)]


def test_reading_a_missing_registry_finds_nothing_and_creates_nothing(
    registry: Registry,
) -> None:
    assert registry.list_runs() == []
    assert registry.latest_task("mouse01/ses01") is None
    assert registry.mark_stale_runs() == []
    assert not registry.path.exists()


def test_bad_statuses_are_refused(registry: Registry) -> None:
    run_id = registry.start_run(["a"], {})
    with pytest.raises(RegistryError, match="'ok' is not a task status"):
        registry.record_task(run_id, TaskRecord(task_key="k", status="ok"))
    with pytest.raises(RegistryError, match="'running' is not a finished run status"):
        registry.finish_run(run_id, "running")
    with pytest.raises(RegistryError, match="no run with id 'nope'"):
        registry.record_task("nope", TASK)


WRITER = """
import sys
from pathlib import Path
from w2t_bkin.runtime.registry import Registry, TaskRecord
registry = Registry(Path(sys.argv[1]))
run_id = registry.start_run(["writer", sys.argv[2]], {})
for i in range(200):
    registry.record_task(run_id, TaskRecord(task_key=f"s{sys.argv[2]}/t{i:03d}", status="done",
                         phase_durations_s={"x": float(i)}))
registry.finish_run(run_id, "succeeded")
print(run_id)
"""


def test_two_coordinators_write_at_once_without_corruption(registry: Registry) -> None:
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(registry.path), str(k)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in (1, 2)
    ]
    run_ids = [w.communicate(timeout=300)[0].strip() for w in writers]
    assert [w.returncode for w in writers] == [0, 0]
    for k, run_id in zip((1, 2), run_ids, strict=True):
        run = registry.get_run(run_id)
        assert run.status == "succeeded"
        assert [t.task_key for t in run.tasks] == [f"s{k}/t{i:03d}" for i in range(200)]
        assert run.tasks[199].phase_durations_s == {"x": 199.0}
    with sqlite3.connect(registry.path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM task_runs").fetchone() == (400,)


def test_a_run_whose_coordinator_died_is_interrupted(registry: Registry) -> None:
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from w2t_bkin.runtime.registry import "
            "Registry; print(Registry(Path(sys.argv[1])).start_run(['run'], {}))",
            str(registry.path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = killed.stdout.strip()
    alive = registry.start_run(["run"], {})  # this process: still running
    shown = {run.run_id: run.status for run in registry.list_runs()}
    assert shown == {dead: "interrupted", alive: "running"}
    assert registry.get_run(dead[:8]).status == "interrupted"
    with sqlite3.connect(registry.path) as db:  # shown so, not yet recorded so
        assert db.execute("SELECT status FROM runs WHERE run_id = ?", (dead,)).fetchone() == (
            "running",
        )
    assert registry.mark_stale_runs() == [dead]
    with sqlite3.connect(registry.path) as db:
        rows = dict(db.execute("SELECT run_id, status FROM runs").fetchall())
    assert rows == {dead: "interrupted", alive: "running"}
    assert registry.get_run(dead).finished_at is not None


def _set_id(registry: Registry, old: str, new: str) -> None:
    with sqlite3.connect(registry.path) as db:
        db.execute("UPDATE runs SET run_id = ? WHERE run_id = ?", (new, old))


def test_run_ids_are_found_by_prefix_with_exact_errors(registry: Registry) -> None:
    _set_id(registry, registry.start_run(["a"], {}), "abc11111-0000-4000-8000-000000000000")
    _set_id(registry, registry.start_run(["b"], {}), "abc22222-0000-4000-8000-000000000000")
    assert registry.get_run("abc1").command == ("a",)
    assert registry.get_run("ABC2").command == ("b",)
    with pytest.raises(RegistryError) as ambiguous:
        registry.get_run("abc")
    assert str(ambiguous.value) == (
        f"run id 'abc' is ambiguous: 2 runs in {registry.path} start with it "
        "(abc11111-0000-4000-8000-000000000000, abc22222-0000-4000-8000-000000000000)\n"
        "  hint: give more characters of the run id"
    )
    with pytest.raises(RegistryError) as unknown:
        registry.get_run("fff")
    assert str(unknown.value) == (
        f"no run with id 'fff' in {registry.path}\n"
        "  hint: list the recorded runs with: w2t-bkin runs list ROOT"
    )
    assert unknown.value.exit_code == 8
    with pytest.raises(RegistryError, match="no run with id ''"):
        registry.get_run("")
