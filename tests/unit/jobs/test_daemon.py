"""The job daemon in this process: lifecycle, resume, rebuild, retry, completeness detection.

Each NeuroPose daemon defect (reference/neuropose.md section 13.1 item 5) has a test named
after it; the real-signal and kill -9 cases are in tests/integration/test_jobs_daemon.py.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.jobs.admin import retry_job
from w2t_bkin.jobs.daemon import DaemonConfig, JobDaemon
from w2t_bkin.jobs.errors import DaemonRunningError, StatusVersionError
from w2t_bkin.jobs.status import StatusUnreadable
from w2t_bkin.pose.estimators import make_estimator
from w2t_bkin.pose.process import process_video
from w2t_bkin.pose.results import read_predictions
from w2t_bkin.runtime.locks import exclusive_lock

from .conftest import FAST, DaemonThread, drain, make_job, status_of, wait_for


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


def _results(data_dir: Path, job: str) -> dict[str, tuple[int, int]]:
    return {p.name: _stamp(p) for p in sorted((data_dir / "out" / job).glob("*.pose.npz"))}


def test_lifecycle_queued_processing_completed_with_exact_results(data_dir: Path) -> None:
    make_job(data_dir, "mouse1", {"a.mp4": 12, "b.avi": 7})
    make_job(data_dir, "mouse2", {"c.mkv": 5})

    report = drain(data_dir)

    assert sorted(report.completed) == ["mouse1", "mouse2"]
    assert report.failed == [] and report.videos_done == 3
    status = status_of(data_dir)
    assert status.schema_version == 1 and status.daemon.state == "stopped"
    entry = status.jobs["mouse1"]
    assert entry.state == "completed" and entry.attempts == 1 and entry.percent == 100.0
    assert [e.event for e in entry.history][-3:] == ["queued", "processing", "completed"]
    assert {name: v.frames_done for name, v in entry.videos.items()} == {"a.mp4": 12, "b.avi": 7}
    # The daemon's results are exactly what the estimator gives for the same video.
    for job, video, n_frames in (("mouse1", "a.mp4", 12), ("mouse1", "b.avi", 7)):
        saved = read_predictions(data_dir / "out" / job / f"{video}.pose.npz")
        direct = process_video(data_dir / "in" / job / video, make_estimator("synthetic"))
        assert saved.n_frames == n_frames
        np.testing.assert_array_equal(saved.keypoints_px, direct.keypoints_px)
    summary = json.loads((data_dir / "out" / "mouse1" / "job.json").read_text())
    assert summary["videos"]["a.mp4"] == {
        "result": "out/mouse1/a.mp4.pose.npz",
        "n_frames": 12,
        "duration_s": entry.videos["a.mp4"].duration_s,
    }
    assert (data_dir / "in" / "mouse1" / "a.mp4").is_file()  # inputs are never moved or changed


def test_a_linked_video_is_processed_and_its_target_left_alone(
    data_dir: Path, tmp_path: Path
) -> None:
    share = make_job(tmp_path / "share", "rig", {"cam.mp4": 9}, ready=False)
    folder = data_dir / "in" / "linked"
    folder.mkdir(parents=True)
    (folder / "cam.mp4").symlink_to(share / "cam.mp4")
    (folder / "gone.mp4").symlink_to(share / "missing.mp4")  # dangling: not a video file
    (folder / ".ready").write_bytes(b"")
    before = _stamp(share / "cam.mp4")

    report = drain(data_dir)

    assert report.completed == ["linked"] and report.videos_done == 1
    assert read_predictions(data_dir / "out" / "linked" / "cam.mp4.pose.npz").n_frames == 9
    assert _stamp(share / "cam.mp4") == before
    assert sorted(p.name for p in share.iterdir()) == ["cam.mp4"]


def test_jobs_run_in_arrival_order_not_name_order(data_dir: Path) -> None:
    make_job(data_dir, "zeta", {"a.mp4": 2})
    with DaemonThread(data_dir, FAST):
        wait_for(lambda: (data_dir / "out" / "zeta" / "job.json").exists())
        make_job(data_dir, "beta", {"a.mp4": 2})
        make_job(data_dir, "alpha", {"a.mp4": 2})
        wait_for(lambda: (data_dir / "out" / "alpha" / "job.json").exists())
        wait_for(lambda: (data_dir / "out" / "beta" / "job.json").exists())
    started = {job: e.started_at or "" for job, e in status_of(data_dir).jobs.items()}
    assert started["zeta"] < started["beta"] < started["alpha"]


def test_progress_is_checkpointed_every_n_frames(data_dir: Path) -> None:
    make_job(data_dir, "slow", {"long.mp4": 400})
    config = replace(FAST, checkpoint_every_frames=100, options={"delay_s": 0.003})
    seen: set[int] = set()

    def observe() -> bool:
        try:
            video = status_of(data_dir).jobs["slow"].videos["long.mp4"]
        except (StatusUnreadable, KeyError):
            return False  # not written yet
        seen.add(video.frames_done)
        return video.state == "done"

    with DaemonThread(data_dir, config):
        wait_for(observe)
    assert seen <= {0, 100, 200, 300, 400}
    assert seen & {100, 200, 300}, f"no intermediate checkpoint was observed: {sorted(seen)}"


def test_corrupt_status_file_is_rebuilt_not_reset_and_nothing_is_reprocessed(
    data_dir: Path,
) -> None:
    make_job(data_dir, "done1", {"a.mp4": 5, "b.mp4": 4})
    make_job(data_dir, "done2", {"c.mp4": 3})
    drain(data_dir)
    before = {job: _results(data_dir, job) for job in ("done1", "done2")}
    status_path = data_dir / "out" / "status.json"
    status_path.write_bytes(b'{"schema_version": 1, "jobs": {"done1": {"state": "compl')

    report = drain(data_dir)

    assert report.videos_done == 0 and report.completed == []
    assert report.rebuilt_status is not None and "not valid JSON" in report.rebuilt_status
    assert {job: _results(data_dir, job) for job in ("done1", "done2")} == before
    status = status_of(data_dir)
    assert {job: e.state for job, e in status.jobs.items()} == {
        "done1": "completed",
        "done2": "completed",
    }
    assert status.jobs["done1"].videos["a.mp4"].frames_done == 5
    kept = list((data_dir / "out").glob("status.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes().endswith(b'"compl')


def test_missing_status_file_is_rebuilt_and_only_unfinished_videos_run(data_dir: Path) -> None:
    make_job(data_dir, "job", {"a.mp4": 5, "b.mp4": 4})
    drain(data_dir)
    first = _results(data_dir, "job")
    (data_dir / "out" / "status.json").unlink()
    # A video added later is the only work left.
    make_job(data_dir, "job", {"c.mp4": 6})

    report = drain(data_dir)

    assert report.videos_done == 1
    after = _results(data_dir, "job")
    assert {k: after[k] for k in first} == first
    assert status_of(data_dir).jobs["job"].videos["c.mp4"].frames_done == 6


def test_status_file_of_a_newer_version_is_refused_untouched(data_dir: Path) -> None:
    (data_dir / "out").mkdir(parents=True)
    newer = b'{"format": "w2t-bkin.jobs-status", "schema_version": 7, "jobs": {}}'
    (data_dir / "out" / "status.json").write_bytes(newer)
    with pytest.raises(StatusVersionError, match="schema_version 7") as info:
        drain(data_dir)
    assert info.value.exit_code == 9
    assert (data_dir / "out" / "status.json").read_bytes() == newer


def test_stop_between_videos_keeps_finished_videos_and_resumes_the_rest(data_dir: Path) -> None:
    make_job(data_dir, "multi", {"v1.mp4": 3, "v2.mp4": 3, "v3.mp4": 3})
    config = replace(FAST, options={"delay_s": 0.05})
    with DaemonThread(data_dir, config) as runner:
        wait_for(lambda: (data_dir / "out" / "multi" / "v1.mp4.done.json").exists())
        runner.daemon.request_stop()
        runner.thread.join(60)
    entry = status_of(data_dir).jobs["multi"]
    assert entry.state == "queued"  # not failed, not quarantined
    assert (data_dir / "in" / "multi").is_dir() and not (data_dir / "failed" / "multi").exists()
    kept = _results(data_dir, "multi")
    assert "v1.mp4.pose.npz" in kept and "v3.mp4.pose.npz" not in kept
    assert entry.videos["v3.mp4"].state == "pending"

    report = drain(data_dir)

    assert report.completed == ["multi"]
    assert report.videos_done == 3 - len(kept)
    after = _results(data_dir, "multi")
    assert {k: after[k] for k in kept} == kept  # finished videos were not recomputed
    assert status_of(data_dir).jobs["multi"].history[-1].event == "completed"


def test_partially_copied_folder_is_not_picked_up(data_dir: Path) -> None:
    source = make_job(data_dir / "elsewhere", "src", {"v.mp4": 8}, ready=False) / "v.mp4"
    data = source.read_bytes()
    folder = data_dir / "in" / "copying"
    folder.mkdir(parents=True)
    # A copy tool's temporary name, then a file still growing: neither may be taken.
    (folder / "v.mp4.part").write_bytes(data[: len(data) // 2])
    report = drain(data_dir, replace(FAST, settle_s=30.0))
    assert report.left_incoming == ["copying"] and report.videos_done == 0
    assert status_of(data_dir).jobs["copying"].state == "incoming"
    (folder / "v.mp4.part").rename(folder / "v.mp4")
    report = drain(data_dir, replace(FAST, settle_s=30.0))  # changed just now: not settled
    assert report.left_incoming == ["copying"]
    assert not (data_dir / "out" / "copying").exists()

    with open(folder / "v.mp4", "ab") as stream:
        stream.write(data[len(data) // 2 :])
    report = drain(data_dir, replace(FAST, settle_s=0.0))

    assert report.completed == ["copying"]
    saved = read_predictions(data_dir / "out" / "copying" / "v.mp4.pose.npz")
    assert saved.n_frames == 8


def test_ready_marker_takes_a_folder_at_once(data_dir: Path) -> None:
    make_job(data_dir, "marked", {"v.mp4": 2}, ready=True)
    report = drain(data_dir, replace(FAST, settle_s=3600.0))
    assert report.completed == ["marked"]


def test_failed_job_can_be_retried_and_runs_again(data_dir: Path) -> None:
    folder = make_job(data_dir, "mixed", {"good.mp4": 4})
    (folder / "broken.mp4").write_bytes(b"this is not a video")

    report = drain(data_dir)

    assert report.failed == ["mixed"]
    entry = status_of(data_dir).jobs["mixed"]
    assert entry.state == "failed" and entry.inputs_dir == "failed/mixed"
    assert "1 of 2 videos failed; broken.mp4" in (entry.error or "")
    assert not folder.exists() and (data_dir / "failed" / "mixed" / "broken.mp4").is_file()
    good = _results(data_dir, "mixed")
    assert list(good) == ["good.mp4.pose.npz"]  # the finished video is kept

    # The operator fixes the input and retries: it really runs again.
    make_job(data_dir / "fix", "x", {"broken.mp4": 6}, ready=False)
    os.replace(data_dir / "fix" / "in" / "x" / "broken.mp4", data_dir / "failed/mixed/broken.mp4")
    result = retry_job(data_dir, "mixed")
    assert result.kept_videos == 1 and not result.daemon_running
    assert status_of(data_dir).jobs["mixed"].state == "queued"

    report = drain(data_dir)

    assert report.completed == ["mixed"] and report.videos_done == 1
    assert _results(data_dir, "mixed")["good.mp4.pose.npz"] == good["good.mp4.pose.npz"]
    entry = status_of(data_dir).jobs["mixed"]
    assert entry.state == "completed" and entry.attempts == 2 and entry.error is None


def test_failed_job_moved_back_by_hand_is_requeued(data_dir: Path) -> None:
    folder = data_dir / "in" / "empty-handed"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("no video here")
    (folder / ".ready").write_bytes(b"")
    drain(data_dir)
    entry = status_of(data_dir).jobs["empty-handed"]
    assert entry.state == "failed"
    assert "no video files in in/empty-handed (found: notes.txt)" in (entry.error or "")

    failed = data_dir / "failed" / "empty-handed"
    make_job(data_dir / "fix", "x", {"v.mp4": 3}, ready=False)
    os.replace(data_dir / "fix" / "in" / "x" / "v.mp4", failed / "v.mp4")
    os.rename(failed, folder)  # what NeuroPose documents, and ignores
    report = drain(data_dir)

    assert report.completed == ["empty-handed"]
    assert [e.event for e in status_of(data_dir).jobs["empty-handed"].history][-4:] == [
        "requeued",
        "queued",
        "processing",
        "completed",
    ]


def test_second_daemon_on_the_same_folder_is_refused(data_dir: Path) -> None:
    data_dir.mkdir()
    refused = pytest.raises(DaemonRunningError, match=f"pid {os.getpid()} since")
    with exclusive_lock(data_dir / ".w2t-jobs.lock"), refused as info:
        drain(data_dir)
    assert info.value.exit_code == 9 and "kill -TERM" in (info.value.hint or "")


def test_invalid_settings_are_rejected_with_every_problem() -> None:
    from w2t_bkin.errors import ConfigError

    with pytest.raises(ConfigError, match=r"poll_s must be > 0.*jobs must be >= 1"):
        JobDaemon("/nonexistent", DaemonConfig(poll_s=0, jobs=0))


@pytest.mark.slow
def test_videos_run_as_tasks_in_worker_processes(data_dir: Path) -> None:
    make_job(data_dir, "p1", {"a.mp4": 6, "b.mp4": 5})
    make_job(data_dir, "p2", {"c.mp4": 4})
    report = drain(data_dir, replace(FAST, jobs=2))
    assert sorted(report.completed) == ["p1", "p2"] and report.videos_done == 3
    history = status_of(data_dir).jobs["p1"].history
    worker = next(e.detail for e in history if e.event == "processing")
    assert f"pid {os.getpid()}" not in worker  # ran in a worker process, recorded here
    assert read_predictions(data_dir / "out" / "p2" / "c.mp4.pose.npz").n_frames == 4


def test_status_entry_that_fails_validation_does_not_crash_recovery(data_dir: Path) -> None:
    make_job(data_dir, "ok", {"v.mp4": 3})
    drain(data_dir)
    path = data_dir / "out" / "status.json"
    data = json.loads(path.read_text())
    data["jobs"]["ok"]["state"] = "exploded"
    data["jobs"]["ok"]["videos"]["v.mp4"]["frames_done"] = -4
    path.write_text(json.dumps(data))

    report = drain(data_dir)

    assert report.rebuilt_status is not None and "jobs.ok.state" in report.rebuilt_status
    assert report.videos_done == 0
    assert status_of(data_dir).jobs["ok"].state == "completed"


def test_lost_job_summary_is_written_again_without_recomputing(data_dir: Path) -> None:
    make_job(data_dir, "j", {"a.mp4": 3, "b.mp4": 2})
    drain(data_dir)
    results = _results(data_dir, "j")
    (data_dir / "out" / "j" / "job.json").unlink()
    (data_dir / "out" / "status.json").unlink()

    report = drain(data_dir)

    assert report.videos_done == 0 and _results(data_dir, "j") == results
    summary = json.loads((data_dir / "out" / "j" / "job.json").read_text())
    assert {name: v["n_frames"] for name, v in summary["videos"].items()} == {
        "a.mp4": 3,
        "b.mp4": 2,
    }
