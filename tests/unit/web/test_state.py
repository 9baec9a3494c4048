"""The overview: discovered sessions joined with the registry's latest record of each."""

from __future__ import annotations

from pathlib import Path

import pytest

from w2t_bkin.errors import W2TError
from w2t_bkin.runtime.registry import TaskRecord, registry_path
from w2t_bkin.web.state import FreshnessCache, latest_tasks, overview, task_history

from ._helpers import make_workspace, record


def test_workspace_without_registry_lists_every_session_as_never_run(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "exp", {"m1": ["s1", "s2"], "m2": ["s1"]})
    view = overview(root)
    assert [(r.key, r.state, r.checked) for r in view.rows] == [
        ("m1/s1", "never run", True),
        ("m1/s2", "never run", True),
        ("m2/s1", "never run", True),
    ]
    assert dict(view.counts) == {"never run": 3}
    assert [(s, [r.session for r in rows]) for s, rows in view.subjects] == [
        ("m1", ["s1", "s2"]),
        ("m2", ["s1"]),
    ]
    assert not registry_path(root).exists()  # reading creates nothing


def test_latest_record_of_each_session_wins(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "exp", {"m1": ["s1", "s2", "s3"]})
    record(
        root,
        [
            TaskRecord("m1/s1", "failed", error="bad TTL file\n  hint: fix line 3"),
            TaskRecord("m1/s2", "done", warnings=("w1", "w2")),
        ],
        status="failed",
    )
    second = record(root, [TaskRecord("m1/s1", "done", finished_at="2026-01-02T03:04:05")])
    record(root, [TaskRecord("m1/s2", "busy", error="locked by pid 42")], status="failed")
    latest = latest_tasks(root)
    assert sorted(latest) == ["m1/s1", "m1/s2"]
    assert (latest["m1/s1"].status, latest["m1/s1"].run_id) == ("done", second)
    rows = {r.key: r for r in overview(root).rows}
    assert (rows["m1/s1"].state, rows["m1/s1"].run_id) == ("done", second)
    assert rows["m1/s1"].finished_at == "2026-01-02T03:04:05"
    assert rows["m1/s1"].checked is False  # no freshness verdict given
    assert (rows["m1/s2"].state, rows["m1/s2"].reasons) == ("busy", ("locked by pid 42",))
    assert rows["m1/s2"].n_warnings == 0  # the latest record, not the earlier one with 2
    assert rows["m1/s3"].state == "never run"


def test_failed_session_shows_the_first_line_of_its_error(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "exp", {"m1": ["s1"]})
    record(root, [TaskRecord("m1/s1", "failed", error="\nbad TTL file\n  hint: x")], "failed")
    (row,) = overview(root).rows
    assert (row.state, row.reasons) == ("failed", ("bad TTL file",))


def test_running_sessions_override_the_registry(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "exp", {"m1": ["s1", "s2"]})
    record(root, [TaskRecord("m1/s1", "done")])
    rows = overview(root, running={"m1/s1": "synchronization"}).rows
    assert [(r.state, r.reasons) for r in rows] == [
        ("running", ("synchronization",)),
        ("never run", ()),
    ]


def test_freshness_verdict_applies_only_to_the_row_it_judged(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "exp", {"m1": ["s1"]})
    record(root, [TaskRecord("m1/s1", "done")])
    cache = FreshnessCache(root)
    row_id = latest_tasks(root)["m1/s1"].row_id
    cache._verdicts["m1/s1"] = (row_id, "stale", ("input changed: TTLs/a.txt",))
    (row,) = overview(root, cache).rows
    assert (row.state, row.reasons, row.checked) == ("stale", ("input changed: TTLs/a.txt",), True)
    record(root, [TaskRecord("m1/s1", "done")])  # a newer run: the verdict is out of date
    (row,) = overview(root, cache).rows
    assert (row.state, row.checked) == ("done", False)


def test_task_history_is_newest_first_with_durations(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "exp", {"m1": ["s1"]})
    first = record(root, [TaskRecord("m1/s1", "failed", error="boom\nmore")], "failed")
    second = record(
        root, [TaskRecord("m1/s1", "done", phase_durations_s={"ingestion": 1.5, "assembly": 2.0})]
    )
    history = task_history(root, "m1/s1")
    assert [(h["run_id"], h["status"], h["duration_s"], h["error"]) for h in history] == [
        (second, "done", 3.5, ""),
        (first, "failed", 0.0, "boom"),
    ]
    assert task_history(root, "m1/none") == []


def test_unreadable_registry_is_a_w2t_error_naming_the_file(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "exp", {"m1": ["s1"]})
    registry_path(root).write_bytes(b"not a database at all" * 100)
    with pytest.raises(W2TError, match="cannot read the run registry") as info:
        overview(root)
    assert info.value.path == registry_path(root)
