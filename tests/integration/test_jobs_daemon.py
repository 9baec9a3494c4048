"""The job daemon as users run it: a real ``w2t-bkin jobs watch`` process, real signals, kill -9.

Named after the NeuroPose daemon defects (reference/neuropose.md section 13.1 item 5) that must
not exist here: finished videos thrown away on shutdown, no resume, crash recovery that only
quarantines, reset that matches processes by name.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from w2t_bkin.testing.video import write_video

WATCH = [sys.executable, "-m", "w2t_bkin", "jobs", "watch", "--backend", "synthetic"]
WATCH += ["--poll", "0.05", "--settle", "0"]
# 10 ms a frame, so that signals land mid-video; pose.process reports progress every 100
# frames, so a video's first checkpoint is at frame 100.
SLOW = ["-o", "delay_s=0.01", "--checkpoint-every", "5"]


def _job(data_dir: Path, job: str, frames: dict[str, int]) -> Path:
    folder = data_dir / "in" / job
    folder.mkdir(parents=True, exist_ok=True)
    for name, n_frames in frames.items():
        write_video(folder / name, n_frames, 30.0, seed=len(name))
    (folder / ".ready").write_bytes(b"")
    return folder


def _status(data_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((data_dir / "out" / "status.json").read_text())  # type: ignore[no-any-return]
    except (FileNotFoundError, ValueError):
        return {}


def _video(data_dir: Path, job: str, video: str) -> dict[str, Any]:
    return _status(data_dir).get("jobs", {}).get(job, {}).get("videos", {}).get(video, {})


def _mid_video(data_dir: Path, job: str, video: str) -> bool:
    """The status shows ``video`` processing with some frames done (and not all)."""
    status = _video(data_dir, job, video)
    return status.get("state") == "processing" and status.get("frames_done", 0) > 0


def _wait(
    predicate: Callable[[], bool], proc: subprocess.Popen[bytes], timeout_s: float = 60
) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited early ({proc.returncode}): {proc.stderr.read()!r}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def _stamp(path: Path) -> tuple[int, int]:
    return path.stat().st_ino, path.stat().st_mtime_ns


@pytest.fixture
def daemons() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(data_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [*WATCH, "-d", str(data_dir), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:  # only the processes this test started, by their own handle
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _drain(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WATCH, "-d", str(data_dir), "--once"], capture_output=True, text=True, timeout=120
    )


def test_kill_9_mid_video_then_restart_resumes_and_keeps_finished_videos(
    tmp_path: Path, daemons: Callable[..., subprocess.Popen[bytes]]
) -> None:
    _job(tmp_path, "job", {"v1.mp4": 4, "v2.mp4": 250})
    proc = daemons(tmp_path, *SLOW)
    _wait(lambda: _mid_video(tmp_path, "job", "v2.mp4"), proc)
    v1 = _stamp(tmp_path / "out" / "job" / "v1.mp4.pose.npz")
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert _status(tmp_path)["jobs"]["job"]["state"] == "processing"  # as the crash left it

    done = _drain(tmp_path)

    assert done.returncode == 0, done.stderr
    entry = _status(tmp_path)["jobs"]["job"]
    assert entry["state"] == "completed" and entry["crash_requeues"] == 1
    assert any(
        e["event"] == "requeued" and "died while processing v2.mp4" in e["detail"]
        for e in entry["history"]
    )
    assert _stamp(tmp_path / "out" / "job" / "v1.mp4.pose.npz") == v1  # not recomputed
    assert entry["videos"]["v2.mp4"]["frames_done"] == 250


@pytest.mark.slow
def test_job_killed_twice_is_failed_with_the_reason_and_keeps_its_finished_videos(
    tmp_path: Path, daemons: Callable[..., subprocess.Popen[bytes]]
) -> None:
    _job(tmp_path, "poison", {"a.mp4": 4, "b.mp4": 300})
    for _ in range(2):
        proc = daemons(tmp_path, *SLOW)

        def on_b(proc: subprocess.Popen[bytes] = proc) -> bool:
            mine = _status(tmp_path).get("daemon", {}).get("pid") == proc.pid
            return mine and _mid_video(tmp_path, "poison", "b.mp4")

        _wait(on_b, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)

    done = _drain(tmp_path)

    assert done.returncode == 1 and "1 failed" in done.stdout
    entry = _status(tmp_path)["jobs"]["poison"]
    assert entry["state"] == "failed" and entry["inputs_dir"] == "failed/poison"
    assert "interrupted 2 times" in entry["error"] and "last on video b.mp4" in entry["error"]
    assert (tmp_path / "out" / "poison" / "a.mp4.pose.npz").is_file()
    assert (tmp_path / "failed" / "poison" / "b.mp4").is_file()


def test_sigterm_mid_video_finishes_that_video_keeps_it_and_the_rest_resume(
    tmp_path: Path, daemons: Callable[..., subprocess.Popen[bytes]]
) -> None:
    _job(tmp_path, "job", {"v1.mp4": 250, "v2.mp4": 3, "v3.mp4": 3})
    proc = daemons(tmp_path, *SLOW)
    _wait(lambda: _mid_video(tmp_path, "job", "v1.mp4"), proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    entry = _status(tmp_path)["jobs"]["job"]
    assert entry["state"] == "queued" and _status(tmp_path)["daemon"]["state"] == "stopped"
    assert entry["videos"]["v1.mp4"]["state"] == "done"
    assert entry["videos"]["v1.mp4"]["frames_done"] == 250  # finished, not cut short
    assert [entry["videos"][v]["state"] for v in ("v2.mp4", "v3.mp4")] == ["pending", "pending"]
    v1 = _stamp(tmp_path / "out" / "job" / "v1.mp4.pose.npz")

    done = _drain(tmp_path)

    assert done.returncode == 0 and "2 video(s) processed" in done.stdout
    assert _stamp(tmp_path / "out" / "job" / "v1.mp4.pose.npz") == v1


def test_stop_between_videos_does_not_fail_the_job_or_throw_away_finished_videos(
    tmp_path: Path, daemons: Callable[..., subprocess.Popen[bytes]]
) -> None:
    _job(tmp_path, "job", {"v1.mp4": 3, "v2.mp4": 150, "v3.mp4": 3})
    proc = daemons(tmp_path, *SLOW)
    _wait(lambda: (tmp_path / "out" / "job" / "v1.mp4.done.json").exists(), proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    entry = _status(tmp_path)["jobs"]["job"]
    assert entry["state"] == "queued" and entry["error"] is None
    assert not (tmp_path / "failed" / "job").exists()
    assert entry["videos"]["v1.mp4"]["state"] == "done"
    assert entry["videos"]["v3.mp4"]["state"] == "pending"
    v1 = _stamp(tmp_path / "out" / "job" / "v1.mp4.pose.npz")

    done = _drain(tmp_path)

    assert done.returncode == 0
    assert _status(tmp_path)["jobs"]["job"]["state"] == "completed"
    assert _stamp(tmp_path / "out" / "job" / "v1.mp4.pose.npz") == v1


def test_second_signal_abandons_the_video_in_progress_without_a_partial_result(
    tmp_path: Path, daemons: Callable[..., subprocess.Popen[bytes]]
) -> None:
    _job(tmp_path, "job", {"long.mp4": 400})
    proc = daemons(tmp_path, *SLOW)
    _wait(lambda: _mid_video(tmp_path, "job", "long.mp4"), proc)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 130
    assert not (tmp_path / "out" / "job" / "long.mp4.pose.npz").exists()
    entry = _status(tmp_path)["jobs"]["job"]
    assert entry["state"] == "queued" and entry["crash_requeues"] == 0


def test_second_daemon_and_reset_are_refused_while_one_runs_and_nothing_is_killed(
    tmp_path: Path, daemons: Callable[..., subprocess.Popen[bytes]]
) -> None:
    first = daemons(tmp_path)
    _wait(lambda: _status(tmp_path).get("daemon", {}).get("state") == "running", first)

    second = _drain(tmp_path)
    reset = subprocess.run(
        [sys.executable, "-m", "w2t_bkin", "jobs", "reset", "-d", str(tmp_path), "--yes"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert second.returncode == 9 and f"pid {first.pid}" in second.stderr
    assert reset.returncode == 9 and "nothing was removed" in reset.stderr
    assert "kill -TERM" in reset.stderr
    assert first.poll() is None and (tmp_path / "out" / "status.json").exists()
    first.send_signal(signal.SIGTERM)
    assert first.wait(60) == 0
    assert os.path.exists(tmp_path / ".w2t-jobs.lock")  # released by the kernel, kept on disk
    assert not list(tmp_path.glob(".stop-*"))  # its stop file is removed on the way out


# --------------------------------------------------------------------------------------------
# MediaPipe on a short real video

DANCE = Path("sleap/sleap/tests/data/videos/dance.mp4")
CLIP_PACKETS = 30


def _clip(source: Path, target: Path, n_packets: int) -> Path:
    """The first ``n_packets`` packets of ``source``, remuxed without re-encoding."""
    import av

    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream_in = src.streams.video[0]
        stream_out = dst.add_stream_from_template(stream_in)
        for index, packet in enumerate(src.demux(stream_in)):
            if index >= n_packets or packet.dts is None:
                break
            packet.stream = stream_out
            dst.mux(packet)
    return target


@pytest.mark.slow
@pytest.mark.real_data
def test_lifecycle_with_mediapipe_on_a_short_real_video(
    tmp_path: Path, real_data: Path, mediapipe_bundle: Path
) -> None:
    import numpy as np

    from w2t_bkin.jobs.daemon import DaemonConfig, JobDaemon
    from w2t_bkin.pose.estimators import make_estimator
    from w2t_bkin.pose.process import process_video
    from w2t_bkin.pose.results import read_predictions

    folder = tmp_path / "data" / "in" / "dance"
    folder.mkdir(parents=True)
    clip = _clip(real_data / DANCE, folder / "dance.mp4", CLIP_PACKETS)
    (folder / ".ready").write_bytes(b"")
    config = DaemonConfig(backend="mediapipe", model=str(mediapipe_bundle), poll_s=0.05)

    report = JobDaemon(tmp_path / "data", config).run(once=True)

    assert report.completed == ["dance"], report
    saved = read_predictions(tmp_path / "data" / "out" / "dance" / "dance.mp4.pose.npz")
    estimator = make_estimator("mediapipe", mediapipe_bundle)
    try:
        direct = process_video(clip, estimator)
    finally:
        estimator.close()
    assert saved.n_frames == direct.n_frames > 0 and saved.n_keypoints == 33
    assert saved.backend == "mediapipe" and bool(saved.detected.all())  # one dancer, every frame
    np.testing.assert_array_equal(saved.keypoints_px, direct.keypoints_px)
