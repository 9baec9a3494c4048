"""The pose job daemon's status on the dashboard: progress and stale flags from its file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from w2t_bkin.jobs.layout import JobsLayout
from w2t_bkin.jobs.status import DaemonInfo, JobStatus, StatusFile, write_status
from w2t_bkin.web.app import DashboardSettings
from w2t_bkin.web.panels import pose_jobs

from ._helpers import make_workspace


def _write(folder: Path, daemon: DaemonInfo) -> None:
    layout = JobsLayout(folder)
    layout.status_path.parent.mkdir(parents=True, exist_ok=True)
    status = StatusFile(
        daemon=daemon,
        jobs={
            "batch-a": JobStatus(state="processing", percent=42.0, current_video="cam0.mp4"),
            "batch-b": JobStatus(state="completed", percent=100.0),
            "batch-c": JobStatus(state="failed", error="ValueError: unreadable video"),
        },
    )
    write_status(layout, status)


def test_jobs_of_a_dead_daemon_are_stale(tmp_path: Path) -> None:
    folder = tmp_path / "jobs"
    old = DaemonInfo(pid=1, state="running", heartbeat_at="2020-01-01T00:00:00+00:00")
    _write(folder, old)
    (shown,) = pose_jobs(tmp_path, [folder]).folders
    assert shown["daemon_stale"] is True
    assert shown["daemon"] == "daemon not responding, last heartbeat 2020-01-01T00:00:00+00:00"
    assert [
        (j["name"], j["state"], j["fraction"], j["stale"], j["detail"]) for j in shown["jobs"]
    ] == [
        ("batch-a", "processing", 0.42, True, "video cam0.mp4"),
        ("batch-b", "completed", 1.0, False, ""),
        ("batch-c", "failed", None, False, "ValueError: unreadable video"),
    ]


def test_jobs_page_shows_progress_bars_and_stale_badges(tmp_path: Path, client_for: Any) -> None:
    root = make_workspace(tmp_path / "exp", {"m1": ["s1"]})
    _write(root / "jobs", DaemonInfo(state="stopped"))
    client = client_for(DashboardSettings(root, freshness_sweeps=False))  # ROOT/jobs by default
    page = client.get("/jobs").text
    assert '<progress max="1" value="0.42">' in page
    assert "daemon stopped" in page
    assert page.count(">stale</span>") == 1  # batch-a: processing with no live daemon
    assert "ValueError: unreadable video" in page
