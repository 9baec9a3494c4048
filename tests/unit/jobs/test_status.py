"""The status file: schema round trip, read-only view for dashboards, liveness."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from w2t_bkin.jobs.status import (
    HEARTBEAT_S,
    JobStatus,
    StatusFile,
    VideoStatus,
    daemon_alive,
    read_status,
)

from .conftest import drain, make_job


def test_status_json_round_trips_and_names_its_format() -> None:
    status = StatusFile()
    status.jobs["j"] = JobStatus(videos={"a.mp4": VideoStatus(state="done", frames_done=3)})
    data = json.loads(status.to_json())
    assert data["format"] == "w2t-bkin.jobs-status" and data["schema_version"] == 1
    assert StatusFile.model_validate(data) == status


def test_progress_counts_the_current_video_by_frames() -> None:
    entry = JobStatus(
        videos={
            "a": VideoStatus(state="done", frames_done=10, frames_total=10),
            "b": VideoStatus(state="processing", frames_done=25, frames_total=100),
            "c": VideoStatus(),
            "d": VideoStatus(),
        }
    )
    entry.refresh_progress()
    assert (entry.videos_done, entry.videos_total, entry.percent) == (1, 4, 31.25)


def test_read_status_never_writes_and_rebuilds_a_corrupt_file_in_memory(data_dir: Path) -> None:
    make_job(data_dir, "j", {"v.mp4": 3})
    drain(data_dir)
    path = data_dir / "out" / "status.json"
    view = read_status(data_dir)
    assert view.source == "file" and view.status.jobs["j"].state == "completed"
    assert not view.daemon_alive  # it stopped

    path.write_bytes(b"[1, 2")
    view = read_status(data_dir)
    assert view.source == "rebuilt" and "not valid JSON" in (view.problem or "")
    assert view.status.jobs["j"].state == "completed"
    assert view.status.jobs["j"].videos["v.mp4"].frames_done == 3
    assert path.read_bytes() == b"[1, 2"


def test_daemon_alive_needs_a_recent_heartbeat() -> None:
    status = StatusFile()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    status.daemon.state = "running"
    status.daemon.heartbeat_at = (now - timedelta(seconds=2 * HEARTBEAT_S)).isoformat()
    assert daemon_alive(status, now=now)
    status.daemon.heartbeat_at = (now - timedelta(seconds=4 * HEARTBEAT_S)).isoformat()
    assert not daemon_alive(status, now=now)
    status.daemon.state = "stopped"
    status.daemon.heartbeat_at = now.isoformat()
    assert not daemon_alive(status, now=now)
