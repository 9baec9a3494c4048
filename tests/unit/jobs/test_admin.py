"""``retry_job`` and ``reset_data_dir``: operator actions that respect a running daemon."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from w2t_bkin.jobs.admin import reset_data_dir, retry_job
from w2t_bkin.jobs.errors import DaemonRunningError, JobNotFoundError, JobStateError
from w2t_bkin.runtime.locks import exclusive_lock

from .conftest import drain, make_job, status_of


def test_reset_refuses_while_a_daemon_holds_the_lock_and_removes_nothing(data_dir: Path) -> None:
    make_job(data_dir, "j", {"v.mp4": 2})
    drain(data_dir)
    before = sorted(p.relative_to(data_dir) for p in data_dir.rglob("*"))
    refused = pytest.raises(DaemonRunningError, match=rf"pid {os.getpid()}.*nothing was removed")
    with exclusive_lock(data_dir / ".w2t-jobs.lock"), refused:
        reset_data_dir(data_dir, inputs=True)
    assert sorted(p.relative_to(data_dir) for p in data_dir.rglob("*")) == before


def test_reset_dry_run_lists_then_yes_removes_results_and_keeps_inputs(data_dir: Path) -> None:
    make_job(data_dir, "j", {"v.mp4": 2})
    drain(data_dir)
    out = data_dir / "out"

    listed = reset_data_dir(data_dir, dry_run=True)
    assert listed.removed == (out / "j", out / "status.json")
    assert (out / "status.json").exists() and listed.bytes_freed > 0

    done = reset_data_dir(data_dir)
    assert not any(out.iterdir()) and (data_dir / "in" / "j" / "v.mp4").exists()
    assert done.bytes_freed == listed.bytes_freed
    # Inputs come back as work: the next run processes them again.
    assert drain(data_dir).completed == ["j"]

    reset_data_dir(data_dir, inputs=True)
    assert not any((data_dir / "in").iterdir())


def test_retry_refuses_unknown_queued_and_completed_jobs(data_dir: Path) -> None:
    make_job(data_dir, "done", {"v.mp4": 2})
    drain(data_dir)
    with pytest.raises(JobNotFoundError, match="no job named 'nope'") as info:
        retry_job(data_dir, "nope")
    assert info.value.exit_code == 9
    with pytest.raises(JobStateError, match="job done is completed, not failed"):
        retry_job(data_dir, "done")
    make_job(data_dir, "waiting", {"v.mp4": 2})
    with pytest.raises(JobStateError, match="job waiting is queued"):
        retry_job(data_dir, "waiting")


def test_retry_from_scratch_reruns_a_completed_job(data_dir: Path) -> None:
    make_job(data_dir, "done", {"v.mp4": 3})
    drain(data_dir)
    old = (data_dir / "out" / "done" / "v.mp4.pose.npz").stat().st_mtime_ns

    result = retry_job(data_dir, "done", from_scratch=True)

    assert result.kept_videos == 0
    assert drain(data_dir).videos_done == 1
    assert (data_dir / "out" / "done" / "v.mp4.pose.npz").stat().st_mtime_ns > old
    assert status_of(data_dir).jobs["done"].state == "completed"


def test_retry_with_a_daemon_running_only_moves_the_inputs_back(data_dir: Path) -> None:
    folder = make_job(data_dir, "bad", {})
    (folder / "x.txt").write_text("no videos")
    drain(data_dir)
    make_job(data_dir / "fix", "f", {"v.mp4": 2}, ready=False)
    os.replace(data_dir / "fix/in/f/v.mp4", data_dir / "failed/bad/v.mp4")
    with exclusive_lock(data_dir / ".w2t-jobs.lock"):
        result = retry_job(data_dir, "bad")
        assert result.daemon_running
        assert status_of(data_dir).jobs["bad"].state == "failed"  # the daemon's file, untouched
    assert (data_dir / "in" / "bad" / "v.mp4").exists()
    assert drain(data_dir).completed == ["bad"]


def test_retry_refuses_when_a_job_of_the_same_name_is_in_in(data_dir: Path) -> None:
    folder = make_job(data_dir, "twin", {})
    (folder / "x.txt").write_text("no videos")
    drain(data_dir)
    make_job(data_dir, "twin", {"v.mp4": 2})
    with pytest.raises(JobStateError, match="exists too"):
        retry_job(data_dir, "twin")


def test_reset_is_scoped_to_its_own_data_folder(tmp_path: Path) -> None:
    busy, other = tmp_path / "busy", tmp_path / "other"
    (other / "out").mkdir(parents=True)
    (other / "out" / "status.json").write_text("{}")
    busy.mkdir()
    with exclusive_lock(busy / ".w2t-jobs.lock"):
        result = reset_data_dir(other)
    assert result.removed == (other / "out" / "status.json",)
    assert not (other / "out" / "status.json").exists()
